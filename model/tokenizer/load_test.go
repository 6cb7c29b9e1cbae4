package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tinyJSON is a tokenizer.json with a four-token byte-level BPE model and the given
// sections (JSON, "null" for none).
func tinyJSON(model, normalizer, preTokenizer, postProcessor, decoder string) []byte {
	if model == "" {
		model = `{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b"]}`
	}
	return fmt.Appendf(nil, `{"version": "1.0", "added_tokens": [], "normalizer": %s,
		"pre_tokenizer": %s, "post_processor": %s, "decoder": %s, "model": %s}`,
		normalizer, preTokenizer, postProcessor, decoder, model)
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		json []byte
		want string // the error must contain this
	}{
		{"WordPiece model",
			tinyJSON(`{"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"}`, "null", "null", "null", "null"),
			`tokenizer.json: model.type "WordPiece" is not supported (want BPE)`},
		{"Unigram model",
			tinyJSON(`{"type": "Unigram", "vocab": [["a", -1.0]]}`, "null", "null", "null", "null"),
			`model.type "Unigram" is not supported (want BPE)`},
		{"BertNormalizer",
			tinyJSON("", `{"type": "BertNormalizer", "lowercase": true}`, "null", "null", "null"),
			`tokenizer.json: normalizer.type "BertNormalizer" is not supported`},
		{"normalizer in a Sequence",
			tinyJSON("", `{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Precompiled"}]}`, "null", "null", "null"),
			`normalizer.normalizers[1].type "Precompiled" is not supported`},
		{"BertPreTokenizer",
			tinyJSON("", "null", `{"type": "BertPreTokenizer"}`, "null", "null"),
			`pre_tokenizer.type "BertPreTokenizer" is not supported`},
		{"Split behavior",
			tinyJSON("", "null", `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}]}`, "null", "null"),
			`pre_tokenizer.pretokenizers[0].behavior "Sideways" is not supported`},
		{"bad regex",
			tinyJSON("", "null", `{"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}`, "null", "null"),
			`pre_tokenizer.pattern.Regex`},
		{"vocab id past any vocabulary",
			tinyJSON(`{"type": "BPE", "vocab": {"a": 234567890}, "merges": []}`, "null", "null", "null", "null"),
			`"a": id 234567890 out of range [0, 16777216)`},
		{"WordPiece decoder",
			tinyJSON("", "null", "null", "null", `{"type": "WordPiece", "prefix": "##"}`),
			`decoder.type "WordPiece" is not supported`},
		{"decoder in a Sequence",
			tinyJSON("", "null", "null", "null", `{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "CTC"}]}`),
			`decoder.decoders[1].type "CTC" is not supported`},
		{"post_processor",
			tinyJSON("", "null", "null", `{"type": "Mystery"}`, "null"),
			`post_processor.type "Mystery" is not supported`},
		{"template token missing",
			tinyJSON("", "null", "null", `{"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {}}`, "null"),
			`post_processor.single[0]: special token "<s>" is not in special_tokens`},
		{"dropout",
			tinyJSON(`{"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}`, "null", "null", "null", "null"),
			`model.dropout 0.1 is not supported`},
		{"merge out of vocabulary",
			tinyJSON(`{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}`, "null", "null", "null", "null"),
			`model.merges[0]: merged token "ab" is not in the vocabulary`},
		{"merge with three parts",
			tinyJSON(`{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b c"]}`, "null", "null", "null", "null"),
			`model.merges[0]: "a b c" is not two tokens`},
		{"vocab id not an integer",
			tinyJSON(`{"type": "BPE", "vocab": {"a": 1.5}, "merges": []}`, "null", "null", "null", "null"),
			`model.vocab: "a"`},
		{"no model", []byte(`{"version": "1.0"}`), `tokenizer.json: no model`},
		{"not JSON", []byte(`<html>`), `tokenizer.json: not a JSON object`},
		{"truncated", tinyJSON("", "null", "null", "null", "null")[:60], `tokenizer.json: not a JSON object`},
	} {
		tok, err := Load(c.json)
		if err == nil {
			t.Errorf("%s: Load succeeded (%d tokens), want an error with %q", c.name, tok.VocabSize(), c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to contain %q", c.name, err, c.want)
		}
	}
}

