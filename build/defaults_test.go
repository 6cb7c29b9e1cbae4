package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommandDefaults runs every t2 command with its required flags only, on a tiny
// model, so that a default that does not fit a model (a sequence longer than its
// context, a batch larger than the examples, a thousand epochs of a few examples) fails
// here. Flags that only bound how long a run takes (iterations, steps, questions) are cut,
// each named in cut.
func TestCommandDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("trains and builds the site; skipped with -short")
	}
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }
	cfg := at("config.json")
	os.WriteFile(cfg, defaultModelConfig, 0o644)
	messages := at("messages.json")
	os.WriteFile(messages, []byte(`[{"role": "user", "content": "What is 2 plus 2?"}]`), 0o644)
	examples := at("sums.jsonl")
	os.WriteFile(examples, sums(24, 0), 0o644)
	hf, pack, refPack := at("hf"), at("pack"), at("ref-pack")

	tests := []struct {
		args []string
		cut  []string // flags that only bound the run's time
	}{
		{args: []string{"random-model", "--config", cfg, "--out", hf}},
		{args: []string{"tokenize", "--model", hf, "What is 2 plus 2?"}},
		{args: []string{"template", "--model", hf, "--messages", messages}},
		{args: []string{"logits", "--model", hf, "--ids", "1,2,3", "--out", at("logits.bin")}},
		{args: []string{"generate", "--model", hf, "--prompt", "What is 2 plus 2?"}},
		{args: []string{"convert", "--model", hf, "--out", pack}},
		{args: []string{"expert", "new", "--pack", pack, "--name", "math", "--domain", "math"}},
		{args: []string{"expert", "new", "--pack", pack, "--name", "code", "--domain", "code", "--value", "1.5"}},
		{args: []string{"expert", "mix", "--pack", pack, "--name", "both", "--mix", "math:0.5,code:0.5"}},
		{args: []string{"expert", "show", "--pack", pack}},
		{args: []string{"convert", "--model", filepath.Join("testdata", "reference", "hf"), "--out", refPack}},
		{args: []string{"import", "--pack", refPack, "--reference-expert", filepath.Join("testdata", "reference", "policy_params.pt"), "--name", "ref"}},
		{args: []string{"export", "--pack", pack, "--expert", "math", "--gguf", at("math.gguf")}},
		{args: []string{"export", "--pack", pack, "--expert", "math", "--hf", at("math-hf")}},
		{args: []string{"ask", "--pack", pack, "What is 2 plus 2?"}},
		{args: []string{"adapt", "--pack", pack, "--examples", examples}},
		{args: []string{"eval", "--pack", pack, "--task", "math"}},
		{args: []string{"eval", "--pack", pack, "--examples", examples}},
		{args: []string{"train-expert", "--pack", pack, "--examples", examples, "--name", "sums"}},
		{args: []string{"train-expert", "--pack", pack, "--task", "math", "--name", "math2"}, cut: []string{"--iters", "1", "--val-n", "4"}},
		{args: []string{"train-base", "--out", at("base")}, cut: []string{"--steps", "2", "--eval-n", "2"}},
		{args: []string{"tasks", "list"}},
		{args: []string{"tasks", "export", "--task", "math"}},
		{args: []string{"site", "--out", at("site"), "--pack", pack}},
	}
	// serve runs until it is stopped: TestSiteHandler tests what it serves.
	walked := []string{"serve"}
	for _, tt := range tests {
		walked = append(walked, tt.args[0])
		args := append(slices.Clone(tt.args), tt.cut...)
		code, _, errOut := t2(args...)
		if code != 0 {
			t.Fatalf("t2 %s: exit %d with its defaults\n%s", strings.Join(args, " "), code, errOut)
		}
	}
	for name := range commands() {
		if !slices.Contains(walked, name) {
			t.Errorf("t2 %s: not walked with its defaults; add it to the table", name)
		}
	}
}
