package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/chat"
	"github.com/t2web/t2web/model/train"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// tinyBaseConfig is a model small enough to train for a few steps in a test.
const tinyBaseConfig = `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 259,
  "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 256, "rms_norm_eps": 1e-05,
  "rope_theta": 10000.0, "tie_word_embeddings": false, "eos_token_id": [256, 258], "torch_dtype": "float32"}`

// TestTrainBaseCommand trains the tiny model for 20 steps and checks the claims of
// t2 train-base: the loss falls, the folder loads and generates, the same seed writes
// the same bytes, a run stopped after 8 steps and resumed writes the bytes of a straight
// run, and a damaged checkpoint or one of other settings is refused and left as it is.
func TestTrainBaseCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(tinyBaseConfig), 0o644)
	trainBase := func(out string, extra ...string) (string, string) {
		t.Helper()
		args := append([]string{"train-base", "--config", cfg, "--out", filepath.Join(dir, out), "--batch", "2", "--seq", "192",
			"--pool", "64", "--lr", "1e-2", "--warmup", "2", "--log-every", "1", "--eval-n", "0"}, extra...)
		code, stdout, stderr := t2(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\nstdout %s\nstderr %s", args, code, stdout, stderr)
		}
		return stdout, stderr
	}
	weights := func(out string) []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, out, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	stdout, stderr := trainBase("a", "--steps", "20", "--eval-n", "1")
	if !strings.Contains(stdout, "trained 20 steps") || !strings.Contains(stdout, "validation math ") {
		t.Errorf("stdout %q", stdout)
	}
	losses := progressLosses(t, stderr)
	if len(losses) != 20 {
		t.Fatalf("%d progress lines, want 20:\n%s", len(losses), stderr)
	}
	first, last := mean(losses[:3]), mean(losses[len(losses)-3:])
	if !(last < first-1) {
		t.Errorf("loss went from %.3f (first 3 steps) to %.3f (last 3), want a fall of more than 1", first, last)
	}
	t.Logf("loss %.3f → %.3f", first, last)

	// The folder is a checkpoint that loads and generates from a ChatML prompt.
	m, err := model.Load(os.DirFS(filepath.Join(dir, "a")))
	if err != nil {
		t.Fatal(err)
	}
	if m.Chat == nil || !slices.Contains(m.EOS, 258) {
		t.Errorf("chat template %v, EOS %v: want ChatML ending at <|im_end|> (258)", m.Chat, m.EOS)
	}
	if code, out, errOut := t2("generate", "--model", filepath.Join(dir, "a"), "--prompt", "What does this print?\nx = 2\nprint(x + 1)",
		"--chat", "--greedy", "--max-tokens", "8", "--print-ids"); code != 0 || !strings.HasSuffix(out, "]\n") {
		t.Errorf("generate --chat: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// The same seed writes the same bytes, whether or not the run keeps a checkpoint.
	trainBase("b", "--steps", "20", "--checkpoint", filepath.Join(dir, "b.ckpt"), "--save-every", "3")
	for _, f := range []string{"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} {
		x, _ := os.ReadFile(filepath.Join(dir, "a", f))
		y, _ := os.ReadFile(filepath.Join(dir, "b", f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed (or is empty)", f)
		}
	}
	trainBase("seed2", "--steps", "20", "--seed", "2")
	if bytes.Equal(weights("a"), weights("seed2")) {
		t.Error("seeds 1 and 2 wrote the same weights")
	}

	// --from continues a trained model: its config, tokenizer and template are kept byte
	// for byte, and its first steps start at the loss where the model left off, not at
	// a random model's.
	fromArgs := func(out, from string, extra ...string) []string {
		return append([]string{"train-base", "--from", filepath.Join(dir, from), "--out", filepath.Join(dir, out), "--batch", "2", "--seq", "192",
			"--pool", "64", "--lr", "1e-3", "--warmup", "2", "--log-every", "1", "--eval-n", "0", "--seed", "3"}, extra...)
	}
	code, _, stderr := t2(fromArgs("more", "a", "--steps", "4")...)
	if code != 0 {
		t.Fatalf("--from: exit %d, stderr %s", code, stderr)
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		x, _ := os.ReadFile(filepath.Join(dir, "a", f))
		y, _ := os.ReadFile(filepath.Join(dir, "more", f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("--from: %s is not the starting model's", f)
		}
	}
	if more := progressLosses(t, stderr); len(more) != 4 || more[0] > first-1 {
		t.Errorf("--from: losses %v, want 4 steps starting well below a random model's %.3f", more, first)
	}
	if bytes.Equal(weights("a"), weights("more")) {
		t.Error("--from: 4 more steps left the weights as they were")
	}
	// A checkpoint of a run --from one model refuses to resume from another.
	fromCk := filepath.Join(dir, "from.ckpt")
	if code, _, errOut := t2(fromArgs("y", "a", "--steps", "2", "--checkpoint", fromCk)...); code != 0 {
		t.Fatalf("--from --checkpoint: exit %d, stderr %s", code, errOut)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"other start", fromArgs("y", "seed2", "--steps", "4", "--checkpoint", fromCk), "--from a model of weights of SHA-256"},
		{"with --vocab", fromArgs("y", "a", "--steps", "4", "--vocab", "300"), "drop --config and --vocab"},
		{"with --config", fromArgs("y", "a", "--steps", "4", "--config", cfg), "drop --config and --vocab"},
		{"no such folder", fromArgs("y", "nothing", "--steps", "4"), filepath.Join(dir, "nothing")},
	} {
		if code, _, errOut := t2(tt.args...); code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("--from, %s: exit %d, stderr %q, want %q", tt.name, code, errOut, tt.want)
		}
	}

	// Stopped after 8 steps, then continued to 20: the straight run's bytes.
	ck := filepath.Join(dir, "ck", "c.ckpt") // in a folder to be made
	trainBase("c", "--steps", "8", "--lr-steps", "20", "--checkpoint", ck)
	if _, stderr := trainBase("c", "--steps", "20", "--checkpoint", ck); !strings.Contains(stderr, "resuming "+ck+" at step 8") ||
		strings.Contains(stderr, "step 8/20") || !strings.Contains(stderr, "step 9/20") {
		t.Errorf("resume: stderr %s", stderr)
	}
	if !bytes.Equal(weights("a"), weights("c")) {
		t.Error("a run resumed at step 8 wrote other weights than a straight run")
	}
	// Resuming a finished run trains no more and writes the same model.
	if _, stderr := trainBase("c", "--steps", "20", "--checkpoint", ck); strings.Contains(stderr, "step 20/20") ||
		!bytes.Equal(weights("a"), weights("c")) {
		t.Errorf("resuming a finished run: stderr %s", stderr)
	}

	// Refusals, each naming the checkpoint and leaving it as it was.
	good, _ := os.ReadFile(ck)
	base := []string{"train-base", "--config", cfg, "--out", filepath.Join(dir, "x"), "--batch", "2", "--seq", "192",
		"--pool", "64", "--lr", "1e-2", "--warmup", "2", "--eval-n", "0", "--checkpoint", ck}
	corrupted := slices.Clone(good)
	corrupted[len(corrupted)-100] ^= 0x40
	truncated := good[:len(good)/2]
	for _, tt := range []struct {
		name  string
		file  []byte
		extra []string
		want  string
	}{
		{"corrupted", corrupted, []string{"--steps", "30"}, "corrupted"},
		{"truncated", truncated, []string{"--steps", "30"}, ck},
		{"other seed", good, []string{"--steps", "30", "--seed", "2"}, "--seed 1 (this run: 2)"},
		{"other schedule", good, []string{"--steps", "30"}, "--lr-steps 20 (this run: 30)"},
		{"past the end", good, []string{"--steps", "10", "--lr-steps", "20"}, "is at step 20, past --steps 10"},
	} {
		os.WriteFile(ck, tt.file, 0o644)
		code, _, errOut := t2(append(slices.Clone(base), tt.extra...)...)
		if code != 1 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, ck) {
			t.Errorf("%s: exit %d, stderr %q, want %q and the file name", tt.name, code, errOut, tt.want)
		}
		if now, _ := os.ReadFile(ck); !bytes.Equal(now, tt.file) {
			t.Errorf("%s: the checkpoint was changed", tt.name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Error("a refused run wrote its output folder")
	}
}

// progressLosses reads the loss of each progress line.
func progressLosses(t *testing.T, stderr string) []float64 {
	t.Helper()
	var losses []float64
	for _, m := range regexp.MustCompile(`(?m)^step \d+/\d+ .* loss ([0-9.]+) `).FindAllStringSubmatch(stderr, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, v)
	}
	return losses
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// TestBaseCorpus checks that every task's examples are encoded as the page and t2 eval
// prompt the model — svf.Prompt of the question — followed by the answer and
// <|im_end|>, i.e. a ChatML conversation of one user and one assistant turn, and that
// fill packs whole examples with a loss on exactly their answers.
func TestBaseCorpus(t *testing.T) {
	cfg, err := model.ParseConfig(demoModelConfig)
	if err != nil {
		t.Fatal(err)
	}
	var mix []mixFamily
	for _, f := range tasks.General() {
		mix = append(mix, mixFamily{f, 1})
	}
	families := familyTasks(mix)
	items, err := sampleMix(mix, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := baseText(cfg, items, cfg.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newBaseCorpus(text, 1, families, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.items) != 8*len(families) {
		t.Fatalf("%d items, want 8 of each of %d families", len(c.items), len(families))
	}
	imEnd, _ := text.Tokenizer.TokenID("<|im_end|>")
	for k := range c.items {
		ids, p, err := c.encode(k)
		if err != nil {
			t.Fatal(err)
		}
		ex := c.items[c.at(k)]
		if got := tasks.SplitOf(mustLookup(t, ex.Task), ex); got != tasks.Train {
			t.Errorf("%s item %q is in the %v split", ex.Task, ex.Input, got)
		}
		prompt, _ := svf.Prompt(text, ex.Input)
		answer := ex.Solution // worked, for every family but cls-general
		if ex.Task == tasks.ClsGeneral {
			answer = ex.Output
		}
		want := append(append(prompt, text.Tokenizer.Encode(answer, false)...), imEnd)
		if p != len(prompt) || !slices.Equal(ids, want) {
			t.Fatalf("%s: encoded %v (prompt %d), want %v (prompt %d)", ex.Task, ids, p, want, len(prompt))
		}
		conv, err := text.Chat.Render([]chat.Message{{Role: "user", Content: ex.Input}, {Role: "assistant", Content: answer}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := text.Tokenizer.Decode(ids, false) + "\n"; got != conv {
			t.Fatalf("%s: example %q, the chat template writes %q", ex.Task, got, conv)
		}
	}

	// Packing: whole examples, the loss on their answers only, the rest padding.
	const B, T = 4, 256
	inputs, targets := make([]int, B*T), make([]int, B*T)
	var st baseState
	placed, err := c.fill(inputs, targets, B, T, &st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Next != len(placed) || len(placed) < B {
		t.Fatalf("placed %d examples, the stream moved %d", len(placed), st.Next)
	}
	withLoss := 0
	for _, n := range targets {
		if n >= 0 {
			withLoss++
		}
	}
	rows := 0
	for k, p := range placed {
		ids, promptLen, _ := c.encode(k)
		start := p.from - (promptLen - 1)
		if p.to-p.from != len(ids)-promptLen || p.from/T != (p.to-1)/T || start/T != p.from/T {
			t.Fatalf("example %d at rows [%d, %d) of %d tokens, prompt %d: not whole in one row", k, p.from, p.to, len(ids), promptLen)
		}
		if !slices.Equal(inputs[start:start+len(ids)], ids) || !slices.Equal(targets[p.from:p.to], ids[promptLen:]) {
			t.Fatalf("example %d: inputs or targets differ from its tokens", k)
		}
		rows += p.to - p.from
	}
	if rows != withLoss || int64(rows) != st.Answer {
		t.Errorf("%d rows with a loss, %d in the examples' answers, %d counted", withLoss, rows, st.Answer)
	}
}

func mustLookup(t *testing.T, name string) tasks.Task {
	t.Helper()
	task, err := tasks.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// TestBaseLR checks the learning-rate schedule: linear warmup, cosine to a tenth.
func TestBaseLR(t *testing.T) {
	s := baseSettings{LR: 1, Warmup: 10, LRSteps: 110}
	for _, tt := range []struct {
		step int
		want float64
	}{
		{0, 0.1}, {4, 0.5}, {9, 1}, {10, 1}, {60, 0.55}, {110, 0.1}, {500, 0.1},
	} {
		if got := s.lrAt(tt.step); got < tt.want-1e-12 || got > tt.want+1e-12 {
			t.Errorf("step %d: lr %g, want %g", tt.step, got, tt.want)
		}
	}
}

// TestDemoModelConfig checks that the demo's config fits its tokenizer, its rows and
// the pack budget.
func TestDemoModelConfig(t *testing.T) {
	cfg, err := model.ParseConfig(demoModelConfig)
	if err != nil {
		t.Fatal(err)
	}
	general, err := mixFamilies("general")
	if err != nil {
		t.Fatal(err)
	}
	items, err := sampleMix(general, 1, 2000)
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := baseText(cfg, items, cfg.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	// The BPE fills the vocabulary (a smaller one would leave rows of the embedding
	// untrained), and the longest example of the mix or of the suite fits a row of 128.
	if n := text.Tokenizer.VocabSize(); n != cfg.VocabSize {
		t.Errorf("the BPE learnt on the mix has %d tokens, the config says vocab_size %d", n, cfg.VocabSize)
	}
	longest := 0
	for _, task := range slices.Concat(tasks.General(), tasks.All(), tasks.HeldOut()) {
		exs, err := tasks.Sample(task, tasks.Train, 1, 300)
		if err != nil && !errors.Is(err, tasks.ErrFewItems) {
			t.Fatal(err)
		}
		for _, ex := range exs {
			prompt, err := svf.Prompt(text, ex.Input)
			if err != nil {
				t.Fatal(err)
			}
			longest = max(longest, len(prompt)+len(text.Tokenizer.Encode(answerOf(ex), false))+1)
		}
	}
	if longest > 128 || cfg.MaxPositions < 2*longest {
		t.Errorf("the longest example is %d tokens: want it in a row of 128, and %d positions to hold twice it", longest, cfg.MaxPositions)
	}
	m, err := train.New[float32](cfg, train.Options{B: 1, T: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := len(m.Params); n < 2_000_000 || n > 3_000_000 {
		t.Errorf("%d parameters; the doc comment and the demo's time budget assume about 2.5 M", n)
	}
}
