package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and decodes ids to text as the Hugging Face
// tokenizer.json it was loaded from does. It is safe for concurrent use: after Load
// nothing changes but the BPE cache, which has its own lock.
type Tokenizer struct {
	added        addedVocab    // tokens cut out of the text before the model sees it
	normalizer   normalizer    // nil: none
	preTokenizer preTokenizer  // nil: none
	model        *bpe          // the BPE model
	post         postProcessor // nil: none
	decoder      decoder       // nil: tokens joined with " "

	tokens  []string // [V] token text by id: the model's vocabulary, then added tokens
	special []bool   // [V] whether the id is a special added token
}

// Load reads a tokenizer.json. It fails, naming the field and its value, on anything it
// does not implement (a WordPiece model, a BertNormalizer, …) rather than encode wrongly.
func Load(tokenizerJSON []byte) (*Tokenizer, error) {
	t, err := load(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	return t, nil
}

// sections are the raw top-level parts of a tokenizer.json.
type sections struct {
	model, addedTokens, normalizer, preTokenizer, postProcessor, decoder []byte
}

func load(data []byte) (*Tokenizer, error) {
	var s sections
	r := &jsonReader{b: data}
	err := r.object(func(key []byte) error {
		raw, err := r.value()
		switch string(key) {
		case "model":
			s.model = raw
		case "added_tokens":
			s.addedTokens = raw
		case "normalizer":
			s.normalizer = raw
		case "pre_tokenizer":
			s.preTokenizer = raw
		case "post_processor":
			s.postProcessor = raw
		case "decoder":
			s.decoder = raw
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if s.model == nil {
		return nil, fmt.Errorf("no model")
	}

	t := &Tokenizer{}
	if t.model, err = loadBPE(s.model); err != nil {
		return nil, err
	}
	if t.normalizer, err = loadNormalizer(s.normalizer); err != nil {
		return nil, err
	}
	if t.preTokenizer, err = loadPreTokenizer(s.preTokenizer); err != nil {
		return nil, err
	}
	if t.decoder, err = loadDecoder(s.decoder); err != nil {
		return nil, err
	}
	var added []addedToken
	if !isNull(s.addedTokens) {
		if err := json.Unmarshal(s.addedTokens, &added); err != nil {
			return nil, fmt.Errorf("added_tokens: %w", err)
		}
	}
	for i, a := range added {
		if a.ID < 0 || a.ID >= maxVocab {
			return nil, fmt.Errorf("added_tokens[%d]: id %d out of range [0, %d)", i, a.ID, maxVocab)
		}
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d]: empty content", i)
		}
	}
	t.added = newAddedVocab(added, t.normalizer)

	v := len(t.model.tokens)
	for _, a := range added {
		v = max(v, a.ID+1)
	}
	t.tokens = make([]string, v)
	copy(t.tokens, t.model.tokens)
	t.special = make([]bool, v)
	for _, a := range added {
		t.tokens[a.ID] = a.Content
		t.special[a.ID] = a.Special
	}
	if t.post, err = loadPostProcessor(s.postProcessor); err != nil {
		return nil, err
	}
	return t, nil
}

func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// Encode returns the token ids of text. Added tokens written in the text, special or
// not, are always matched and become their single id, as Hugging Face does. addSpecial
// applies the post-processor, which adds the template's special tokens (Llama 3 puts
// <|begin_of_text|> first; Qwen's adds nothing). Invalid UTF-8 in text is read as U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	ids := make([]int, 0, len(text)/4+4)
	for _, sec := range t.added.split(text, false) {
		if sec.id >= 0 {
			ids = append(ids, sec.id)
			continue
		}
		norm := sec.text
		if t.normalizer != nil {
			norm = t.normalizer.normalize(norm)
		}
		for _, sub := range t.added.split(norm, true) {
			if sub.id >= 0 {
				ids = append(ids, sub.id)
				continue
			}
			pieces := []piece{{text: sub.text, first: sec.start == 0 && sub.start == 0}}
			if t.preTokenizer != nil {
				pieces = t.preTokenizer.preTokenize(pieces)
			}
			for _, p := range pieces {
				ids = t.model.tokenize(ids, p.text)
			}
		}
	}
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids
}

// Decode returns the text of ids. skipSpecial leaves out special added tokens
// (<|begin_of_text|>, <|im_end|>, …); ids outside the vocabulary are left out.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(t.tokens) || t.tokens[id] == "" || skipSpecial && t.special[id] {
			continue
		}
		tokens = append(tokens, t.tokens[id])
	}
	if t.decoder == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(t.decoder.decode(tokens), "")
}

// VocabSize is V, the largest id of the vocabulary and the added tokens plus one.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a token as the vocabulary spells it: "<|eot_id|>", or
// "Ġworld" for " world" in a byte-level vocabulary.
func (t *Tokenizer) TokenID(token string) (int, bool) {
	if id, ok := t.added.ids[token]; ok {
		return id, true
	}
	id, ok := t.model.vocab[token]
	return int(id), ok
}

// Token returns the vocabulary's spelling of id ("Ġworld", "<|eot_id|>"), or "" for an
// id outside the vocabulary.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Special reports whether id is a special added token, one that Decode with skipSpecial
// leaves out.
func (t *Tokenizer) Special(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}
