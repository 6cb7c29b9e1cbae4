package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// piece is a pre-token: a part of a section that the model tokenizes on its own.
type piece struct {
	text  string
	first bool // starts the whole text (Metaspace's prepend_scheme "first" uses it)
}

// preTokenizer cuts pieces into smaller pieces and may rewrite them.
type preTokenizer interface {
	preTokenize(pieces []piece) []piece
}

// preTokenizerJSON is a pre_tokenizer object of tokenizer.json; which fields are used
// depends on Type.
type preTokenizerJSON struct {
	Type             string            `json:"type"`
	Pretokenizers    []json.RawMessage `json:"pretokenizers"`     // Sequence
	Pattern          *patternJSON      `json:"pattern"`           // Split
	Behavior         string            `json:"behavior"`          // Split
	Invert           bool              `json:"invert"`            // Split
	AddPrefixSpace   *bool             `json:"add_prefix_space"`  // ByteLevel; Metaspace before prepend_scheme
	UseRegex         *bool             `json:"use_regex"`         // ByteLevel
	Replacement      string            `json:"replacement"`       // Metaspace
	PrependScheme    string            `json:"prepend_scheme"`    // Metaspace
	Split            *bool             `json:"split"`             // Metaspace
	IndividualDigits bool              `json:"individual_digits"` // Digits
}

const preTokenizerTypes = "Split, ByteLevel, Metaspace, Digits, WhitespaceSplit, Sequence"

func loadPreTokenizer(raw []byte) (preTokenizer, error) {
	return parsePreTokenizer(raw, "pre_tokenizer")
}

