package model

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

const tinyConfig = `{
  "architectures": ["Qwen2ForCausalLM"], "vocab_size": 97, "hidden_size": 32,
  "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
  "rope_theta": 10000, "tie_word_embeddings": true
}`

func tinyEngine(t *testing.T, config string, seqs int) *CPU {
	t.Helper()
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	w := RandomWeights(cfg, 7)
	// Biases and norms away from their neutral values, so dropping one shows.
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, b := range [][]float32{l.Q.(*Dense).B, l.K.(*Dense).B, l.V.(*Dense).B, l.AttnNorm} {
			for j := range b {
				b[j] += 0.1 * float32(j%5)
			}
		}
	}
	e, err := NewCPU(&Model{Config: cfg, Weights: w}, CPUOptions{MaxSeqs: seqs})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func outputs(t *testing.T, e Engine, n int) [][]float32 {
	t.Helper()
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, e.Config().VocabSize)
		if err := e.Logits(rows[i], i); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// TestBatchSequencesIndependent checks that sequences sharing a batch do not see each
// other: two prompts prefilled together give exactly the logits each gives alone. This
// is what population batches (one sequence per candidate) rely on.
func TestBatchSequencesIndependent(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 2)
	a, b := []int{5, 9, 13, 2, 77}, []int{40, 41, 3}
	var batch Batch
	for i, id := range a {
		batch.Add(id, i, 0, true)
	}
	for i, id := range b {
		batch.Add(id, i, 1, true)
	}
	if err := e.Forward(&batch); err != nil {
		t.Fatal(err)
	}
	together := outputs(t, e, len(a)+len(b))
	for s, prompt := range [][]int{a, b} {
		e.Clear(0)
		batch.Reset()
		for i, id := range prompt {
			batch.Add(id, i, 0, true)
		}
		if err := e.Forward(&batch); err != nil {
			t.Fatal(err)
		}
		alone := outputs(t, e, len(prompt))
		for i := range alone {
			if !slices.Equal(alone[i], together[s*len(a)+i]) {
				t.Fatalf("sequence %d position %d: logits differ alone and batched", s, i)
			}
		}
	}
}

// TestDecodeMatchesPrefill checks the KV cache: feeding tokens one at a time gives the
// logits a single prefill gives at every position.
func TestDecodeMatchesPrefill(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 1)
	prompt := []int{1, 2, 3, 50, 60, 70, 96, 0}
	var batch Batch
	for i, id := range prompt {
		batch.Add(id, i, 0, true)
	}
	if err := e.Forward(&batch); err != nil {
		t.Fatal(err)
	}
	prefill := outputs(t, e, len(prompt))
	e.Clear(0)
	for i, id := range prompt {
		batch.Reset()
		batch.Add(id, i, 0, true)
		if err := e.Forward(&batch); err != nil {
			t.Fatal(err)
		}
		step := outputs(t, e, 1)[0]
		if !slices.Equal(step, prefill[i]) {
			t.Fatalf("position %d: decode and prefill logits differ", i)
		}
	}
}

// TestSlidingWindow checks that with a window of W a one-layer model at position p sees
// only the last W tokens: it matches the same W tokens placed at the start (RoPE
// depends on relative positions only).
func TestSlidingWindow(t *testing.T) {
	cfg := strings.Replace(tinyConfig, `"num_hidden_layers": 2`, `"num_hidden_layers": 1`, 1)
	cfg = strings.Replace(cfg, "Qwen2ForCausalLM", "MistralForCausalLM", 1)
	windowed := tinyEngine(t, strings.Replace(cfg, `"rope_theta"`, `"sliding_window": 4, "rope_theta"`, 1), 1)
	plain := tinyEngine(t, cfg, 1)
	prompt := []int{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	var batch Batch
	for i, id := range prompt {
		batch.Add(id, i, 0, i == len(prompt)-1)
	}
	if err := windowed.Forward(&batch); err != nil {
		t.Fatal(err)
	}
	batch.Reset()
	for i, id := range prompt[len(prompt)-4:] {
		batch.Add(id, i, 0, i == 3)
	}
	if err := plain.Forward(&batch); err != nil {
		t.Fatal(err)
	}
	got, want := outputs(t, windowed, 1)[0], outputs(t, plain, 1)[0]
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("logit %d: windowed %g, last-4 alone %g", i, got[i], want[i])
		}
	}
}

