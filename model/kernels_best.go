//go:build !amd64

package model

// BestKernels returns the fastest kernels this CPU runs: GoKernels, off amd64 (where
// AVX2Kernels may run).
func BestKernels() Kernels { return GoKernels{} }
