package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/fixtures"
)

// t2 runs one command line in-process and returns its exit code, stdout and stderr.
func t2(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// fixtureCase reads one case of a fixture model's cases.json.
func fixtureCase(t *testing.T, dir, name string) (text string, inputIDs, greedy []int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Name     string
			Text     string
			InputIDs []int `json:"input_ids"`
			Greedy   struct {
				IDs []int `json:"generated_ids"`
			}
		}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		if c.Name == name {
			return c.Text, c.InputIDs, c.Greedy.IDs
		}
	}
	t.Fatalf("no case %s", name)
	return
}

func TestTokenizeCommand(t *testing.T) {
	dir := fixtures.Dir(t, "llama-tiny")
	if code, out, errOut := t2("tokenize", "--model", dir, "--special", "Hello world"); code != 0 || out != "[128000,9906,1917]\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	jsonl := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(jsonl, []byte("{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n"), 0o644)
	if code, out, errOut := t2("tokenize", "--model", dir, "--jsonl", jsonl); code != 0 || out != "[9906,1917]\n[]\n" {
		t.Errorf("jsonl: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	os.WriteFile(jsonl, []byte("{\"text\": \"a\"}\n{\"txt\": \"b\"}\n"), 0o644)
	if code, _, errOut := t2("tokenize", "--model", dir, "--jsonl", jsonl); code != 1 || !strings.Contains(errOut, "in.jsonl:2: field text is missing") {
		t.Errorf("bad jsonl: exit %d, stderr %q", code, errOut)
	}
}

func TestTemplateCommand(t *testing.T) {
	dir := fixtures.Dir(t, "qwen2-tiny")
	msgs := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(msgs, []byte(`[{"role": "user", "content": "hi"}]`), 0o644)
	code, out, errOut := t2("template", "--model", dir, "--messages", msgs, "--add-generation-prompt")
	if want := "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"; code != 0 || out != want {
		t.Errorf("exit %d, stdout %q, want %q; stderr %q", code, out, want, errOut)
	}
}

// TestGenerateCommand holds `t2 generate --greedy` to llama.cpp's greedy continuation.
func TestGenerateCommand(t *testing.T) {
	for _, name := range []string{"llama-tiny", "qwen2-tiny"} {
		dir := fixtures.Dir(t, name)
		text, _, greedy := fixtureCase(t, dir, "english")
		code, out, errOut := t2("generate", "--model", dir, "--prompt", text, "--greedy", "--max-tokens", "16", "--print-ids")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		var ids []int
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ids); err != nil {
			t.Fatalf("%s: last line %q: %v", name, lines[len(lines)-1], err)
		}
		if !slices.Equal(ids, greedy) {
			t.Errorf("%s: ids %v, llama.cpp %v", name, ids, greedy)
		}
	}
}

// TestLogitsCommand checks the file layout of `t2 logits` against the fixture logits.
func TestLogitsCommand(t *testing.T) {
	dir := fixtures.Dir(t, "llama-tiny")
	_, ids, _ := fixtureCase(t, dir, "english")
	var list []string
	for _, id := range ids {
		list = append(list, strconv.Itoa(id))
	}
	out := filepath.Join(t.TempDir(), "logits.bin")
	if code, _, errOut := t2("logits", "--model", dir, "--ids", strings.Join(list, ","), "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	const vocab, cols = 128256, 16032
	if len(data) != len(ids)*vocab*4 {
		t.Fatalf("%d bytes, want %d × %d × 4", len(data), len(ids), vocab)
	}
	want, err := os.ReadFile(filepath.Join(dir, "logits", "english.f32.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for r := range ids {
		for j := range cols {
			got := math.Float32frombits(binary.LittleEndian.Uint32(data[4*(r*vocab+8*j):]))
			ref := math.Float32frombits(binary.LittleEndian.Uint32(want[4*(r*cols+j):]))
			if math.Abs(float64(got-ref)) > 2e-5 {
				t.Fatalf("row %d column %d: %g, llama.cpp %g", r, 8*j, got, ref)
			}
		}
	}
}

// TestRandomModel checks that a random checkpoint loads and generates, and that the same
// seed writes the same bytes.
func TestRandomModel(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfg, defaultModelConfig, 0o644)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, dir := range []string{a, b} {
		if code, _, errOut := t2("random-model", "--config", cfg, "--seed", "5", "--out", dir); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	}
	for _, f := range []string{"model.safetensors", "tokenizer.json", "tokenizer_config.json", "config.json"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed (or is empty)", f)
		}
	}
	code, out, errOut := t2("generate", "--model", a, "--prompt", "hello", "--chat", "--greedy", "--max-tokens", "8", "--print-ids")
	if code != 0 || !strings.HasSuffix(out, "]\n") {
		t.Errorf("generate on a random model: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = t2("tokenize", "--model", a, "héllo <|im_start|>")
	if want := "[104,195,169,108,108,111,32,257]\n"; code != 0 || out != want {
		t.Errorf("byte tokenizer: %q, want %q", out, want)
	}
}

// TestCommandHelp checks that --help prints a command's usage and flags and exits 0 (the
// bad-input catalogue, TestBadInput, has what goes wrong).
func TestCommandHelp(t *testing.T) {
	if code, _, errOut := t2("generate", "--help"); code != 0 || !strings.Contains(errOut, "--max-tokens") && !strings.Contains(errOut, "-max-tokens") {
		t.Errorf("--help: exit %d, %q", code, errOut)
	}
}

// randomCheckpoint writes the random default model's checkpoint folder into a
// temporary folder and returns it.
func randomCheckpoint(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, defaultModelConfig, 0o644)
	hf := filepath.Join(dir, "hf")
	if code, _, errOut := t2("random-model", "--config", cfg, "--out", hf); code != 0 {
		t.Fatal(errOut)
	}
	return hf
}
