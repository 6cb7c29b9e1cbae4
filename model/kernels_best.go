//go:build !(goexperiment.simd && amd64)

package model

// BestKernels returns the fastest kernels this build runs: GoKernels, as built without
// GOEXPERIMENT=simd on amd64 (which adds AVX2Kernels).
func BestKernels() Kernels { return GoKernels{} }