func TestForwardErrors(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 2)
	tests := []struct {
		name  string
		batch Batch
		want  string
	}{
		{"empty", Batch{}, "empty batch"},
		{"token outside vocabulary", Batch{Tokens: []int{97}, Pos: []int{0}, Seq: []int{0}, Logits: []bool{true}}, "token 97 outside the vocabulary"},
		{"negative token", Batch{Tokens: []int{-1}, Pos: []int{0}, Seq: []int{0}, Logits: []bool{true}}, "token -1"},
		{"sequence outside slots", Batch{Tokens: []int{1}, Pos: []int{0}, Seq: []int{2}, Logits: []bool{true}}, "sequence 2 outside [0, 2)"},
		{"position past context", Batch{Tokens: []int{1}, Pos: []int{64}, Seq: []int{0}, Logits: []bool{true}}, "position 64 outside the context"},
		{"gap", Batch{Tokens: []int{1}, Pos: []int{3}, Seq: []int{0}, Logits: []bool{true}}, "leaves a gap"},
		{"ragged columns", Batch{Tokens: []int{1, 2}, Pos: []int{0}, Seq: []int{0, 0}, Logits: []bool{true, true}}, "differ in length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Forward(&tt.batch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if err := e.Logits(make([]float32, 97), 5); err == nil {
		t.Error("no error for an output row that does not exist")
	}
}

func TestGenerate(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 1)
	prompt := []int{3, 1, 4, 1, 5}
	all, err := Generate(context.Background(), e, prompt, Greedy(), 12, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 12 {
		t.Fatalf("generated %d tokens, want 12", len(all))
	}
	// The same call again gives the same tokens (the cache is cleared first).
	again, err := Generate(context.Background(), e, prompt, Greedy(), 12, nil, nil)
	if err != nil || !slices.Equal(all, again) {
		t.Fatalf("second run %v (%v), first %v", again, err, all)
	}
	// A stop token ends the generation before it.
	stop := all[4]
	cut := slices.Index(all, stop)
	got, err := Generate(context.Background(), e, prompt, Greedy(), 12, []int{stop}, nil)
	if err != nil || !slices.Equal(got, all[:cut]) {
		t.Errorf("with stop %d: %v (%v), want %v", stop, got, err, all[:cut])
	}
	// A cancelled context stops after the token under way, with the tokens so far.
	var seen []int
	ctx, cancel := context.WithCancel(context.Background())
	got, err = Generate(ctx, e, prompt, Greedy(), 12, nil, func(id int) {
		if seen = append(seen, id); len(seen) == 3 {
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) || !slices.Equal(got, all[:3]) || !slices.Equal(seen, all[:3]) {
		t.Errorf("cancelled after 3 tokens: %v %v (%v), want %v and context.Canceled", got, seen, err, all[:3])
	}
	// The context bounds the output: after a 60-token prompt in a 64-position context,
	// tokens go to positions 60–63 and the last one's prediction is the fifth token.
	long := make([]int, 60)
	got, err = Generate(context.Background(), e, long, Greedy(), 100, nil, nil)
	if err != nil || len(got) != 5 {
		t.Errorf("near the end of the context: %d tokens (%v), want 5", len(got), err)
	}
	if _, err := Generate(context.Background(), e, make([]int, 64), Greedy(), 1, nil, nil); err == nil || !strings.Contains(err.Error(), "context holds 64") {
		t.Errorf("prompt filling the context: %v", err)
	}
}

// TestSetZErrors checks that a z for a matrix the model lacks, or for a dense (not
// adapted) one, is refused with the matrix's name.
func TestSetZErrors(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 1)
	for name, want := range map[string]string{
		"model.layers.9.mlp.up_proj": "no such matrix",
		"model.layers.0.mlp.up_proj": "not adapted",
	} {
		err := e.SetZ(map[string][]float32{name: {1}})
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), want) {
			t.Errorf("SetZ(%s): %v, want an error naming it and saying %q", name, err, want)
		}
	}
	if err := e.SetZ(nil); err != nil {
		t.Errorf("SetZ(nil) on a dense model: %v", err)
	}
}

// TestGenerateBatch checks that continuing several prompts in one batch gives each the
// tokens Generate gives it alone, with greedy and with seeded sampling.
func TestGenerateBatch(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 3)
	prompts := [][]int{{3, 1, 4}, {1, 5, 9, 2, 6}, {5}}
	for _, p := range []SamplerParams{{}, {Temperature: 1.5, Seed: 9}} {
		var samplers []*Sampler
		for range prompts {
			samplers = append(samplers, NewSampler(p))
		}
		stop := []int{7}
		got, ends, err := GenerateBatch(e, prompts, samplers, 10, stop)
		if err != nil {
			t.Fatal(err)
		}
		for i, prompt := range prompts {
			want, err := Generate(context.Background(), e, prompt, NewSampler(p), 10, stop, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[i], want) {
				t.Errorf("params %+v prompt %d: batched %v, alone %v", p, i, got[i], want)
			}
			if stopped := len(got[i]) < 10; stopped != (ends[i] == 7) {
				t.Errorf("prompt %d: %d tokens, end %d", i, len(got[i]), ends[i])
			}
		}
	}
	if _, _, err := GenerateBatch(e, make([][]int, 4), nil, 1, nil); err == nil {
		t.Error("4 prompts on an engine of 3 sequences accepted")
	}
}
