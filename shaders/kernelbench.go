package shaders

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// KernelTime is one kernel timed by BenchKernels: Bytes it must move and Flops it does
// per run, and the seconds a run took on average over Runs.
type KernelTime struct {
	Name         string
	Runs         int
	Seconds      float64
	Bytes, Flops float64
}

// GBps is the kernel's bandwidth, Bytes per second in 10⁹.
func (k KernelTime) GBps() float64 { return k.Bytes / k.Seconds / 1e9 }

// GFLOPs is the kernel's arithmetic rate, Flops per second in 10⁹.
func (k KernelTime) GFLOPs() float64 { return k.Flops / k.Seconds / 1e9 }

// BenchKernels times, on d, the figures that say how well the engine uses an adapter
// (the page's benchmark; bench_test.go has the same natively, per kernel): a plain copy
// (read plus written bytes), the matvecs with f32 and Q8 weights (weight bytes) — the
// kernel-by-kernel ones and the fused decode ones —
// the recomposition W'[m,n] = U·diag(s)·Vᵀ from Q8 factors and a plain f32 matmul of the
// same m×n×r (2·m·n·r flops). Each kernel is compiled and run once, then submitted
// repeatedly for about seconds.
func BenchKernels(d *Device, seconds float64) ([]KernelTime, error) {
	rng := rand.New(rand.NewPCG(1, 1))
	var out []KernelTime
	var owned []*Buffer
	defer func() {
		for _, b := range owned {
			b.Release()
		}
	}()
	buf := func(label string, x []float32) (*Buffer, error) {
		b, err := d.NewBufferF32(label, x)
		if err == nil {
			owned = append(owned, b)
		}
		return b, err
	}
	q8 := func(label string, rows, cols int) (Q8, error) {
		x, err := d.NewQ8(label, rows, cols)
		if err != nil {
			return x, err
		}
		owned = append(owned, x.Q, x.Scale)
		q := make([]int8, rows*cols)
		for i := range q {
			q[i] = int8(rng.IntN(255) - 127)
		}
		scale := make([]float32, rows*x.Blocks())
		for i := range scale {
			scale[i] = 1.0 / 127
		}
		return x, d.WriteQ8(x, q, scale)
	}
	time1 := func(name string, bytes, flops float64, record func(*Batch)) error {
		b := d.NewBatch(name)
		defer b.Release()
		record(b)
		k, err := timeBatch(d, b, seconds)
		if err != nil {
			return fmt.Errorf("shaders: bench %s: %w", name, err)
		}
		k.Name, k.Bytes, k.Flops = name, bytes, flops
		out = append(out, k)
		return nil
	}

	const copyBytes = 64 << 20
	src, err := buf("src", make([]float32, copyBytes/4))
	if err != nil {
		return nil, err
	}
	dst, err := buf("dst", make([]float32, copyBytes/4))
	if err != nil {
		return nil, err
	}
	if err := time1("copy/64MiB", 2*copyBytes, 0, func(b *Batch) { b.Copy(dst, src, copyBytes) }); err != nil {
		return nil, err
	}
	// What a dispatch costs beyond its work: 100 adds of 192 values (a demo model's row) in
	// one batch; the time is the batch's.
	tiny, err := buf("tiny", make([]float32, 192))
	if err != nil {
		return nil, err
	}
	if err := time1("dispatches-100/add-192", 0, 0, func(b *Batch) {
		for range 100 {
			b.Add(tiny, src, 192)
		}
	}); err != nil {
		return nil, err
	}

	for _, s := range []struct{ out, in int }{{1536, 576}, {8192, 2048}} {
		shape := fmt.Sprintf("%dx%d", s.out, s.in)
		x, err := buf("x", randF32(rng, s.in))
		if err != nil {
			return nil, err
		}
		y, err := buf("y", make([]float32, s.out))
		if err != nil {
			return nil, err
		}
		w, err := buf("w", randF32(rng, s.out*s.in))
		if err != nil {
			return nil, err
		}
		flops := 2 * float64(s.out*s.in)
		if err := time1("matvec-f32/"+shape, float64(4*s.out*s.in), flops, func(b *Batch) {
			b.MatMul(y, x, w, nil, 1, s.in, s.out)
		}); err != nil {
			return nil, err
		}
		wq, err := q8("wq", s.out, s.in)
		if err != nil {
			return nil, err
		}
		if err := time1("matvec-q8/"+shape, float64(s.out*s.in+4*s.out*wq.Blocks()), flops, func(b *Batch) {
			b.MatMulQ8(y, x, wq, nil, 1)
		}); err != nil {
			return nil, err
		}
		// The decode kernels: fused.wgsl's matvec, plain (no norm, no epilogue).
		if err := time1("matvec-fused-f32/"+shape, float64(4*s.out*s.in), flops, func(b *Batch) {
			b.MatVecFused(y, s.out, 0, false, x, LinearF32(w, s.out, s.in), MV{T: 1, BiasOff: -1})
		}); err != nil {
			return nil, err
		}
		if err := time1("matvec-fused-q8/"+shape, float64(s.out*s.in+4*s.out*wq.Blocks()), flops, func(b *Batch) {
			b.MatVecFused(y, s.out, 0, false, x, LinearQ8(wq), MV{T: 1, BiasOff: -1})
		}); err != nil {
			return nil, err
		}
		// A prompt of 48 rows (a first pass's prefill) through the same Q8 weight.
		const T = 48
		xs, err := buf("x rows", randF32(rng, T*s.in))
		if err != nil {
			return nil, err
		}
		ys, err := buf("y rows", make([]float32, T*s.out))
		if err != nil {
			return nil, err
		}
		if err := time1(fmt.Sprintf("matmul-q8/%dx%s", T, shape), float64(s.out*s.in+4*s.out*wq.Blocks()), T*flops, func(b *Batch) {
			b.MatMulQ8(ys, xs, wq, nil, T)
		}); err != nil {
			return nil, err
		}
	}

	// SmolLM2-135M's up projection: W[1536,576] of full rank 576.
	m, n, r := 1536, 576, 576
	shape := fmt.Sprintf("%dx%dx%d", m, n, r)
	flops := 2 * float64(m*n*r)
	f := Factors{M: m, N: n, R: r}
	if f.U, err = q8("U", m, r); err != nil {
		return nil, err
	}
	if f.V, err = q8("V", n, r); err != nil {
		return nil, err
	}
	if f.Sigma, err = buf("sigma", randF32(rng, r)); err != nil {
		return nil, err
	}
	w, err := buf("w'", make([]float32, m*n))
	if err != nil {
		return nil, err
	}
	if err := time1("recompose-q8-to-f32/"+shape, 0, flops, func(b *Batch) { b.Recompose(w, f, f.Sigma) }); err != nil {
		return nil, err
	}
	a, err := buf("a", randF32(rng, m*r))
	if err != nil {
		return nil, err
	}
	bt, err := buf("b", randF32(rng, n*r))
	if err != nil {
		return nil, err
	}
	if err := time1("matmul-f32/"+shape, 0, flops, func(b *Batch) { b.MatMul(w, a, bt, nil, m, r, n) }); err != nil {
		return nil, err
	}
	return out, nil
}

// timeBatch runs b once (compiling its kernels), times one more run to size the loop,
// then times as many submits as fit in about seconds, waiting for the last.
func timeBatch(d *Device, b *Batch, seconds float64) (KernelTime, error) {
	if err := b.Run(); err != nil {
		return KernelTime{}, err
	}
	start := time.Now()
	if err := b.Run(); err != nil {
		return KernelTime{}, err
	}
	one := time.Since(start).Seconds()
	runs := max(1, min(1000, int(seconds/max(one, 1e-6))))
	start = time.Now()
	for range runs {
		if err := b.Submit(); err != nil {
			return KernelTime{}, err
		}
	}
	if err := d.Sync(); err != nil {
		return KernelTime{}, err
	}
	return KernelTime{Runs: runs, Seconds: time.Since(start).Seconds() / float64(runs)}, nil
}

// randF32 draws n values uniform in [-1, 1).
func randF32(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}
