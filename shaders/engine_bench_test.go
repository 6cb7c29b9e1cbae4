package shaders

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/enginetest"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// BenchmarkEngineSmolLM2 measures the GPU engine on a random SmolLM2-135M-shaped int8
// MLP pack: load time, time to recompose every adapted matrix for a new z, the kernels a
// decode step dispatches (dispatches/tok), and greedy decode tokens/s after a 32-token
// prompt — Engine.Generate, the token chained on the device (gpu-tok/s), and
// Forward + Sample with each id read back before the next step (gpu-sync-tok/s) — next
// to the CPU engine's on the same pack (cpu-tok/s: W' in float32, the engine's
// reference; cpu-int8-tok/s: its int8 path, LoadInt8 with Go's kernels, what t2 runs by
// default). On the GPU engine W' is Q8 (the default); f32-tok/s is
// the chained decode with W' in float32 (MergedF32). gpu-prefill-tok/s and
// cpu-int8-prefill-tok/s are a 128-token prompt's forward pass. Run with -benchtime 1x: the
// conversion takes minutes.
func BenchmarkEngineSmolLM2(b *testing.B) {
	d := device(b)
	src := b.TempDir()
	cfg, err := model.ParseConfig([]byte(fixtures.SmolLM2Config))
	if err != nil {
		b.Fatal(err)
	}
	if err := model.WriteCheckpoint(src, []byte(fixtures.SmolLM2Config), model.RandomWeights(cfg, 1), safetensors.BF16); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "tokenizer.json"), tokenizer.ByteLevelJSON([]string{"<|endoftext|>"}), 0o644)
	os.WriteFile(filepath.Join(src, "tokenizer_config.json"), []byte(`{"eos_token": "<|endoftext|>"}`), 0o644)
	dir := filepath.Join(b.TempDir(), "pack")
	if _, err := convert.Convert(os.DirFS(src), dir, convert.Options{}); err != nil {
		b.Fatal(err)
	}
	p, err := svf.OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		gpu, err := NewEngine(d, p.Pack, EngineOptions{Context: 512})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "load-s")
		rng := rand.New(rand.NewPCG(5, 6))
		z := map[string][]float32{}
		for _, name := range p.Manifest.Matrices {
			r, _ := p.Rank(name)
			z[name] = make([]float32, r)
			for i := range z[name] {
				z[name][i] = float32(0.5 + rng.Float64())
			}
		}
		start = time.Now()
		if err := gpu.SetZ(z); err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "recompose-s")
		perLayer, outside, err := gpu.DecodeDispatches()
		if err != nil {
			b.Fatal(err)
		}
		n := outside
		for _, k := range perLayer {
			n += k
		}
		b.ReportMetric(float64(n), "dispatches/tok")
		b.ReportMetric(generateRate(b, gpu), "gpu-tok/s")
		b.ReportMetric(decodeRate(b, gpu), "gpu-sync-tok/s")
		b.ReportMetric(prefillRate(b, gpu), "gpu-prefill-tok/s")
		gpu.Close()
		f32, err := NewEngine(d, p.Pack, EngineOptions{Context: 512, MergedF32: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(generateRate(b, f32), "f32-tok/s")
		f32.Close()
	}
	b.StopTimer()
	m, err := p.Load(svf.MergedPath)
	if err != nil {
		b.Fatal(err)
	}
	cpu, err := model.NewCPU(m, model.CPUOptions{Context: 512})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(decodeRate(b, cpu), "cpu-tok/s")
	// The CPU engine as t2 and the page run an int8 pack: W' in Q8 blocks, int8 kernels.
	mq, err := p.LoadInt8(nil)
	if err != nil {
		b.Fatal(err)
	}
	cpuQ8, err := model.NewCPU(mq, model.CPUOptions{Context: 512})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(decodeRate(b, cpuQ8), "cpu-int8-tok/s")
	b.ReportMetric(prefillRate(b, cpuQ8), "cpu-int8-prefill-tok/s")
}

// prefillRate returns prompt tokens per second of a 128-token prompt's forward pass (the
// last row's logits, its greedy token read back), after one pass not timed.
func prefillRate(b *testing.B, e model.Engine) float64 {
	const n = 128
	var batch model.Batch
	for i := range n {
		batch.Add(i, i, 0, i == n-1)
	}
	var elapsed time.Duration
	for run := range 2 {
		e.Clear(0)
		start := time.Now()
		if err := e.Forward(&batch); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Sample(0, model.Greedy()); err != nil {
			b.Fatal(err)
		}
		if run == 1 {
			elapsed = time.Since(start)
		}
	}
	return n / elapsed.Seconds()
}

