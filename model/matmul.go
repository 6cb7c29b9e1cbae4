package model

import (
	"runtime"
	"sync"
)

// MatMul writes y[T,out] = x[T,in]·w[out,in]ᵀ, plus b[out] on every row when b is not nil,
// with Go's kernels (GoKernels.MatMulF32). Work is split over the output features, so
// each weight row is read once for all T rows.
func MatMul(y, x, w, b []float32, T, in, out int) { MatMulF32(GoKernels{}, y, x, w, b, T, in, out) }

// axpy adds a·x to y (same length); each product is rounded before the addition (no
// fused multiply-add), as the SIMD kernels do.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += float32(a * x[i])
	}
}

// parallelFor calls f on disjoint ranges covering [0, n), on up to GOMAXPROCS goroutines.
// cost is the work per index, in multiply-adds: small jobs run on the calling goroutine,
// where starting goroutines would cost more than they save.
func parallelFor(n, cost int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*cost < 1<<15 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
