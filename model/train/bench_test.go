package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
)

// benchConfigs are model sizes around the demo's: byte-level vocabulary (259), heads of
// 32 over 2 key/value heads, MLP ≈ 8/3·D.
var benchConfigs = []struct {
	name            string
	D, L, H, Hkv, F int
}{
	{"d128-l4", 128, 4, 4, 2, 352},
	{"d192-l6", 192, 6, 6, 2, 512},
	{"d256-l6", 256, 6, 8, 2, 704},
}

func benchConfig(b *testing.B, D, L, H, Hkv, F int) *model.Config {
	return parseConfig(b, fmt.Sprintf(`{"architectures": ["LlamaForCausalLM"], "vocab_size": 259,
	  "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
	  "num_key_value_heads": %d, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
	  "tie_word_embeddings": true}`, D, F, L, H, Hkv))
}

// BenchmarkTrainStep measures training steps on B=8 sequences of T=128 tokens: forward,
// backward, AdamW; tok/s counts the B·T tokens of a step. GOEXPERIMENT=simd selects the
// vector kernels (see vector.go).
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			c := benchConfig(b, bc.D, bc.L, bc.H, bc.Hkv, bc.F)
			const B, T = 8, 128
			m, err := New[float32](c, Options{B: B, T: T, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			rng := rand.New(rand.NewPCG(1, 1))
			inputs, targets := randomTokens(rng, B*T, c.VocabSize), randomTokens(rng, B*T, c.VocabSize)
			opt := NewAdamW(DefaultAdamW(), len(m.Params))
			opt.Decay = m.MatrixSpans()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Forward(inputs, targets, nil); err != nil {
					b.Fatal(err)
				}
				m.ZeroGrad()
				m.Backward()
				opt.Update(m.Params, m.Grads)
			}
			b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric(float64(len(m.Params))/1e6, "Mparams")
		})
	}
}

// BenchmarkForward measures the forward pass alone, with the loss, for the d192-l6
// model.
func BenchmarkForward(b *testing.B) {
	bc := benchConfigs[1]
	c := benchConfig(b, bc.D, bc.L, bc.H, bc.Hkv, bc.F)
	const B, T = 8, 128
	m, err := New[float32](c, Options{B: B, T: T, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	inputs, targets := randomTokens(rng, B*T, c.VocabSize), randomTokens(rng, B*T, c.VocabSize)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := m.Forward(inputs, targets, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tok/s")
}