// generateRate returns greedy tokens per second of Generate after a 32-token prompt:
// 32 tokens, timed from the first to the last.
func generateRate(b *testing.B, e model.Engine) float64 {
	prompt := make([]int, 32)
	for i := range prompt {
		prompt[i] = i
	}
	var first, last time.Time
	n := 0
	if _, err := Generate(context.Background(), e, prompt, model.Greedy(), 33, nil, func(int) {
		last = time.Now()
		if n == 0 {
			first = last
		}
		n++
	}); err != nil {
		b.Fatal(err)
	}
	return float64(n-1) / last.Sub(first).Seconds()
}

// decodeRate returns greedy decode steps (Forward, then Sample) per second after a
// 32-token prompt.
func decodeRate(b *testing.B, e model.Engine) float64 {
	var batch model.Batch
	for i := range 32 {
		batch.Add(i, i, 0, i == 31)
	}
	e.Clear(0)
	if err := e.Forward(&batch); err != nil {
		b.Fatal(err)
	}
	s := model.Greedy()
	id, err := e.Sample(0, s)
	if err != nil {
		b.Fatal(err)
	}
	const steps = 32
	start := time.Now()
	for i := range steps {
		batch.Reset()
		batch.Add(id, 32+i, 0, true)
		if err := e.Forward(&batch); err != nil {
			b.Fatal(err)
		}
		if id, err = e.Sample(0, s); err != nil {
			b.Fatal(err)
		}
	}
	return steps / time.Since(start).Seconds()
}

// populationBenchConfig has SmolLM2-135M's layer and vocabulary shapes (hidden 576,
// 9/3 heads, MLP 1536, vocabulary 49152) and two of its 30 layers.
const populationBenchConfig = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
  "intermediate_size": 1536, "num_hidden_layers": 2, "num_attention_heads": 9,
  "num_key_value_heads": 3, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
  "rope_theta": 100000, "tie_word_embeddings": true, "eos_token_id": 256
}`

// BenchmarkPopulation measures one CEM iteration's evaluation — 32 candidates (random
// z on every adapted matrix) × 4 sequences of 8 tokens, logits of each sequence's last
// row — as one population forward (SetPopulation, then a batch of 1024 rows tagged
// with their candidates) against 32 rounds of SetZ and a plain forward of 32 rows, on
// the GPU engine and the CPU engine, over an int8 MLP pack of two SmolLM2-135M-shaped
// layers. The CPU engine loads the pack on the factored path (SetZ is free there; the
// merged path would recompose every matrix per candidate). ms/eval is the time of one
// whole evaluation. Run with -benchtime 1x.
func BenchmarkPopulation(b *testing.B) {
	const P, S, L = 32, 4, 8
	p := randomPack(b, populationBenchConfig, 1, convert.Options{Quant: pack.QuantInt8})
	zs := enginetest.RandomZs(ranks(p), P, -1, 9)
	prompts := make([][]int, S)
	for i := range prompts {
		for j := range L {
			prompts[i] = append(prompts[i], (i*131+j*17)%256)
		}
	}
	m, err := p.Load(svf.FactoredPath)
	if err != nil {
		b.Fatal(err)
	}
	cpu, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: P * S, Context: 64})
	if err != nil {
		b.Fatal(err)
	}
	d := device(b)
	gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxSeqs: P * S, Context: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer gpu.Close()
	// wait reads one row of logits, so the GPU's queue has run.
	row := make([]float32, m.Config.VocabSize)
	wait := func(e model.Engine) {
		if err := e.Logits(row, 0); err != nil {
			b.Fatal(err)
		}
	}
	batched := func(e model.Engine) {
		if err := e.SetPopulation(zs); err != nil {
			b.Fatal(err)
		}
		var batch model.Batch
		for s := range P * S {
			e.Clear(s)
		}
		for c := range P {
			for i, pr := range prompts {
				for pos, id := range pr {
					batch.AddCand(id, pos, c*S+i, c, pos == L-1)
				}
			}
		}
		if err := e.Forward(&batch); err != nil {
			b.Fatal(err)
		}
		wait(e)
	}
	sequential := func(e model.Engine) {
		var batch model.Batch
		for _, z := range zs {
			if err := e.SetZ(z); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
			for i, pr := range prompts {
				e.Clear(i)
				for pos, id := range pr {
					batch.Add(id, pos, i, pos == L-1)
				}
			}
			if err := e.Forward(&batch); err != nil {
				b.Fatal(err)
			}
			wait(e)
		}
	}
	for _, eng := range []struct {
		name string
		e    model.Engine
	}{{"gpu", gpu}, {"cpu", cpu}} {
		for _, mode := range []struct {
			name string
			run  func(model.Engine)
		}{{"batched", batched}, {"sequential", sequential}} {
			b.Run(eng.name+"/"+mode.name, func(b *testing.B) {
				mode.run(eng.e) // compile kernels and record the passes first
				b.ResetTimer()
				for range b.N {
					mode.run(eng.e)
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/eval")
			})
		}
	}
}
