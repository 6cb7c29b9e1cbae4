package train

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
)

// Configs the tests run: GQA with q/k/v bias and separate lm_head (Qwen2), Llama with
// attention_bias (o bias too) and tied embeddings, and Mistral with a sliding window.
var testConfigs = map[string]string{
	"qwen2": `{"architectures": ["Qwen2ForCausalLM"], "vocab_size": 37, "hidden_size": 32,
	  "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
	  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
	  "rope_theta": 10000, "tie_word_embeddings": false}`,
	"llama-bias-tied": `{"architectures": ["LlamaForCausalLM"], "vocab_size": 29, "hidden_size": 24,
	  "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 3,
	  "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
	  "rope_theta": 500000, "attention_bias": true, "tie_word_embeddings": true,
	  "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
	    "original_max_position_embeddings": 16}}`,
	"mistral-window": `{"architectures": ["MistralForCausalLM"], "vocab_size": 31, "hidden_size": 16,
	  "intermediate_size": 24, "num_hidden_layers": 1, "num_attention_heads": 4,
	  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
	  "sliding_window": 3}`,
}

func parseConfig(t testing.TB, js string) *model.Config {
	t.Helper()
	c, err := model.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testWeights draws weights for c with biases and norms away from their neutral values,
// so that dropping one shows.
func testWeights(c *model.Config, seed uint64) *model.Weights {
	w := model.RandomWeights(c, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	perturb := func(x []float32, center, scale float64) {
		for i := range x {
			x[i] = float32(center + scale*rng.NormFloat64())
		}
	}
	for i := range w.Layers {
		l := &w.Layers[i]
		perturb(l.AttnNorm, 1, 0.3)
		perturb(l.MLPNorm, 1, 0.3)
		for _, lin := range []model.Linear{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			d := lin.(*model.Dense)
			if d.B != nil {
				perturb(d.B, 0, 0.1)
			}
			perturb(d.W, 0, 0.15)
		}
	}
	perturb(w.Norm, 1, 0.3)
	perturb(w.Embed, 0, 0.5)
	return w
}

func randomTokens(rng *rand.Rand, n, V int) []int {
	x := make([]int, n)
	for i := range x {
		x[i] = rng.IntN(V)
	}
	return x
}

// cpuLogits runs each of the B sequences of inputs through model.CPU and returns the
// logits of every position, [B*T, V].
func cpuLogits(t *testing.T, c *model.Config, w *model.Weights, inputs []int, B, T int) []float32 {
	t.Helper()
	e, err := model.NewCPU(&model.Model{Config: c, Weights: w}, model.CPUOptions{MaxSeqs: 1, Context: T})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, B*T*c.VocabSize)
	var batch model.Batch
	for b := range B {
		e.Clear(0)
		batch.Reset()
		for i := range T {
			batch.Add(inputs[b*T+i], i, 0, true)
		}
		if err := e.Forward(&batch); err != nil {
			t.Fatal(err)
		}
		for i := range T {
			if err := e.Logits(out[(b*T+i)*c.VocabSize:][:c.VocabSize], i); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestLogitsMatchCPU holds the training forward to the reference forward of package
// model: same weights, same logits within 1e-5, in float32 and in float64.
func TestLogitsMatchCPU(t *testing.T) {
	for name, js := range testConfigs {
		t.Run(name, func(t *testing.T) {
			c := parseConfig(t, js)
			const B, T = 3, 7
			w := testWeights(c, 3)
			inputs := randomTokens(rand.New(rand.NewPCG(5, 5)), B*T, c.VocabSize)
			want := cpuLogits(t, c, w, inputs, B, T)
			check := func(t *testing.T, got []float64) {
				var maxDiff, maxAbs float64
				for i, v := range want {
					maxDiff = max(maxDiff, math.Abs(got[i]-float64(v)))
					maxAbs = max(maxAbs, math.Abs(float64(v)))
				}
				t.Logf("max |logit| %.3g, max diff %.3g", maxAbs, maxDiff)
				if maxDiff > 1e-5 {
					t.Errorf("logits differ from model.CPU by %.3g, want ≤ 1e-5", maxDiff)
				}
			}
			t.Run("float32", func(t *testing.T) {
				m := newWithWeights[float32](t, c, w, B, T)
				if _, err := m.Forward(inputs, nil, nil); err != nil {
					t.Fatal(err)
				}
				check(t, widen(m.Logits()))
			})
			t.Run("float64", func(t *testing.T) {
				m := newWithWeights[float64](t, c, w, B, T)
				if _, err := m.Forward(inputs, nil, nil); err != nil {
					t.Fatal(err)
				}
				check(t, m.Logits())
			})
		})
	}
}

func newWithWeights[E Float](t testing.TB, c *model.Config, w *model.Weights, B, T int) *Model[E] {
	t.Helper()
	m, err := New[E](c, Options{B: B, T: T, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	return m
}

func widen[E Float](x []E) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// TestWeightsRoundTrip writes a model as safetensors, loads it with package model, and
// checks every tensor and the logits of model.CPU over the loaded weights.
func TestWeightsRoundTrip(t *testing.T) {
	for name, js := range testConfigs {
		t.Run(name, func(t *testing.T) {
			c := parseConfig(t, js)
			const B, T = 2, 5
			m, err := New[float32](c, Options{B: B, T: T, Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if int64(len(m.Params)) != c.Params() {
				t.Fatalf("%d parameters, config says %d", len(m.Params), c.Params())
			}
			var buf bytes.Buffer
			if err := m.WriteSafetensors(&buf); err != nil {
				t.Fatal(err)
			}
			ck, err := safetensors.OpenCheckpoint(fstest.MapFS{"model.safetensors": {Data: buf.Bytes()}})
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			w, err := model.LoadWeights(c, ck)
			if err != nil {
				t.Fatal(err)
			}
			direct := m.Weights()
			for _, tn := range m.Tensors() {
				got := tensorOf(t, w, tn.Name)
				want := m.Params[tn.Offset : tn.Offset+tn.Len()]
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: loaded tensor differs", tn.Name)
				}
				if fmt.Sprint(tensorOf(t, direct, tn.Name)) != fmt.Sprint(want) {
					t.Fatalf("%s: Weights() tensor differs", tn.Name)
				}
			}
			inputs := randomTokens(rand.New(rand.NewPCG(1, 2)), B*T, c.VocabSize)
			want := cpuLogits(t, c, w, inputs, B, T)
			if _, err := m.Forward(inputs, nil, nil); err != nil {
				t.Fatal(err)
			}
			for i, v := range m.Logits() {
				if math.Abs(float64(v-want[i])) > 1e-5 {
					t.Fatalf("logit %d: %g, model.CPU over the written checkpoint %g", i, v, want[i])
				}
			}
		})
	}
}

// tensorOf finds a tensor of w by its Hugging Face name.
func tensorOf(t *testing.T, w *model.Weights, name string) []float32 {
	t.Helper()
	switch name {
	case "model.embed_tokens.weight":
		return w.Embed
	case "model.norm.weight":
		return w.Norm
	case "lm_head.weight":
		return w.LMHead
	}
	for i, l := range w.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		switch name {
		case p + "input_layernorm.weight":
			return l.AttnNorm
		case p + "post_attention_layernorm.weight":
			return l.MLPNorm
		}
		for _, mn := range model.MatrixNames(i) {
			d := w.Linears[mn].(*model.Dense)
			switch name {
			case mn + ".weight":
				return d.W
			case mn + ".bias":
				return d.B
			}
		}
	}
	t.Fatalf("no tensor %s", name)
	return nil
}

// TestStepAllocs checks that a training step — forward, backward, AdamW — allocates
// nothing once the model and optimiser exist (llm.c: memory planned once).
func TestStepAllocs(t *testing.T) {
	c := parseConfig(t, testConfigs["qwen2"])
	const B, T = 4, 16
	m, err := New[float32](c, Options{B: B, T: T, Seed: 1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	inputs, targets := randomTokens(rng, B*T, c.VocabSize), randomTokens(rng, B*T, c.VocabSize)
	opt := NewAdamW(DefaultAdamW(), len(m.Params))
	opt.Decay = m.MatrixSpans()
	step := func() {
		if _, err := m.Forward(inputs, targets, nil); err != nil {
			t.Fatal(err)
		}
		m.ZeroGrad()
		m.Backward()
		opt.Update(m.Params, m.Grads)
	}
	step()
	if n := testing.AllocsPerRun(5, step); n != 0 {
		t.Errorf("a training step allocates %v times, want 0", n)
	}
}

// TestMatrixSpans checks that weight decay's ranges are exactly the 2-D tensors, sorted.
func TestMatrixSpans(t *testing.T) {
	for name, js := range testConfigs {
		c := parseConfig(t, js)
		m, err := New[float32](c, Options{B: 1, T: 2})
		if err != nil {
			t.Fatal(err)
		}
		in := make([]bool, len(m.Params))
		at := 0
		for _, s := range m.MatrixSpans() {
			if s[0] < at || s[1] <= s[0] {
				t.Fatalf("%s: spans %v not sorted and disjoint", name, m.MatrixSpans())
			}
			at = s[1]
			for i := s[0]; i < s[1]; i++ {
				in[i] = true
			}
		}
		for _, tn := range m.Tensors() {
			for i := tn.Offset; i < tn.Offset+tn.Len(); i++ {
				if in[i] != (len(tn.Shape) == 2) {
					t.Fatalf("%s: %s element %d: in a decay span %v, but the tensor has shape %v", name, tn.Name, i, in[i], tn.Shape)
				}
			}
		}
		m.Close()
	}
}

// TestNewSeed checks that the initial weights depend on the seed and on nothing else,
// and follow the documented initialisation.
func TestNewSeed(t *testing.T) {
	c := parseConfig(t, testConfigs["llama-bias-tied"])
	a, _ := New[float32](c, Options{B: 1, T: 4, Seed: 1})
	b, _ := New[float32](c, Options{B: 2, T: 8, Seed: 1, Workers: 1})
	d, _ := New[float32](c, Options{B: 1, T: 4, Seed: 2})
	defer a.Close()
	defer b.Close()
	defer d.Close()
	if fmt.Sprint(a.Params) != fmt.Sprint(b.Params) {
		t.Error("the same seed gave different weights")
	}
	if fmt.Sprint(a.Params) == fmt.Sprint(d.Params) {
		t.Error("different seeds gave the same weights")
	}
	for _, tn := range a.Tensors() {
		x := widen(a.Params[tn.Offset : tn.Offset+tn.Len()])
		var mean, sq float64
		for _, v := range x {
			mean += v / float64(len(x))
			sq += v * v / float64(len(x))
		}
		std := math.Sqrt(sq - mean*mean)
		switch {
		case strings.HasSuffix(tn.Name, "norm.weight"):
			for _, v := range x {
				if v != 1 {
					t.Fatalf("%s: %g, want all 1", tn.Name, v)
				}
			}
		case strings.HasSuffix(tn.Name, ".bias"):
			if sq != 0 {
				t.Errorf("%s: not zero", tn.Name)
			}
		default:
			want := 0.02
			if strings.Contains(tn.Name, "o_proj") || strings.Contains(tn.Name, "down_proj") {
				want /= math.Sqrt(2 * float64(c.NLayers))
			}
			if math.Abs(std-want) > 0.25*want {
				t.Errorf("%s: std %.4f, want ≈ %.4f", tn.Name, std, want)
			}
		}
	}
}
