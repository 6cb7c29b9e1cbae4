package shaders

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/svf"
)

// BenchmarkEngineSmolLM2 measures the GPU engine on a random SmolLM2-135M-shaped int8
// MLP pack: load time, time to recompose every adapted matrix for a new z, and greedy
// decode tokens/s (Forward + Sample, one id read back per token) after a 32-token
// prompt, next to the CPU engine's on the same pack. Run with -benchtime 1x: the
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
	if _, err := svf.Convert(os.DirFS(src), dir, svf.ConvertOptions{}); err != nil {
		b.Fatal(err)
	}
	p, err := svf.OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		gpu, err := NewEngine(d, p, EngineOptions{Context: 512})
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
		b.ReportMetric(decodeRate(b, gpu), "gpu-tok/s")
		gpu.Close()
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
