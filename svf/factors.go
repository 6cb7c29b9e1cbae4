package svf

import (
	"fmt"
	"runtime"
	"sync"
)

// Factors is the thin singular value decomposition of a weight matrix W[M,N] (out × in):
// W = U·diag(S)·Vᵀ with R = min(M, N), nothing truncated.
type Factors struct {
	U    []float32 // [M,R] left singular vectors, one per column, orthonormal
	S    []float32 // [R] singular values σ, descending, ≥ 0
	V    []float32 // [N,R] right singular vectors, one per column, orthonormal
	M, N int       // W's shape: out, in
	R    int       // rank kept: min(M, N)
}

// NuclearScale returns c = Σs / Σ(s⊙z) for s[R] and z[R], computed in float64: the
// factor of W' = U·diag(σ⊙z)·Vᵀ·(Σσ/Σ(σ⊙z)) (ARCHITECTURE §1) that keeps the nuclear
// norm, so that a uniform z is a no-op. z nil means z = 1 (c = 1). When Σ(s⊙z) is 0
// (z = 0, or W = 0) it returns 1 rather than dividing by zero, so W' = 0, not NaN.
// It panics if z is not nil and len(z) != len(s).
func NuclearScale(s, z []float32) float32 {
	return float32(nuclearScale(s, z))
}

func nuclearScale(s, z []float32) float64 {
	if z == nil {
		return 1
	}
	if len(z) != len(s) {
		panic(fmt.Sprintf("svf: NuclearScale: s[%d] and z[%d] differ in length", len(s), len(z)))
	}
	var num, den float64
	for k, x := range s {
		num += float64(x)
		den += float64(x) * float64(z[k])
	}
	if den == 0 {
		return 1
	}
	return num / den
}

// Recompose writes the adapted weight dst[M,N] = U·diag(S⊙z)·Vᵀ·(ΣS/Σ(S⊙z)) for z[R]
// (ARCHITECTURE §1, the merged path). z nil means z = 1: dst = U·diag(S)·Vᵀ = W.
// Products are accumulated in float64 and rounded once per entry; rows are shared
// among GOMAXPROCS goroutines.
//
// Wrong lengths of dst or z are caller bugs: Recompose panics with both shapes.
func (f *Factors) Recompose(dst []float32, z []float32) {
	m, n, r := f.M, f.N, f.R
	if len(dst) != m*n {
		panic(fmt.Sprintf("svf: Recompose: dst[%d] does not hold W[%d,%d]", len(dst), m, n))
	}
	if z != nil && len(z) != r {
		panic(fmt.Sprintf("svf: Recompose: z[%d] does not match rank R=%d of W[%d,%d]", len(z), r, m, n))
	}
	if len(f.U) != m*r || len(f.S) != r || len(f.V) != n*r {
		panic(fmt.Sprintf("svf: Recompose: U[%d] S[%d] V[%d] do not fit M=%d N=%d R=%d",
			len(f.U), len(f.S), len(f.V), m, n, r))
	}
	// s[k] = c·σ_k·z_k, folded into the rows of U as they are used.
	c := nuclearScale(f.S, z)
	s := make([]float64, r)
	for k, x := range f.S {
		s[k] = c * float64(x)
		if z != nil {
			s[k] *= float64(z[k])
		}
	}
	blocks := (m + recomposeRows - 1) / recomposeRows
	parallelRows(blocks, recomposeRows*n*r, func(lo, hi int) {
		var a [recomposeRows][]float64 // rows of U scaled by s: a[t][k] = U[i0+t,k]·s[k]
		for t := range a {
			a[t] = make([]float64, r)
		}
		for b := lo; b < hi; b++ {
			i0 := b * recomposeRows
			rows := min(recomposeRows, m-i0)
			for t := range recomposeRows {
				i := i0 + min(t, rows-1) // a short last block repeats its last row
				u := f.U[i*r : i*r+r]
				for k, x := range u {
					a[t][k] = float64(x) * s[k]
				}
			}
			recomposeBlock(dst, &a, f.V, i0, rows, n, r)
		}
	})
}

// recomposeRows is how many rows of dst one pass over V fills.
const recomposeRows = 4

// recomposeBlock writes dst[i0+t, j] = Σ_k a[t][k]·V[j,k] for t < rows and every
// j < n, from a[4][R] and V[N,R]. Four rows and two columns share each load.
func recomposeBlock(dst []float32, a *[recomposeRows][]float64, v []float32, i0, rows, n, r int) {
	a0, a1, a2, a3 := a[0][:r], a[1][:r], a[2][:r], a[3][:r]
	j := 0
	for ; j+2 <= n; j += 2 {
		v0 := v[j*r : j*r+r]
		v1 := v[(j+1)*r : (j+1)*r+r]
		v1, a0, a1, a2, a3 := v1[:len(v0)], a0[:len(v0)], a1[:len(v0)], a2[:len(v0)], a3[:len(v0)]
		var s00, s10, s20, s30, s01, s11, s21, s31 float64
		for k := range v0 {
			x0, x1 := float64(v0[k]), float64(v1[k])
			s00 += a0[k] * x0
			s10 += a1[k] * x0
			s20 += a2[k] * x0
			s30 += a3[k] * x0
			s01 += a0[k] * x1
			s11 += a1[k] * x1
			s21 += a2[k] * x1
			s31 += a3[k] * x1
		}
		put4(dst, i0, rows, n, j, s00, s10, s20, s30)
		put4(dst, i0, rows, n, j+1, s01, s11, s21, s31)
	}
	for ; j < n; j++ {
		v0 := v[j*r : j*r+r]
		a0, a1, a2, a3 := a0[:len(v0)], a1[:len(v0)], a2[:len(v0)], a3[:len(v0)]
		var s0, s1, s2, s3 float64
		for k := range v0 {
			x0 := float64(v0[k])
			s0 += a0[k] * x0
			s1 += a1[k] * x0
			s2 += a2[k] * x0
			s3 += a3[k] * x0
		}
		put4(dst, i0, rows, n, j, s0, s1, s2, s3)
	}
}

// put4 stores column j of the rows i0…i0+rows-1 of dst[·,n].
func put4(dst []float32, i0, rows, n, j int, s0, s1, s2, s3 float64) {
	dst[i0*n+j] = float32(s0)
	if rows > 1 {
		dst[(i0+1)*n+j] = float32(s1)
	}
	if rows > 2 {
		dst[(i0+2)*n+j] = float32(s2)
	}
	if rows > 3 {
		dst[(i0+3)*n+j] = float32(s3)
	}
}

// parallelRows calls f on disjoint ranges covering [0, n), on up to GOMAXPROCS
// goroutines; cost is the work per index in multiply-adds, and small jobs run on the
// calling goroutine.
func parallelRows(n, cost int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || n*cost < 1<<16 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { f(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}
