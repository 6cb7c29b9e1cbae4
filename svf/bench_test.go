package svf_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// BenchmarkSmolLM2 measures, on a random SmolLM2-135M-shaped checkpoint (bf16): the
// conversion to an int8 MLP pack, its bytes against the bf16 checkpoint's, the time to
// recompose every adapted matrix for a new z, and decode tokens/s on the merged and the
// factored path, and on the int8 path (LoadInt8, Go's kernels: its load, which
// recomposes at z = 1, and its SetZ). Run with -benchtime 1x: one conversion takes
// minutes.
func BenchmarkSmolLM2(b *testing.B) {
	src := packtest.Checkpoint(b, fixtures.SmolLM2Config, 1)
	dense, _ := os.Stat(filepath.Join(src, "model.safetensors"))
	var dir string
	var p *svf.Pack
	for range b.N {
		dir, p = newPack(b, src, convert.Options{})
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "convert-s")
	var packBytes int64
	for _, s := range p.Manifest.Shards {
		packBytes += s.Bytes
	}
	b.ReportMetric(float64(packBytes)/(1<<20), "pack-MiB")
	b.ReportMetric(float64(dense.Size())/(1<<20), "bf16-MiB")
	b.Logf("pack %s: %d matrices, %d bytes; bf16 checkpoint %d bytes (ratio %.3f)",
		dir, len(p.Manifest.Matrices), packBytes, dense.Size(), float64(packBytes)/float64(dense.Size()))

	m, merged := packtest.Load(b, p, svf.MergedPath)
	z := packtest.RandomZ(p, 5, 0.5, 1.5)
	start := time.Now()
	if err := m.Weights.SetZ(z); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "recompose-s")
	_, factored := packtest.Load(b, p, svf.FactoredPath)
	if err := factored.SetZ(z); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	mq, err := p.LoadInt8(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "load-int8-s")
	start = time.Now()
	if err := mq.Weights.SetZ(z); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "recompose-int8-s")
	int8, err := model.NewCPU(mq, model.CPUOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range []struct {
		name string
		e    *model.CPU
	}{{"merged", merged}, {"factored", factored}, {"int8", int8}} {
		b.ReportMetric(decodeRate(b, e.e), e.name+"-tok/s")
	}
}

// decodeRate returns one-token decode steps per second after a 32-token prompt.
func decodeRate(b *testing.B, e *model.CPU) float64 {
	var batch model.Batch
	for i := range 32 {
		batch.Add(i, i, 0, i == 31)
	}
	e.Clear(0)
	if err := e.Forward(&batch); err != nil {
		b.Fatal(err)
	}
	const steps = 16
	start := time.Now()
	for i := range steps {
		batch.Reset()
		batch.Add(i, 32+i, 0, true)
		if err := e.Forward(&batch); err != nil {
			b.Fatal(err)
		}
	}
	return steps / time.Since(start).Seconds()
}

// BenchmarkPopulationApply times one adapted matrix of the demo's MLP shape (512×192,
// rank 192, the 48 largest directions exact) applied to 40 rows under one candidate, as
// the first pass runs it: the int8 kernels (ApplyPopulationQ8, the int8 path's) against
// the f32 factored reference (ApplyPopulation), with Go's kernels.
func BenchmarkPopulationApply(b *testing.B) {
	const m, n, r, k, T = 512, 192, 192, 48, 40
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(x []float32) []float32 {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	u, v := model.NewQ8(m, r-k), model.NewQ8(n, r-k)
	u.QuantizeRows(fill(make([]float32, m*(r-k))), m, r-k)
	v.QuantizeRows(fill(make([]float32, n*(r-k))), n, r-k)
	sigma := fill(make([]float32, r))
	for i := range sigma {
		sigma[i] = 1 + float32(r-i)
	}
	l, err := svf.NewMergedQ8(m, n, r, k, u, v, fill(make([]float32, m*k)), fill(make([]float32, n*k)), sigma, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.SetPopulation([][]float32{nil}); err != nil {
		b.Fatal(err)
	}
	x, y, cand := fill(make([]float32, T*n)), make([]float32, T*m), make([]int, T)
	var xq model.Q8
	kern := model.GoKernels{}
	b.Run("int8", func(b *testing.B) {
		for range b.N {
			model.Quantize(kern, &xq, x, T, n)
			l.ApplyPopulationQ8(kern, y, x, &xq, cand)
		}
		b.ReportMetric(float64(b.N*T)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("f32", func(b *testing.B) {
		for range b.N {
			l.ApplyPopulation(y, x, cand, T)
		}
		b.ReportMetric(float64(b.N*T)/b.Elapsed().Seconds(), "rows/s")
	})
}
