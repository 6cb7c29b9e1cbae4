package model

import (
	"fmt"
	"testing"
)

// smolLM2Config is shaped like SmolLM2-135M: hidden 576, 30 layers, 9 heads, 3 KV heads,
// intermediate 1536, vocabulary 49152, tied embeddings.
const smolLM2Config = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
  "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
  "num_key_value_heads": 3, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
  "rope_theta": 100000, "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0
}`

func randomModel(b *testing.B, config string) *Model {
	b.Helper()
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		b.Fatal(err)
	}
	return &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
}

// BenchmarkDecode measures one-token decode steps after a 64-token prompt.
func BenchmarkDecode(b *testing.B) {
	m := randomModel(b, smolLM2Config)
	e, err := NewCPU(m, CPUOptions{Context: 1024})
	if err != nil {
		b.Fatal(err)
	}
	var batch Batch
	for i := range 64 {
		batch.Add(i, i, 0, i == 63)
	}
	if err := e.Forward(&batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	pos := 64
	for i := 0; i < b.N; i++ {
		if pos == e.Context() {
			pos = 64
		}
		batch.Reset()
		batch.Add(i%m.Config.VocabSize, pos, 0, true)
		if err := e.Forward(&batch); err != nil {
			b.Fatal(err)
		}
		pos++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkPrefill measures prompt processing, logits for the last token only.
func BenchmarkPrefill(b *testing.B) {
	m := randomModel(b, smolLM2Config)
	for _, T := range []int{64, 256} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			e, err := NewCPU(m, CPUOptions{Context: T})
			if err != nil {
				b.Fatal(err)
			}
			var batch Batch
			for i := range T {
				batch.Add(i, i, 0, i == T-1)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Clear(0)
				if err := e.Forward(&batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*T)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
