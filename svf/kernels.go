package svf

import (
	"fmt"

	"github.com/t2web/t2web/model"
)

// The products of training in the page's kernels. Recompose and GradP accumulate in
// float64 in Go loops: the reference, and fast natively. In the page's wasm those loops
// cost as much as the whole forward and backward pass, which runs in the SIMD module, so
// the trainer worker recomposes and projects through model.Kernels' MatMulF32 instead,
// in float32 (TestKernelForms holds the two to each other).

// KernelScratch holds what the kernel forms of one matrix reuse: Vᵀ, an [M,R] product
// and the R scales. Allocated once per matrix.
type KernelScratch struct {
	vt, ms, s []float32 // Vᵀ[R,N]; an [M,R] product; c·σ⊙z
}

// NewKernelScratch returns the scratch of f's kernel forms.
func NewKernelScratch(f *Factors) *KernelScratch {
	return &KernelScratch{vt: transposeV(f), ms: make([]float32, f.M*f.R), s: make([]float32, f.R)}
}

// RecomposeKernels writes dst[M,N] = W' for z (nil: z = 1) as Recompose does, as one
// matmul (U·diag(s))[M,R]·Vᵀ in k.
func (f *Factors) RecomposeKernels(k model.Kernels, sc *KernelScratch, dst, z []float32) {
	m, n, r := f.M, f.N, f.R
	if len(dst) != m*n || (z != nil && len(z) != r) {
		panic(fmt.Sprintf("svf: RecomposeKernels: dst[%d] z[%d] do not fit W[%d,%d] of rank %d", len(dst), len(z), m, n, r))
	}
	c := nuclearScale(f.S, z)
	s := sc.s
	for i, x := range f.S {
		v := c * float64(x)
		if z != nil {
			v *= float64(z[i])
		}
		s[i] = float32(v)
	}
	us := sc.ms
	for i := range m {
		row := us[i*r : i*r+r]
		for j, u := range f.U[i*r : i*r+r] {
			row[j] = u * s[j]
		}
	}
	// y[M,N] = us[M,R]·V[N,R]ᵀ: V's rows are the matmul's weight rows.
	k.MatMulF32(dst, us, f.V, nil, m, r, n, 0, n)
}

// GradPKernels adds dL/dp to dp[R] as GradP does, with G·V[M,R] one matmul in k
// (G[M,N] against the rows of Vᵀ).
func (f *Factors) GradPKernels(k model.Kernels, sc *KernelScratch, dp, p, g []float32, maxMult float32) {
	m, n, r := f.M, f.N, f.R
	f.checkGrad("GradPKernels", dp, p)
	if len(g) != m*n {
		panic(fmt.Sprintf("svf: GradPKernels: g[%d] does not hold dL/dW'[%d,%d]", len(g), m, n))
	}
	gv := sc.ms
	k.MatMulF32(gv, g, sc.vt, nil, m, n, r, 0, r)
	gk := make([]float64, r)
	for i := range m {
		for j, u := range f.U[i*r : i*r+r] {
			gk[j] += float64(u) * float64(gv[i*r+j])
		}
	}
	f.addGradP(dp, p, gk, maxMult)
}
