package tokenizer

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// There is no SentencePiece-style fixture (Llama 2, Mistral), so these tests build a
// small tokenizer.json of that shape and check ids worked out by hand from the
// tokenizers library's algorithm (BPE::merge_word, then merges lowest rank first).
//
// The vocabulary: <unk> <s> </s> (0–2), the 256 byte tokens <0x00>…<0xFF> (3–258,
// so byte b is id 3+b), then these pieces.
var spPieces = []string{
	"▁",      // 259
	"h",      // 260
	"e",      // 261
	"l",      // 262
	"o",      // 263
	"w",      // 264
	"r",      // 265
	"d",      // 266
	"▁h",     // 267
	"ll",     // 268
	"▁he",    // 269
	"llo",    // 270
	"▁hello", // 271
	"▁w",     // 272
	"or",     // 273
	"▁wor",   // 274
	"ld",     // 275
	"▁world", // 276
	"é",      // 277
	"▁▁",     // 278
}

// spMerges in rank order.
var spMerges = [][2]string{
	{"▁", "h"}, {"l", "l"}, {"▁h", "e"}, {"ll", "o"}, {"▁he", "llo"},
	{"▁", "w"}, {"o", "r"}, {"▁w", "or"}, {"l", "d"}, {"▁wor", "ld"},
	{"▁", "▁"},
}

// spOptions are the parts that differ between the SentencePiece-style layouts.
type spOptions struct {
	normalizer, preTokenizer, decoder string // JSON
	byteFallback, fuseUnk             bool
}

// Llama 2's layout: normalizer Prepend("▁") + Replace(" " → "▁"), no pre-tokenizer,
// decoder Replace + ByteFallback + Fuse + Strip.
var llama2Layout = spOptions{
	normalizer: `{"type": "Sequence", "normalizers": [
		{"type": "Prepend", "prepend": "▁"},
		{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`,
	preTokenizer: `null`,
	decoder: `{"type": "Sequence", "decoders": [
		{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
		{"type": "ByteFallback"},
		{"type": "Fuse"},
		{"type": "Strip", "content": " ", "start": 1, "stop": 0}]}`,
	byteFallback: true,
	fuseUnk:      true,
}

// Mistral's and Llama 2 legacy=false's layout: no normalizer, a Metaspace
// pre-tokenizer that puts "▁" only before the start of the text, Metaspace decoder.
var metaspaceLayout = spOptions{
	normalizer:   `null`,
	preTokenizer: `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`,
	decoder:      `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`,
	byteFallback: true,
	fuseUnk:      true,
}

// spJSON writes the tokenizer.json of a layout.
func spJSON(o spOptions) []byte {
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := 0; b < 256; b++ {
		vocab[fmt.Sprintf("<0x%02X>", b)] = 3 + b
	}
	for i, p := range spPieces {
		vocab[p] = 259 + i
	}
	merges := make([]string, len(spMerges))
	for i, m := range spMerges {
		merges[i] = m[0] + " " + m[1]
	}
	vocabJSON, _ := json.Marshal(vocab)
	mergesJSON, _ := json.Marshal(merges)
	added := `[
		{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
		{"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
		{"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}]`
	post := `{"type": "TemplateProcessing",
		"single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
		"pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
			{"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
		"special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}`
	return fmt.Appendf(nil, `{
	"version": "1.0", "truncation": null, "padding": null,
	"added_tokens": %s,
	"normalizer": %s,
	"pre_tokenizer": %s,
	"post_processor": %s,
	"decoder": %s,
	"model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
		"continuing_subword_prefix": null, "end_of_word_suffix": null,
		"fuse_unk": %v, "byte_fallback": %v, "ignore_merges": false,
		"vocab": %s, "merges": %s}
}`, added, o.normalizer, o.preTokenizer, post, o.decoder, o.fuseUnk, o.byteFallback, vocabJSON, mergesJSON)
}

