package model

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
