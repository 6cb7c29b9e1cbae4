package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/t2web/t2web/model/fixtures"
)

// The oracle fixtures (shared/fixtures, read-only) hold two tokenizer.json files and the
// ids Hugging Face's tokenizer gives for a corpus of 200 strings, four longer cases and
// six chat-template renders. Every one must match: no skip list.

var fixtureModels = []string{"llama-tiny", "qwen2-tiny"}

var fixtureTokenizers sync.Map // path → *Tokenizer, loaded once per test binary

// loadFixture loads a fixture model's tokenizer.json.
func loadFixture(t testing.TB, model string) *Tokenizer {
	t.Helper()
	path := filepath.Join(fixtures.Root(t), model, "tokenizer.json")
	if tok, ok := fixtureTokenizers.Load(path); ok {
		return tok.(*Tokenizer)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Load(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fixtureTokenizers.Store(path, tok)
	return tok
}

type corpusLine struct {
	Text           string `json:"text"`
	IDs            []int  `json:"ids"`
	IDsWithSpecial []int  `json:"ids_with_special"`
}

func readCorpus(t testing.TB, model string) []corpusLine {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures.Root(t), model, "tokenizer_corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []corpusLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l corpusLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("corpus line %d: %v", len(lines)+1, err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// usesNFC reports whether the fixture's tokenizer normalizes with NFC (Qwen3 does),
// so that decoding gives the NFC form of the text back.
func usesNFC(tok *Tokenizer) bool {
	_, ok := tok.normalizer.(unicodeNorm)
	return ok && tok.normalizer.(unicodeNorm).form == norm.NFC
}

func TestCorpus(t *testing.T) {
	for _, model := range fixtureModels {
		t.Run(model, func(t *testing.T) {
			tok := loadFixture(t, model)
			lines := readCorpus(t, model)
			if len(lines) != 200 {
				t.Errorf("corpus has %d lines, want 200", len(lines))
			}
			pass := 0
			for i, l := range lines {
				ok := true
				if got := tok.Encode(l.Text, false); !slices.Equal(got, l.IDs) {
					t.Errorf("line %d %q: Encode(addSpecial=false)\n got %v\nwant %v", i+1, l.Text, got, l.IDs)
					ok = false
				}
				if got := tok.Encode(l.Text, true); !slices.Equal(got, l.IDsWithSpecial) {
					t.Errorf("line %d %q: Encode(addSpecial=true)\n got %v\nwant %v", i+1, l.Text, got, l.IDsWithSpecial)
					ok = false
				}
				want := l.Text
				if usesNFC(tok) {
					want = norm.NFC.String(want)
				}
				if got := tok.Decode(l.IDs, false); got != want {
					t.Errorf("line %d: Decode = %q, want %q", i+1, got, want)
					ok = false
				}
				if ok {
					pass++
				}
			}
			t.Logf("%s: %d/%d corpus lines pass", model, pass, len(lines))
		})
	}
}

func TestCases(t *testing.T) {
	for _, model := range fixtureModels {
		t.Run(model, func(t *testing.T) {
			tok := loadFixture(t, model)
			var f struct {
				Cases []struct {
					Name           string `json:"name"`
					Text           string `json:"text"`
					HFIDs          []int  `json:"hf_ids"`
					HFIDsNoSpecial []int  `json:"hf_ids_no_special"`
				} `json:"cases"`
			}
			readJSON(t, filepath.Join(fixtures.Root(t), model, "cases.json"), &f)
			if len(f.Cases) == 0 {
				t.Fatal("no cases")
			}
			for _, c := range f.Cases {
				if got := tok.Encode(c.Text, true); !slices.Equal(got, c.HFIDs) {
					t.Errorf("%s: Encode(addSpecial=true)\n got %v\nwant %v", c.Name, got, c.HFIDs)
				}
				if got := tok.Encode(c.Text, false); !slices.Equal(got, c.HFIDsNoSpecial) {
					t.Errorf("%s: Encode(addSpecial=false)\n got %v\nwant %v", c.Name, got, c.HFIDsNoSpecial)
				}
			}
		})
	}
}

func TestChatTemplateRenders(t *testing.T) {
	for _, model := range fixtureModels {
		t.Run(model, func(t *testing.T) {
			tok := loadFixture(t, model)
			var renders []struct {
				Name                string `json:"name"`
				AddGenerationPrompt bool   `json:"add_generation_prompt"`
				Rendered            string `json:"rendered"`
				HFIDsNoSpecial      []int  `json:"hf_ids_no_special"`
			}
			readJSON(t, filepath.Join(fixtures.Root(t), model, "chat_template_renders.json"), &renders)
			if len(renders) == 0 {
				t.Fatal("no renders")
			}
			for _, r := range renders {
				if got := tok.Encode(r.Rendered, false); !slices.Equal(got, r.HFIDsNoSpecial) {
					t.Errorf("%s (add_generation_prompt %v):\n got %v\nwant %v", r.Name, r.AddGenerationPrompt, got, r.HFIDsNoSpecial)
				}
				if got := tok.Decode(r.HFIDsNoSpecial, false); got != r.Rendered {
					t.Errorf("%s: Decode = %q, want the render", r.Name, got)
				}
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestLoadFixtures checks what Load reads from the two real files, and that it is fast.
func TestLoadFixtures(t *testing.T) {
	for _, c := range []struct {
		model     string
		vocabSize int
		special   []string // special tokens and their ids
		specialID []int
		plain     string // an added token that is not special
	}{
		{"llama-tiny", 128256, []string{"<|begin_of_text|>", "<|eot_id|>"}, []int{128000, 128009}, ""},
		{"qwen2-tiny", 151669, []string{"<|endoftext|>", "<|im_end|>"}, []int{151643, 151645}, "<think>"},
	} {
		t.Run(c.model, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtures.Root(t), c.model, "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			tok, err := Load(data)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Load %.1f MB: %v", float64(len(data))/1e6, time.Since(start))
			if got := tok.VocabSize(); got != c.vocabSize {
				t.Errorf("VocabSize = %d, want %d", got, c.vocabSize)
			}
			for i, s := range c.special {
				id, ok := tok.TokenID(s)
				if !ok || id != c.specialID[i] || !tok.Special(id) || tok.Token(id) != s {
					t.Errorf("%s: TokenID = %d, %v; Special %v; Token %q; want id %d, special", s, id, ok, tok.Special(id), tok.Token(id), c.specialID[i])
				}
			}
			if c.plain != "" {
				id, ok := tok.TokenID(c.plain)
				if !ok || tok.Special(id) {
					t.Errorf("%s: TokenID = %d, %v, Special %v; want a non-special added token", c.plain, id, ok, tok.Special(id))
				}
			}
			if id, ok := tok.TokenID("Ġworld"); !ok || tok.Token(id) != "Ġworld" || tok.Decode([]int{id}, false) != " world" {
				t.Errorf(`"Ġworld": id %d, %v, decodes to %q`, id, ok, tok.Decode([]int{id}, false))
			}
			if tok.Token(-1) != "" || tok.Token(tok.VocabSize()) != "" || tok.Special(tok.VocabSize()) {
				t.Error("ids outside the vocabulary should have no token and not be special")
			}
		})
	}
}

// TestSkipSpecial decodes a chat render without its special tokens.
func TestSkipSpecial(t *testing.T) {
	tok := loadFixture(t, "qwen2-tiny")
	ids := tok.Encode("<|im_start|>user\nhi<|im_end|><think>x</think>", false)
	if got, want := tok.Decode(ids, true), "user\nhi<think>x</think>"; got != want {
		t.Errorf("Decode(skipSpecial) = %q, want %q", got, want)
	}
	if got := tok.Decode(append(ids, -5, 1<<30), false); got != "<|im_start|>user\nhi<|im_end|><think>x</think>" {
		t.Errorf("Decode with out-of-range ids = %q", got)
	}
}
