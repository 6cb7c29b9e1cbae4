package svf

import (
	"fmt"
	"math"
)

// The gradient of an expert's parameters (ARCHITECTURE §1). Training parametrises
// z = sigmoid(p)·maxMult and an adapted matrix is
//
//	W' = c · U·diag(σ⊙z)·Vᵀ        c = Σσ / Σ(σ⊙z)
//
// Given G = dL/dW' [M,N], with g_k = u_kᵀ·G·v_k (u_k, v_k the k-th columns of U, V):
//
//	dL/dz_k = c·σ_k·g_k − ⟨G, W'⟩·σ_k / Σ(σ⊙z)        ⟨G, W'⟩ = c·Σ_k σ_k·z_k·g_k
//
// The second term is the derivative through the nuclear-norm rescale c
// (∂c/∂z_k = −c·σ_k/Σ(σ⊙z)); without it a uniform step on z would look like a change of
// the matrix, when it is a no-op. Then dL/dp_k = dL/dz_k · maxMult·s(1−s), s = sigmoid(p_k).
// Only the R projections g_k are needed, never W' itself.

// GradP adds dL/dp to dp[R], for an adapted matrix with parameters p[R] (z =
// sigmoid(p)·maxMult) and g[M,N] = dL/dW', the gradient w.r.t. the adapted weight (for a
// layer y_t = W'·x_t, Σ_t dy_t·x_tᵀ; the dweight of package train's backward). It costs
// M·N·R multiply-adds, in float64. Wrong lengths are caller bugs: it panics.
func (f *Factors) GradP(dp, p, g []float32, maxMult float32) {
	m, n, r := f.M, f.N, f.R
	f.checkGrad("GradP", dp, p)
	if len(g) != m*n {
		panic(fmt.Sprintf("svf: GradP: g[%d] does not hold dL/dW'[%d,%d]", len(g), m, n))
	}
	// g_k = Σ_i U[i,k]·(G·V)[i,k], one row of G·V at a time
	gk, row := make([]float64, r), make([]float64, r)
	for i := range m {
		clear(row)
		for j, gij := range g[i*n : i*n+n] {
			if gij == 0 {
				continue
			}
			for k, v := range f.V[j*r : j*r+r] {
				row[k] += float64(gij) * float64(v)
			}
		}
		for k, u := range f.U[i*r : i*r+r] {
			gk[k] += float64(u) * row[k]
		}
	}
	f.addGradP(dp, p, gk, maxMult)
}

// GradPFactored adds dL/dp to dp[R] as GradP does, with dL/dW' = Σ_t dy_tᵀ·x_t given
// by its factors: dy[T,M], the gradient w.r.t. the outputs y_t = W'·x_t of the layer,
// and x[T,N], its inputs. Then g_k = Σ_t (dy_t·u_k)(x_t·v_k), which costs T·(M+N)·R
// multiply-adds instead of M·N·R: cheaper when T is below about M·N/(M+N).
func (f *Factors) GradPFactored(dp, p, dy, x []float32, T int, maxMult float32) {
	m, n, r := f.M, f.N, f.R
	f.checkGrad("GradPFactored", dp, p)
	if len(dy) != T*m || len(x) != T*n {
		panic(fmt.Sprintf("svf: GradPFactored: dy[%d] x[%d] do not fit T=%d M=%d N=%d", len(dy), len(x), T, m, n))
	}
	gk, a, b := make([]float64, r), make([]float64, r), make([]float64, r)
	for t := range T {
		clear(a)
		clear(b)
		for i, d := range dy[t*m : t*m+m] { // a = dy_t·U
			if d == 0 {
				continue
			}
			for k, u := range f.U[i*r : i*r+r] {
				a[k] += float64(d) * float64(u)
			}
		}
		for j, xj := range x[t*n : t*n+n] { // b = x_t·V
			if xj == 0 {
				continue
			}
			for k, v := range f.V[j*r : j*r+r] {
				b[k] += float64(xj) * float64(v)
			}
		}
		for k := range gk {
			gk[k] += a[k] * b[k]
		}
	}
	f.addGradP(dp, p, gk, maxMult)
}

func (f *Factors) checkGrad(fn string, dp, p []float32) {
	if len(dp) != f.R || len(p) != f.R || len(f.S) != f.R || len(f.U) != f.M*f.R || len(f.V) != f.N*f.R {
		panic(fmt.Sprintf("svf: %s: dp[%d] p[%d] U[%d] S[%d] V[%d] do not fit M=%d N=%d R=%d",
			fn, len(dp), len(p), len(f.U), len(f.S), len(f.V), f.M, f.N, f.R))
	}
}

// addGradP turns the projections gk[R] = u_kᵀ·G·v_k into dL/dp and adds it to dp.
func (f *Factors) addGradP(dp, p []float32, gk []float64, maxMult float32) {
	mm := float64(maxMult)
	var sum, sumZ, inner float64 // Σσ, Σ(σ⊙z), ⟨G, W'⟩/c
	for k, s := range f.S {
		sig := 1 / (1 + math.Exp(-float64(p[k])))
		sz := float64(s) * sig * mm
		sum += float64(s)
		sumZ += sz
		inner += sz * gk[k]
	}
	if sumZ == 0 { // W = 0: W' is 0 whatever z is
		return
	}
	c := sum / sumZ
	for k, s := range f.S {
		sig := 1 / (1 + math.Exp(-float64(p[k])))
		dz := c*float64(s)*gk[k] - c*inner*float64(s)/sumZ
		dp[k] += float32(dz * mm * sig * (1 - sig))
	}
}
