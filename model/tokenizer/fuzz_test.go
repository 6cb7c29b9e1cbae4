package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/t2web/t2web/model/fixtures"
)

// FuzzEncode checks that Encode and the streaming decoder never panic, and that on the
// Llama 3 tokenizer (no normalizer, every byte in the vocabulary) Decode(Encode(s))
// gives s back for valid UTF-8. Without T2_FIXTURES it fuzzes the SentencePiece-style
// tokenizer of sentencepiece_test.go only.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", "Hello world", " leading", "trailing   ", "a\n\n\tb", "don't I'LL",
		"naïve café — 日本語 🙂", "👨\u200d👩\u200d👧", "<|begin_of_text|>hi<|eot_id|>",
		"<s>x</s>", "12345678", "\xff\xfe", "\u00a0\u3000\u2028", "e\u0301", "<|im_start|>",
	} {
		f.Add(s)
	}
	sp := loadSP(f, llama2Layout)
	var llama *Tokenizer
	if fixtures.Present(f) {
		llama = loadFixture(f, "llama-tiny")
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range []*Tokenizer{sp, llama} {
			if tok == nil {
				continue
			}
			ids := tok.Encode(s, true)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q): id %d outside the vocabulary", s, id)
				}
			}
			text := tok.Decode(ids, false)
			adds, flush := streamDecode(tok, ids, false)
			if got := strings.Join(adds, "") + flush; got != text {
				t.Errorf("Encode(%q): streamed %q, Decode %q", s, got, text)
			}
		}
		if llama != nil && utf8.ValidString(s) {
			if got := llama.Decode(llama.Encode(s, false), false); got != s {
				t.Errorf("Llama 3: Decode(Encode(%q)) = %q", s, got)
			}
		}
	})
}

// FuzzLoad checks that Load refuses a bad tokenizer.json with an error, never a panic,
// and that a tokenizer it accepts encodes and decodes text without panicking. Seeds:
// the SentencePiece-style tokenizer of sentencepiece_test.go and, with T2_FIXTURES, the
// fixtures' byte-level BPE ones.
func FuzzLoad(f *testing.F) {
	f.Add(spJSON(llama2Layout))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`))
	f.Add([]byte(`{"model": {"type": "WordPiece"}}`))
	if fixtures.Present(f) {
		for _, name := range fixtureModels {
			data, err := os.ReadFile(filepath.Join(fixtures.Root(f), name, "tokenizer.json"))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Load(data)
		if (tok == nil) == (err == nil) {
			t.Fatalf("Load = %v, %v: want exactly one of a tokenizer and an error", tok, err)
		}
		if tok == nil {
			return
		}
		ids := tok.Encode("Hello, world 123 — naïve\n", true)
		tok.Decode(ids, false)
	})
}
