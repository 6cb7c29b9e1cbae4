package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2web/t2web/svf"
)

// TestReadmeBringYourOwnModel runs every command of the README's "Bring your own model"
// section, as written: the first block on a tiny random model, the second on the
// reference's files made by PyTorch. The placeholders (HF_DIR, PACK, …) become folders
// and files of the test, and `> FILE` writes the command's output there. Only the run
// lengths are shortened (see runCommands), so that a README edit that breaks a command,
// or a command whose flags change under the README, fails here.
func TestReadmeBringYourOwnModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the site; skipped with -short")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := sectionCommands(t, string(readme), "## Bring your own model")
	if len(blocks) != 2 {
		t.Fatalf("the section has %d command blocks, want 2 (a model of your own, the reference's experts)", len(blocks))
	}
	dir := t.TempDir()
	places := map[string]string{
		"HF_DIR":         randomCheckpoint(t),
		"PACK":           filepath.Join(dir, "pack"),
		"EXAMPLES.jsonl": filepath.Join(dir, "examples.jsonl"),
		"ADAPTED_DIR":    filepath.Join(dir, "adapted"),
		"ADAPTED.gguf":   filepath.Join(dir, "adapted.gguf"),
		"dist":           filepath.Join(dir, "dist"),
	}
	// The reference's files are the PyTorch-made fixture (testdata/reference/make.py).
	ref := filepath.Join(root, "build", "testdata", "reference")
	refPlaces := map[string]string{
		"HF_DIR":               filepath.Join(ref, "hf"),
		"PACK":                 filepath.Join(dir, "ref-pack"),
		"decomposed_params.pt": filepath.Join(ref, "decomposed_params.pt"),
		"policy_params.pt":     filepath.Join(ref, "policy_params.pt"),
	}
	ran := map[string]bool{}
	runCommands(t, blocks[0], places, ran)
	runCommands(t, blocks[1], refPlaces, ran)
	for _, cmd := range []string{"convert", "train-expert", "ask", "site", "export", "import", "generate"} {
		if !ran[cmd] {
			t.Errorf("the section runs no `%s`", cmd)
		}
	}
	// What the commands promise: the site's default model is the pack with its expert,
	// and the adapted model is a Hugging Face folder.
	p, err := svf.OpenDir(filepath.Join(places["dist"], "models", "default"))
	if err != nil {
		t.Fatalf("the site's default model: %v", err)
	}
	if _, err := p.Expert("lost-found"); err != nil {
		t.Errorf("the site's default pack lacks the trained expert: %v", err)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(places["ADAPTED_DIR"], f)); err != nil {
			t.Errorf("export --hf: %v", err)
		}
	}
}

// runCommands runs README command lines in-process: placeholders (words of places)
// become the test's folders and files, and `> FILE` writes the output there. quick
// shortens what would take minutes on a real model; nothing else changes. Each command
// run is marked in ran.
func runCommands(t *testing.T, lines []string, places map[string]string, ran map[string]bool) {
	t.Helper()
	quick := map[string][]string{
		"train-expert": {"--epochs", "1"},
		"eval":         {"--n", "4"},
	}
	for _, line := range lines {
		args, out := shellWords(t, line)
		if len(args) < 4 || strings.Join(args[:3], " ") != "go run ./build" {
			t.Fatalf("README command %q: want `go run ./build …`", line)
		}
		args = args[3:]
		for i, a := range args {
			if p, ok := places[a]; ok {
				args[i] = p
			}
		}
		if p, ok := places[out]; ok {
			out = p
		}
		args = append(args, quick[args[0]]...)
		code, stdout, stderr := t2(args...)
		if code != 0 {
			t.Fatalf("README command %q: exit %d\n%s", line, code, stderr)
		}
		if out != "" {
			if err := os.WriteFile(out, []byte(stdout), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ran[args[0]] = true
	}
}

// sectionCommands returns the command lines of each ```sh block of the README section
// that starts with heading: comments and blank lines left out.
func sectionCommands(t *testing.T, readme, heading string) [][]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no section %q", heading)
	}
	if next := strings.Index(section, "\n## "); next >= 0 {
		section = section[:next]
	}
	var blocks [][]string
	for {
		_, rest, ok := strings.Cut(section, "```sh\n")
		if !ok {
			break
		}
		block, after, _ := strings.Cut(rest, "```")
		var lines []string
		for _, l := range strings.Split(block, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		blocks, section = append(blocks, lines), after
	}
	return blocks
}

// shellWords splits a README command line as sh would for the forms it uses: words
// separated by spaces, "double-quoted" words, and a final `> FILE`, returned as out.
func shellWords(t *testing.T, line string) (words []string, out string) {
	t.Helper()
	if i := strings.LastIndex(line, " > "); i >= 0 {
		line, out = line[:i], strings.TrimSpace(line[i+3:])
	}
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		if rest[0] == '"' {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				t.Fatalf("README command %q: unclosed quote", line)
			}
			words, rest = append(words, rest[1:end+1]), rest[end+2:]
			continue
		}
		w, r, _ := strings.Cut(rest, " ")
		words, rest = append(words, w), r
	}
	return words, out
}