func parsePreTokenizer(raw []byte, path string) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var j preTokenizerJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch j.Type {
	case "Split":
		sp := &splitPre{invert: j.Invert}
		var err error
		if sp.behavior, err = parseBehavior(j.Behavior, path); err != nil {
			return nil, err
		}
		if sp.pat, err = parsePattern(j.Pattern, path); err != nil {
			return nil, err
		}
		return sp, nil
	case "ByteLevel":
		bl := &byteLevelPre{addPrefixSpace: j.AddPrefixSpace == nil || *j.AddPrefixSpace}
		if j.UseRegex == nil || *j.UseRegex {
			bl.words = gpt2Words{}
		}
		return bl, nil
	case "Metaspace":
		ms, err := parseMetaspace(j, path)
		if err != nil {
			return nil, err
		}
		return ms, nil
	case "Digits":
		return digitsPre{individual: j.IndividualDigits}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPre{}, nil
	case "Sequence":
		var seq sequencePre
		for i, sub := range j.Pretokenizers {
			p, err := parsePreTokenizer(sub, fmt.Sprintf("%s.pretokenizers[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	}
	return nil, fmt.Errorf("%s.type %q is not supported (want one of %s)", path, j.Type, preTokenizerTypes)
}

// sequencePre applies pre-tokenizers in order, each to all the pieces of the one before.
type sequencePre []preTokenizer

func (seq sequencePre) preTokenize(pieces []piece) []piece {
	for _, p := range seq {
		pieces = p.preTokenize(pieces)
	}
	return pieces
}

// splitBehavior says what becomes of the matches when a piece is split.
type splitBehavior int

const (
	removed            splitBehavior = iota // dropped
	isolated                                // pieces of their own
	mergedWithPrevious                      // joined to the piece before
	mergedWithNext                          // joined to the piece after
	contiguous                              // runs of matches joined into one piece
)

func parseBehavior(s, path string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return removed, nil
	case "Isolated":
		return isolated, nil
	case "MergedWithPrevious":
		return mergedWithPrevious, nil
	case "MergedWithNext":
		return mergedWithNext, nil
	case "Contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("%s.behavior %q is not supported (want Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)", path, s)
}

// splitPre is the Split pre-tokenizer: it cuts pieces at the matches of a literal or a
// regex (invert: at what lies between them).
type splitPre struct {
	pat      pattern
	behavior splitBehavior
	invert   bool
}

func (sp *splitPre) preTokenize(pieces []piece) []piece {
	var out []piece
	for _, p := range pieces {
		out = appendSplit(out, p, sp.pat.findAll(p.text), sp.behavior, sp.invert)
	}
	return out
}

// findRunes returns each character of s for which match holds as a match of its own.
func findRunes(s string, match func(rune) bool) [][2]int {
	var out [][2]int
	for i, r := range s {
		if match(r) {
			out = append(out, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return out
}

// appendSplit appends the parts of p cut at matches to out, as the tokenizers library's
// NormalizedString::split does with behavior; empty parts are left out.
func appendSplit(out []piece, p piece, matches [][2]int, behavior splitBehavior, invert bool) []piece {
	type span struct {
		start, end int
		match      bool
	}
	s := p.text
	if behavior == isolated && !invert { // the common case, without the bookkeeping
		prev := 0
		for _, m := range append(matches, [2]int{len(s), len(s)}) {
			if prev < m[0] {
				out = append(out, piece{text: s[prev:m[0]], first: p.first && prev == 0})
			}
			if m[0] < m[1] {
				out = append(out, piece{text: s[m[0]:m[1]], first: p.first && m[0] == 0})
			}
			prev = m[1]
		}
		return out
	}
	var spans []span // covers s: the matches and what lies between them
	prev := 0
	for _, m := range matches {
		if prev < m[0] {
			spans = append(spans, span{prev, m[0], false})
		}
		spans = append(spans, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev < len(s) {
		spans = append(spans, span{prev, len(s), false})
	}
	if invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}

	var parts []span // match now means: drop
	prevMatch := false
	switch behavior {
	case removed:
		parts = spans
	case isolated:
		for _, sp := range spans {
			parts = append(parts, span{sp.start, sp.end, false})
		}
	case mergedWithPrevious:
		for _, sp := range spans {
			if sp.match && !prevMatch && len(parts) > 0 {
				parts[len(parts)-1].end = sp.end
			} else {
				parts = append(parts, span{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
	case mergedWithNext:
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(parts) > 0 {
				parts[len(parts)-1].start = sp.start
			} else {
				parts = append(parts, span{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	case contiguous:
		for _, sp := range spans {
			if sp.match == prevMatch && len(parts) > 0 {
				parts[len(parts)-1].end = sp.end
			} else {
				parts = append(parts, span{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
	}
	for _, part := range parts {
		if !part.match && part.start < part.end {
			out = append(out, piece{text: s[part.start:part.end], first: p.first && part.start == 0})
		}
	}
	return out
}

// byteLevelPre is the ByteLevel pre-tokenizer: it optionally puts a space before each
// piece, splits with the GPT-2 regex (use_regex), then writes every byte of each piece
// as its byte-level character.
type byteLevelPre struct {
	addPrefixSpace bool
	words          pattern // GPT-2's regex; nil when use_regex is false
}

func (bl *byteLevelPre) preTokenize(pieces []piece) []piece {
	var out []piece
	for _, p := range pieces {
		if bl.addPrefixSpace && !strings.HasPrefix(p.text, " ") {
			p.text = " " + p.text
		}
		n := len(out)
		if bl.words != nil {
			out = appendSplit(out, p, bl.words.findAll(p.text), isolated, false)
		} else if p.text != "" {
			out = append(out, p)
		}
		// One string for the encoded pieces of p, sliced.
		var sb strings.Builder
		sb.Grow(2 * len(p.text))
		ends := make([]int, 0, len(out)-n)
		for _, q := range out[n:] {
			writeByteLevel(&sb, q.text)
			ends = append(ends, sb.Len())
		}
		all, start := sb.String(), 0
		for i, end := range ends {
			out[n+i].text, start = all[start:end], end
		}
	}
	return out
}

// prependScheme says when Metaspace puts the replacement before a piece.
type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst                // only before the piece that starts the text
	prependNever
)

// metaspacePre is the Metaspace pre-tokenizer of SentencePiece-style tokenizers: spaces
// become "▁", a "▁" is put first (by the prepend scheme), and pieces are split before
// each "▁".
type metaspacePre struct {
	replacement string
	prepend     prependScheme
	split       bool
}

func parseMetaspace(j preTokenizerJSON, path string) (*metaspacePre, error) {
	ms := &metaspacePre{replacement: j.Replacement, split: j.Split == nil || *j.Split}
	if utf8.RuneCountInString(ms.replacement) != 1 {
		return nil, fmt.Errorf("%s.replacement %q is not one character", path, j.Replacement)
	}
	switch j.PrependScheme {
	case "always":
		ms.prepend = prependAlways
	case "first":
		ms.prepend = prependFirst
	case "never":
		ms.prepend = prependNever
	case "": // files from before prepend_scheme
		if j.AddPrefixSpace != nil && !*j.AddPrefixSpace {
			ms.prepend = prependNever
		}
	default:
		return nil, fmt.Errorf("%s.prepend_scheme %q is not supported (want always, first or never)", path, j.PrependScheme)
	}
	return ms, nil
}

func (ms *metaspacePre) preTokenize(pieces []piece) []piece {
	var out []piece
	for _, p := range pieces {
		p.text = strings.ReplaceAll(p.text, " ", ms.replacement)
		if !strings.HasPrefix(p.text, ms.replacement) &&
			(ms.prepend == prependAlways || ms.prepend == prependFirst && p.first) {
			p.text = ms.replacement + p.text
		}
		if ms.split {
			out = appendSplit(out, p, literal(ms.replacement).findAll(p.text), mergedWithNext, false)
		} else if p.text != "" {
			out = append(out, p)
		}
	}
	return out
}

// metaspaceDecode is the Metaspace decoder: "▁" becomes a space, except in the first
// token, where it is dropped unless the scheme never prepends.
func (ms *metaspacePre) decode(tokens []string) []string {
	for i, t := range tokens {
		if i == 0 && ms.prepend != prependNever {
			tokens[i] = strings.ReplaceAll(t, ms.replacement, "")
		} else {
			tokens[i] = strings.ReplaceAll(t, ms.replacement, " ")
		}
	}
	return tokens
}

// digitsPre splits digits from the rest: each digit alone (individual_digits) or runs
// of digits together.
type digitsPre struct{ individual bool }

func (d digitsPre) preTokenize(pieces []piece) []piece {
	behavior := contiguous
	if d.individual {
		behavior = isolated
	}
	var out []piece
	for _, p := range pieces {
		out = appendSplit(out, p, findRunes(p.text, unicode.IsNumber), behavior, false)
	}
	return out
}

// whitespaceSplitPre splits at whitespace, dropping it.
type whitespaceSplitPre struct{}

func (whitespaceSplitPre) preTokenize(pieces []piece) []piece {
	var out []piece
	for _, p := range pieces {
		out = appendSplit(out, p, findRunes(p.text, unicode.IsSpace), removed, false)
	}
	return out
}