// TestMergesFormats loads the same merges written as "a b" strings (Llama 3) and as
// ["a", "b"] pairs (Qwen3), with JSON escapes, and checks they tokenize alike.
func TestMergesFormats(t *testing.T) {
	vocab := `{"a": 0, "b": 1, "ab": 2, "c": 3, "abc": 4, "\u0120": 5, "\"": 6, "\"\"": 7}`
	for _, merges := range []string{
		`["a b", "ab c", "\" \""]`,
		`[["a", "b"], ["ab", "c"], ["\"", "\u0022"]]`,
		`["#version: 0.2", "a b", "ab c", "\" \""]`,
	} {
		tok, err := Load(tinyJSON(`{"type": "BPE", "vocab": `+vocab+`, "merges": `+merges+`}`,
			"null", `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`, "null", `{"type": "ByteLevel"}`))
		if err != nil {
			t.Fatalf("merges %s: %v", merges, err)
		}
		if got, want := tok.Encode(`abc ""`, false), []int{4, 5, 7}; !slices.Equal(got, want) {
			t.Errorf("merges %s: Encode = %v, want %v", merges, got, want)
		}
		if id, ok := tok.TokenID("Ġ"); !ok || id != 5 {
			t.Errorf(`merges %s: TokenID("Ġ") = %d, %v (the vocab's "\u0120" escape)`, merges, id, ok)
		}
	}
}

// TestBPEOptions covers the model options the fixtures do not use.
func TestBPEOptions(t *testing.T) {
	// continuing_subword_prefix "##": symbols after the first are spelled "##x", and a
	// merge of a and ##b makes "a" + "b" (the prefix of the right side dropped).
	// end_of_word_suffix "</w>": the last symbol is spelled "x</w>".
	model := `{"type": "BPE", "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>",
		"vocab": {"a": 0, "##b": 1, "##c</w>": 2, "ab": 3, "abc</w>": 4, "##b</w>": 5},
		"merges": [["a", "##b"], ["ab", "##c</w>"]]}`
	tok, err := Load(tinyJSON(model, "null", `{"type": "WhitespaceSplit"}`, "null", "null"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		ids  []int
	}{
		{"abc", []int{4}},
		{"ab", []int{0, 5}}, // "a" "##b</w>": no merge (a, ##b</w>)
		{"abc  abc", []int{4, 4}},
	} {
		if got := tok.Encode(c.text, false); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
	}

	// ignore_merges: a pre-token in the vocabulary is one token, even when the merges
	// would not build it.
	model = `{"type": "BPE", "ignore_merges": %v, "vocab": {"a": 0, "b": 1, "c": 2, "bc": 3, "abc": 4},
		"merges": ["b c"]}`
	for _, c := range []struct {
		ignore bool
		ids    []int
	}{{true, []int{4}}, {false, []int{0, 3}}} {
		tok, err := Load(tinyJSON(fmt.Sprintf(model, c.ignore), "null", "null", "null", "null"))
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode("abc", false); !slices.Equal(got, c.ids) {
			t.Errorf("ignore_merges %v: Encode = %v, want %v", c.ignore, got, c.ids)
		}
	}
}

// TestMergeOrder checks that the lowest rank merges first and that ties go leftmost.
func TestMergeOrder(t *testing.T) {
	model := `{"type": "BPE", "vocab": {"a": 0, "b": 1, "aa": 2, "ab": 3, "ba": 4, "aab": 5},
		"merges": ["b a", "a a", "a b", "aa b"]}`
	tok, err := Load(tinyJSON(model, "null", "null", "null", "null"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		ids  []int
	}{
		{"aab", []int{5}},        // a a b: a+a (rank 1) before a+b (rank 2), then aa+b
		{"aba", []int{0, 4}},     // a b a: b+a (rank 0) first, leaving a
		{"aaaa", []int{2, 2}},    // three a+a pairs tie: leftmost first, then the third
		{"aaa", []int{2, 0}},     // leftmost tie wins
		{"abab", []int{0, 4, 1}}, // b+a in the middle
	} {
		if got := tok.Encode(c.text, false); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
	}
}
