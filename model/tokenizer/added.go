package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"` // match only as a whole word
	LStrip     bool   `json:"lstrip"`      // the match takes the whitespace before it
	RStrip     bool   `json:"rstrip"`      // the match takes the whitespace after it
	Normalized bool   `json:"normalized"`  // matched in the normalized text, not the raw text
	Special    bool   `json:"special"`     // left out by Decode with skipSpecial
}

// addedVocab finds added tokens in text, as the tokenizers library's AddedVocabulary
// does: leftmost-longest matches, tokens with normalized=false in the raw text first,
// then tokens with normalized=true in each normalized section.
type addedVocab struct {
	tokens []addedToken   // every added token; the tries index into it
	ids    map[string]int // content → id
	raw    trie           // contents of tokens with normalized=false
	norm   trie           // normalized contents of tokens with normalized=true
}

// section is a part of the text: an added token (id ≥ 0) or plain text (id -1).
type section struct {
	text  string
	start int // byte offset in the text that was split
	id    int
}

func newAddedVocab(tokens []addedToken, n normalizer) addedVocab {
	a := addedVocab{tokens: tokens, ids: make(map[string]int, len(tokens))}
	for i, tok := range tokens {
		a.ids[tok.Content] = tok.ID
		if !tok.Normalized {
			a.raw.add(tok.Content, i)
			continue
		}
		content := tok.Content
		if n != nil {
			content = n.normalize(content)
		}
		a.norm.add(content, i)
	}
	return a
}

// split cuts text into added tokens and the plain text between them; empty parts are
// left out. normalized picks the tokens matched in normalized text.
func (a *addedVocab) split(text string, normalized bool) []section {
	tr := &a.raw
	if normalized {
		tr = &a.norm
	}
	if text == "" {
		return nil
	}
	if tr.empty() {
		return []section{{text: text, id: -1}}
	}
	var out []section
	done := 0 // text before done is in out
	for i := 0; i < len(text); {
		k, end := tr.longest(text, i)
		if k < 0 {
			i++
			continue
		}
		tok := &a.tokens[k]
		start, stop := i, end
		i = end
		if tok.SingleWord {
			spaceBefore := start == 0 || !endsWithWord(text[:start])
			spaceAfter := stop == len(text) || !startsWithWord(text[stop:])
			if !spaceBefore || !spaceAfter {
				continue
			}
		}
		if tok.LStrip {
			start = max(trimRightSpaceLen(text[:start]), done)
		}
		if tok.RStrip {
			stop += len(text[stop:]) - len(trimLeftSpace(text[stop:]))
			i = stop
		}
		if start > done {
			out = append(out, section{text: text[done:start], start: done, id: -1})
		}
		out = append(out, section{text: text[start:stop], start: start, id: tok.ID})
		done = stop
	}
	if done < len(text) {
		out = append(out, section{text: text[done:], start: done, id: -1})
	}
	return out
}

// trimRightSpaceLen is the length of s without its trailing whitespace.
func trimRightSpaceLen(s string) int {
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[:len(s)-size]
	}
	return len(s)
}

func trimLeftSpace(s string) string {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[size:]
	}
	return s
}

// isWordRune is the regex class \w of the tokenizers library (Unicode word characters).
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' ||
		unicode.In(r, unicode.M, unicode.Nl, unicode.Pc, unicode.Other_Alphabetic) ||
		r == 0x200C || r == 0x200D
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordRune(r)
}

// trie is a byte trie of token contents for leftmost-longest matching.
type trie struct {
	next  map[uint64]int32 // node<<8 | byte → child node; node 0 is the root
	token []int32          // node → index of the token ending there, or -1
	first [256]bool        // bytes that start some token
}

func (t *trie) empty() bool { return len(t.token) == 0 }

func (t *trie) add(s string, token int) {
	if s == "" {
		return
	}
	if t.next == nil {
		t.next = make(map[uint64]int32)
		t.token = []int32{-1}
	}
	t.first[s[0]] = true
	node := int32(0)
	for i := 0; i < len(s); i++ {
		key := uint64(node)<<8 | uint64(s[i])
		child, ok := t.next[key]
		if !ok {
			child = int32(len(t.token))
			t.token = append(t.token, -1)
			t.next[key] = child
		}
		node = child
	}
	if t.token[node] < 0 { // the first token with this content wins
		t.token[node] = int32(token)
	}
}

// longest returns the token of the longest content starting at s[i:] and where it
// ends, or -1.
func (t *trie) longest(s string, i int) (token, end int) {
	token = -1
	if !t.first[s[i]] {
		return -1, 0
	}
	node := int32(0)
	for j := i; j < len(s); j++ {
		child, ok := t.next[uint64(node)<<8|uint64(s[j])]
		if !ok {
			break
		}
		node = child
		if k := t.token[node]; k >= 0 {
			token, end = int(k), j+1
		}
	}
	return token, end
}
