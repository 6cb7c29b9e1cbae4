package shaders

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// runBench times batch: one warm-up (kernels compile on their first dispatch), then b.N
// submits and a wait. bytes per submit go to b.SetBytes (GB/s); flops, when > 0, to a
// GFLOP/s metric.
func runBench(b *testing.B, d *Device, batch *Batch, bytes, flops float64) {
	b.Helper()
	if err := batch.Run(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	for range b.N {
		if err := batch.Submit(); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if flops > 0 {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
}

// BenchmarkCopy is the yardstick: bytes read plus bytes written per second.
func BenchmarkCopy(b *testing.B) {
	d := device(b)
	for _, mib := range []int{4, 64} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			n := mib << 20
			src, dst := must(d.NewBuffer("src", uint64(n))), must(d.NewBuffer("dst", uint64(n)))
			batch := d.NewBatch("copy")
			batch.Copy(dst, src, n)
			runBench(b, d, batch, float64(2*n), 0)
			batch.Release()
			src.Release()
			dst.Release()
		})
	}
}

var matvecBenchShapes = []struct {
	name    string
	out, in int
}{
	{"smollm2-up-1536x576", 1536, 576},
	{"smollm2-down-576x1536", 576, 1536},
	{"8192x2048", 8192, 2048},
}

// BenchmarkMatVec is decode's matvec (T = 1); GB/s counts the weight bytes.
func BenchmarkMatVec(b *testing.B) {
	d := device(b)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range matvecBenchShapes {
		x := must(d.NewBufferF32("x", randVec(rng, s.in, 1)))
		y := must(d.NewBuffer("y", uint64(4*s.out)))
		b.Run("f32/"+s.name, func(b *testing.B) {
			w := must(d.NewBufferF32("w", randVec(rng, s.out*s.in, 1)))
			batch := d.NewBatch("matvec")
			batch.MatMul(y, x, w, nil, 1, s.in, s.out)
			runBench(b, d, batch, float64(4*s.out*s.in), 2*float64(s.out*s.in))
			batch.Release()
			w.Release()
		})
		b.Run("q8/"+s.name, func(b *testing.B) {
			q, scale := quantize(randVec(rng, s.out*s.in, 1), s.out, s.in)
			w := must(d.NewQ8("w", s.out, s.in))
			must(0, d.WriteQ8(w, q, scale))
			batch := d.NewBatch("matvecq8")
			batch.MatMulQ8(y, x, w, nil, 1)
			runBench(b, d, batch, float64(s.out*s.in+4*s.out*w.Blocks()), 2*float64(s.out*s.in))
			batch.Release()
			w.Release()
		})
		b.Run("fused-f32/"+s.name, func(b *testing.B) {
			w := must(d.NewBufferF32("w", randVec(rng, s.out*s.in, 1)))
			batch := d.NewBatch("matvec")
			batch.MatVecFused(y, s.out, 0, false, x, LinearF32(w, s.out, s.in), MV{T: 1, BiasOff: -1})
			runBench(b, d, batch, float64(4*s.out*s.in), 2*float64(s.out*s.in))
			batch.Release()
			w.Release()
		})
		b.Run("fused-q8/"+s.name, func(b *testing.B) {
			q, scale := quantize(randVec(rng, s.out*s.in, 1), s.out, s.in)
			w := must(d.NewQ8("w", s.out, s.in))
			must(0, d.WriteQ8(w, q, scale))
			batch := d.NewBatch("matvecq8")
			batch.MatVecFused(y, s.out, 0, false, x, LinearQ8(w), MV{T: 1, BiasOff: -1})
			runBench(b, d, batch, float64(s.out*s.in+4*s.out*w.Blocks()), 2*float64(s.out*s.in))
			batch.Release()
			w.Release()
		})
		x.Release()
		y.Release()
	}
}

// BenchmarkRecompose is W'[m,n] = U·diag(s)·Vᵀ from Q8 factors (2·m·n·r flops) next to
// the plain f32 matmul of the same shape (y[m,n] = x[m,r]·w[n,r]ᵀ).
func BenchmarkRecompose(b *testing.B) {
	d := device(b)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, s := range []struct {
		name    string
		m, n, r int
	}{
		{"smollm2-up-1536x576", 1536, 576, 576},
		{"smollm2-down-576x1536", 576, 1536, 576},
	} {
		flops := 2 * float64(s.m*s.n*s.r)
		c := newSVFCase(rng, s.m, s.n, s.r, 1)
		f := c.upload(d, true)
		sc := must(d.NewBufferF32("s", c.sigma))
		w := must(d.NewBuffer("w", uint64(4*s.m*s.n)))
		b.Run("matmul-f32/"+s.name, func(b *testing.B) {
			x := must(d.NewBufferF32("x", c.uf))
			v := must(d.NewBufferF32("v", c.vf))
			batch := d.NewBatch("matmul")
			batch.MatMul(w, x, v, nil, s.m, s.r, s.n)
			runBench(b, d, batch, 0, flops)
			batch.Release()
			x.Release()
			v.Release()
		})
		b.Run("recompose-q8-to-f32/"+s.name, func(b *testing.B) {
			batch := d.NewBatch("recompose")
			batch.Recompose(w, f, sc)
			runBench(b, d, batch, 0, flops)
			batch.Release()
		})
		b.Run("recompose-q8-to-q8/"+s.name, func(b *testing.B) {
			wq := must(d.NewQ8("wq", s.m, s.n))
			batch := d.NewBatch("recomposeq8")
			batch.RecomposeQ8(wq, f, sc, w)
			runBench(b, d, batch, 0, flops)
			batch.Release()
			wq.Release()
		})
		f.release()
		sc.Release()
		w.Release()
	}
}
