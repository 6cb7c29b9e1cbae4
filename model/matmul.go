package model

import (
	"fmt"
	"runtime"
	"sync"
)

// MatMul writes y[T,out] = x[T,in]·w[out,in]ᵀ, plus b[out] on every row when b is not nil.
// Work is split over the output features, so each weight row is read once for all T rows.
func MatMul(y, x, w, b []float32, T, in, out int) {
	if len(y) < T*out || len(x) < T*in || len(w) < out*in || (b != nil && len(b) < out) {
		panic(fmt.Sprintf("model: MatMul: y[%d] x[%d] w[%d] b[%d] do not fit T=%d in=%d out=%d",
			len(y), len(x), len(w), len(b), T, in, out))
	}
	parallelFor(out, T*in, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := w[o*in : o*in+in]
			var bias float32
			if b != nil {
				bias = b[o]
			}
			for t := range T {
				y[t*out+o] = dot(x[t*in:t*in+in], row) + bias
			}
		}
	})
}

// dot is the inner product of a and b (same length), with four accumulators so the
// additions of neighbouring elements do not wait on each other.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds a·x to y (same length).
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
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
