package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// TrainBPE learns a byte-level BPE vocabulary of vocabSize tokens from texts and returns
// it as a Hugging Face tokenizer.json: ids 0–255 are the bytes (as ByteLevelJSON's), then
// the special tokens in order, then one token per merge in the order learnt. Digits are
// split one by one before the byte-level pre-tokenizer (Llama 2's and DeepSeek's choice),
// so numbers are spelt digit by digit and no merge joins a digit to anything: a small
// model doing arithmetic sees every digit as a token. Special tokens written in texts
// are cut out and never merged.
//
// The trainer is the tokenizers library's BPE trainer in its plain form: count the
// pre-tokenized words, then repeatedly merge the most frequent adjacent pair, ties going
// to the pair whose merged token sorts first, until the vocabulary is full or no pair is
// left. It is written here, not taken from a library, because it must emit exactly the
// tokenizer.json that this package and the page read (Digits then ByteLevel, ChatML
// specials), be deterministic, and its corpora are small (the demo's task suite: a few
// hundred distinct words), where recounting pairs after each merge is fast enough.
func TrainBPE(texts []string, vocabSize int, special []string) ([]byte, error) {
	base := 256 + len(special)
	if vocabSize < base {
		return nil, fmt.Errorf("tokenizer: train: vocabulary size %d is below the %d bytes and special tokens", vocabSize, base)
	}
	t, err := Load(bpeJSON(special, nil))
	if err != nil {
		return nil, err
	}

	// Distinct pre-tokenized words, as byte-level symbols, with their counts.
	counts := map[string]int{}
	for _, text := range texts {
		for _, w := range t.words(text) {
			counts[w]++
		}
	}
	keys := make([]string, 0, len(counts))
	for w := range counts {
		keys = append(keys, w)
	}
	slices.Sort(keys) // a fixed order: the result must not depend on map iteration
	type word struct {
		syms  []string
		count int
	}
	words := make([]word, len(keys))
	for i, w := range keys {
		var syms []string
		for _, c := range w {
			syms = append(syms, string(c))
		}
		words[i] = word{syms, counts[w]}
	}

	var merges [][2]string
	for len(merges) < vocabSize-base {
		pairs := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.count
			}
		}
		var best [2]string
		bestN := 0
		for p, n := range pairs {
			if n > bestN || n == bestN && p[0]+p[1] < best[0]+best[1] ||
				n == bestN && p[0]+p[1] == best[0]+best[1] && p[0] < best[0] {
				best, bestN = p, n
			}
		}
		if bestN == 0 {
			break // every word is one token
		}
		merges = append(merges, best)
		joined := best[0] + best[1]
		for wi := range words {
			s := words[wi].syms
			out := s[:0]
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == best[0] && s[i+1] == best[1] {
					out = append(out, joined)
					i++
					continue
				}
				out = append(out, s[i])
			}
			words[wi].syms = out
		}
	}
	return bpeJSON(special, merges), nil
}

// words returns the pre-tokenized words of text in byte-level characters, special tokens
// cut out: what the BPE model sees.
func (t *Tokenizer) words(text string) []string {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	var out []string
	for _, sec := range t.added.split(text, false) {
		if sec.id >= 0 {
			continue
		}
		pieces := []piece{{text: sec.text, first: sec.start == 0}}
		if t.preTokenizer != nil {
			pieces = t.preTokenizer.preTokenize(pieces)
		}
		for _, p := range pieces {
			out = append(out, p.text)
		}
	}
	return out
}

// bpeJSON is the tokenizer.json of a byte-level BPE with digits split one by one: the
// bytes, the special tokens, then merges.
func bpeJSON(special []string, merges [][2]string) []byte {
	vocab := map[string]int{}
	for b, s := range byteChar {
		vocab[s] = b
	}
	added := []map[string]any{}
	for i, content := range special {
		vocab[content] = 256 + i
		added = append(added, map[string]any{"id": 256 + i, "content": content, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false, "special": true})
	}
	rules := make([][]string, len(merges))
	for i, m := range merges {
		vocab[m[0]+m[1]] = 256 + len(special) + i
		rules[i] = []string{m[0], m[1]}
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	tok := map[string]any{
		"version":      "1.0",
		"truncation":   nil,
		"padding":      nil,
		"added_tokens": added,
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Digits", "individual_digits": true},
			byteLevel,
		}},
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil,
			"continuing_subword_prefix": nil, "end_of_word_suffix": nil, "fuse_unk": false,
			"byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": rules},
	}
	data, err := json.MarshalIndent(tok, "", "  ")
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return data
}