func loadSP(t testing.TB, o spOptions) *Tokenizer {
	t.Helper()
	tok, err := Load(spJSON(o))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// spCase is text, its ids without special tokens, and how they were worked out.
type spCase struct {
	text    string
	ids     []int
	why     string
	decoded string // what Decode(ids) gives when it is not text
}

func TestSentencePieceLlama2(t *testing.T) {
	tok := loadSP(t, llama2Layout)
	for _, c := range []spCase{
		{"hello world", []int{271, 276},
			`"▁hello▁world" is one word (no pre-tokenizer); merges ▁h, ll, ▁he, llo, ▁hello, ▁w, or, ▁wor, ld, ▁world`, ""},
		{" hello", []int{259, 271},
			`"▁▁hello": ▁+h (rank 0) beats ▁+▁ (rank 10), which is stale by the time it pops`, ""},
		{"hi 🙂", []int{267, 3 + 0x69, 259, 3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82},
			`"i" and 🙂 (F0 9F 99 82) are not in the vocabulary: byte fallback`, ""},
		{"é ü", []int{259, 277, 259, 3 + 0xC3, 3 + 0xBC},
			`é is a piece; ü falls back to its bytes C3 BC`, ""},
		{"<s>hello</s>", []int{1, 271, 2},
			`added tokens are cut out first; Prepend puts ▁ before each remaining section`,
			"<s> hello</s>"}, // Strip drops only the first space of the whole text
		{"", nil, `nothing to prepend to`, ""},
	} {
		if got := tok.Encode(c.text, false); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v (%s)", c.text, got, c.ids, c.why)
		}
		if got, want := tok.Encode(c.text, true), append([]int{1}, c.ids...); !slices.Equal(got, want) {
			t.Errorf("Encode(%q, addSpecial) = %v, want %v", c.text, got, want)
		}
		want := c.text
		if c.decoded != "" {
			want = c.decoded
		}
		if got := tok.Decode(c.ids, false); got != want {
			t.Errorf("Decode(%v) = %q, want %q", c.ids, got, want)
		}
	}
	if got, want := tok.Decode([]int{1, 271, 2}, true), "hello"; got != want {
		t.Errorf("Decode(<s> ▁hello </s>, skipSpecial) = %q, want %q", got, want)
	}
	// A run of byte tokens that is not valid UTF-8 is one U+FFFD per token.
	if got, want := tok.Decode([]int{271, 3 + 0xF0, 3 + 0x9F, 276}, false), "hello\uFFFD\uFFFD world"; got != want {
		t.Errorf("Decode(broken bytes) = %q, want %q", got, want)
	}
}

func TestSentencePieceUnk(t *testing.T) {
	for _, c := range []struct {
		fuseUnk bool
		ids     []int
	}{
		// ▁ h i ▁ 🙂 🙂 with no byte fallback: "i" and each 🙂 are <unk> (0); fuse_unk
		// joins the two 🙂 into one; then ▁+h merges.
		{true, []int{267, 0, 259, 0}},
		{false, []int{267, 0, 259, 0, 0}},
	} {
		o := llama2Layout
		o.byteFallback, o.fuseUnk = false, c.fuseUnk
		tok := loadSP(t, o)
		if got := tok.Encode("hi 🙂🙂", false); !slices.Equal(got, c.ids) {
			t.Errorf("fuse_unk %v: Encode = %v, want %v", c.fuseUnk, got, c.ids)
		}
	}
}

func TestSentencePieceMetaspace(t *testing.T) {
	tok := loadSP(t, metaspaceLayout)
	for _, c := range []spCase{
		{"hello world", []int{271, 276}, `Metaspace writes "▁hello▁world", one piece (split false)`, ""},
		{"hello  world", []int{271, 259, 276}, `the second space stays a lone ▁`, ""},
		{"<s>hello", []int{1, 260, 261, 270},
			`prepend_scheme "first": no ▁ before a section that does not start the text`, ""},
		{"hi 🙂", []int{267, 3 + 0x69, 259, 3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82}, `byte fallback`, ""},
	} {
		if got := tok.Encode(c.text, false); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v (%s)", c.text, got, c.ids, c.why)
		}
	}
	// The Metaspace decoder drops the ▁ of the first token and turns the others into
	// spaces; it has no byte fallback.
	for _, c := range []struct {
		ids         []int
		skipSpecial bool
		want        string
	}{
		{[]int{271, 259, 276}, false, "hello  world"},
		{[]int{1, 260, 261, 270}, false, "<s>hello"},
		{[]int{1, 271}, true, "hello"},
		{[]int{1, 271}, false, "<s> hello"},
	} {
		if got := tok.Decode(c.ids, c.skipSpecial); got != c.want {
			t.Errorf("Decode(%v, %v) = %q, want %q", c.ids, c.skipSpecial, got, c.want)
		}
	}

	// With split true, Metaspace cuts before each ▁ (MergedWithNext), and "always"
	// puts a ▁ before every section.
	o := metaspaceLayout
	o.preTokenizer = `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}`
	tok = loadSP(t, o)
	if got, want := tok.Encode("<s>hello  world", false), []int{1, 271, 259, 276}; !slices.Equal(got, want) {
		t.Errorf("split, always: Encode = %v, want %v", got, want)
	}
}
