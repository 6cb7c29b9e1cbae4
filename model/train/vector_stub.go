//go:build !(goexperiment.simd && amd64)

package train

// haveVector is false without GOEXPERIMENT=simd on amd64: the portable kernels run,
// and the vector ones below are never called.
const haveVector = false

func gemmRowsVector[E Float](c, a, b []E, i0, i1, N, K, ai, ap int, add bool) {
	panic("train: vector gemm without GOEXPERIMENT=simd")
}

func swigluForwardVector[E Float](out, fc []E, N, F int)                                { panic("train: no vector kernels") }
func swigluBackwardVector[E Float](dfc, dout, fc []E, N, F int)                         { panic("train: no vector kernels") }
func softmaxVector[E Float](x []E, scale E)                                             { panic("train: no vector kernels") }
func adamVector(c *adamStep, params, grads, m, v []float32, lo, hi int, wd float32) int { return lo }
