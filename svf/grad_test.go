package svf

import (
	"github.com/t2web/t2web/model"
	"math"
	"math/rand/v2"
	"testing"
)

// gradFactors draws a decomposition-shaped Factors (U, V with random, not orthonormal,
// columns: the formula does not need them orthonormal) with σ descending.
func gradFactors(seed uint64, m, n int) *Factors {
	rng := rand.New(rand.NewPCG(seed, 0x67726164))
	r := min(m, n)
	f := &Factors{M: m, N: n, R: r, U: make([]float32, m*r), S: make([]float32, r), V: make([]float32, n*r)}
	for i := range f.U {
		f.U[i] = float32(rng.NormFloat64())
	}
	for i := range f.V {
		f.V[i] = float32(rng.NormFloat64())
	}
	s := 3.0
	for k := range f.S {
		f.S[k] = float32(s)
		s *= 0.6 + 0.3*rng.Float64()
	}
	return f
}

// gradRecompose64 is W' = c·U·diag(σ⊙z)·Vᵀ with z = sigmoid(p)·maxMult, in float64 from
// float64 p, so that finite differences see p's perturbation exactly.
func gradRecompose64(f *Factors, p []float64, maxMult float64) []float64 {
	r := f.R
	s := make([]float64, r)
	var sum, sumZ float64
	for k := range r {
		z := maxMult / (1 + math.Exp(-p[k]))
		s[k] = float64(f.S[k]) * z
		sum += float64(f.S[k])
		sumZ += s[k]
	}
	c := sum / sumZ
	w := make([]float64, f.M*f.N)
	for i := range f.M {
		for j := range f.N {
			var x float64
			for k := range r {
				x += float64(f.U[i*r+k]) * s[k] * float64(f.V[j*r+k])
			}
			w[i*f.N+j] = c * x
		}
	}
	return w
}

func gradRelErr(a []float32, b []float64) float64 {
	var d, nb float64
	for i := range b {
		d += (float64(a[i]) - b[i]) * (float64(a[i]) - b[i])
		nb += b[i] * b[i]
	}
	return math.Sqrt(d / nb)
}

// gradNumeric is dJ/dp by central differences with step 1e-6.
func gradNumeric(p []float64, J func([]float64) float64) []float64 {
	const h = 1e-6
	g := make([]float64, len(p))
	for k := range p {
		v := p[k]
		p[k] = v + h
		jp := J(p)
		p[k] = v - h
		jm := J(p)
		p[k] = v
		g[k] = (jp - jm) / (2 * h)
	}
	return g
}

// withoutRescale is dL/dp with the rescale term dropped: what a wrong gradient would
// give. The tests check that it is far from the finite differences, so that they would
// catch the term's absence.
func withoutRescale(f *Factors, p []float32, g []float64, maxMult float64) []float32 {
	r := f.R
	var sum, sumZ float64
	for k := range r {
		sum += float64(f.S[k])
		sumZ += float64(f.S[k]) * maxMult / (1 + math.Exp(-float64(p[k])))
	}
	dp := make([]float32, r)
	for k := range r {
		var gk float64
		for i := range f.M {
			for j := range f.N {
				gk += float64(f.U[i*r+k]) * g[i*f.N+j] * float64(f.V[j*r+k])
			}
		}
		sig := 1 / (1 + math.Exp(-float64(p[k])))
		dp[k] = float32(sum / sumZ * float64(f.S[k]) * gk * maxMult * sig * (1 - sig))
	}
	return dp
}

// TestGradPDense checks GradP against central differences of J = Σ Wt ⊙ W'(p), a random
// target Wt, through the recomposition and its nuclear-norm rescale.
func TestGradPDense(t *testing.T) {
	for _, s := range []struct {
		m, n    int
		maxMult float64
	}{{7, 5, 1}, {4, 9, 1}, {6, 6, 2.5}} {
		f := gradFactors(uint64(s.m*10+s.n), s.m, s.n)
		rng := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n)))
		p32, p64 := make([]float32, f.R), make([]float64, f.R)
		for k := range p32 {
			p32[k] = float32(rng.NormFloat64()) // z far from uniform, so the rescale matters
			p64[k] = float64(p32[k])
		}
		wt, g64 := make([]float32, s.m*s.n), make([]float64, s.m*s.n)
		for i := range wt {
			wt[i] = float32(rng.NormFloat64())
			g64[i] = float64(wt[i])
		}
		J := func(p []float64) float64 {
			var j float64
			for i, w := range gradRecompose64(f, p, s.maxMult) {
				j += g64[i] * w
			}
			return j
		}
		numeric := gradNumeric(p64, J)
		dp := make([]float32, f.R)
		f.GradP(dp, p32, wt, float32(s.maxMult))
		e := gradRelErr(dp, numeric)
		eNo := gradRelErr(withoutRescale(f, p32, g64, s.maxMult), numeric)
		t.Logf("%d×%d maxMult %g: relative error %.2e (without the rescale term: %.2e)", s.m, s.n, s.maxMult, e, eNo)
		if e > 1e-6 {
			t.Errorf("%d×%d: GradP off the finite differences by %.3g, want ≤ 1e-6", s.m, s.n, e)
		}
		if eNo < 1e-2 {
			t.Errorf("%d×%d: dropping the rescale term changes the gradient by only %.3g: the test would not see it", s.m, s.n, eNo)
		}
	}
}

// TestGradPFactored checks GradPFactored on a tiny layer y_t = W'·x_t with the loss
// L = ½ Σ_t ‖y_t − target_t‖², dy = y − target, against central differences of L and
// against GradP with the dense G = Σ_t dy_tᵀ·x_t.
func TestGradPFactored(t *testing.T) {
	const m, n, T, maxMult = 6, 8, 5, 1.0
	f := gradFactors(3, m, n)
	rng := rand.New(rand.NewPCG(4, 4))
	p32, p64 := make([]float32, f.R), make([]float64, f.R)
	for k := range p32 {
		p32[k] = float32(0.1 + rng.NormFloat64())
		p64[k] = float64(p32[k])
	}
	x, target := make([]float32, T*n), make([]float64, T*m)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range target {
		target[i] = rng.NormFloat64()
	}
	forward := func(p []float64) []float64 { // y[T,M]
		w := gradRecompose64(f, p, maxMult)
		y := make([]float64, T*m)
		for tt := range T {
			for i := range m {
				for j := range n {
					y[tt*m+i] += w[i*n+j] * float64(x[tt*n+j])
				}
			}
		}
		return y
	}
	L := func(p []float64) float64 {
		var l float64
		for i, v := range forward(p) {
			l += 0.5 * (v - target[i]) * (v - target[i])
		}
		return l
	}
	numeric := gradNumeric(p64, L)
	y := forward(p64)
	dy := make([]float32, T*m)
	g := make([]float32, m*n)
	g64 := make([]float64, m*n)
	for i := range dy {
		dy[i] = float32(y[i] - target[i])
	}
	for tt := range T {
		for i := range m {
			for j := range n {
				g64[i*n+j] += float64(dy[tt*m+i]) * float64(x[tt*n+j])
			}
		}
	}
	for i := range g {
		g[i] = float32(g64[i])
	}
	factored, dense := make([]float32, f.R), make([]float32, f.R)
	f.GradPFactored(factored, p32, dy, x, T, maxMult)
	f.GradP(dense, p32, g, maxMult)
	eF, eD := gradRelErr(factored, numeric), gradRelErr(dense, numeric)
	eNo := gradRelErr(withoutRescale(f, p32, g64, maxMult), numeric)
	t.Logf("factored %.2e, dense %.2e (float32 dy rounds the loss gradient), without the rescale term %.2e", eF, eD, eNo)
	// dy is rounded to float32 before either form sees it: 1e-6 covers that rounding.
	if eF > 1e-6 || eD > 1e-6 {
		t.Errorf("GradPFactored off by %.3g, GradP by %.3g, want ≤ 1e-6", eF, eD)
	}
	if eNo < 1e-2 {
		t.Errorf("dropping the rescale term changes the gradient by only %.3g", eNo)
	}
}

// TestGradPUniformStep checks the property the rescale term encodes: scaling z
// uniformly leaves W' unchanged, so the gradient along p is orthogonal to the direction
// that scales every z_k alike (∂z_k/∂p_k·δp_k ∝ z_k), whatever G is.
func TestGradPUniformStep(t *testing.T) {
	f := gradFactors(5, 5, 7)
	rng := rand.New(rand.NewPCG(5, 5))
	p, g := make([]float32, f.R), make([]float32, f.M*f.N)
	for k := range p {
		p[k] = float32(rng.NormFloat64())
	}
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	dp := make([]float32, f.R)
	f.GradP(dp, p, g, 1)
	// δp_k = z_k / (dz_k/dp_k) = 1/(1−s_k) moves z by δz ∝ z
	var dot, norm float64
	for k := range p {
		s := 1 / (1 + math.Exp(-float64(p[k])))
		d := 1 / (1 - s)
		dot += float64(dp[k]) * d
		norm += math.Abs(float64(dp[k]) * d)
	}
	if math.Abs(dot) > 1e-6*norm {
		t.Errorf("gradient along a uniform scaling of z is %.3g (of %.3g), want 0", dot, norm)
	}
}

// TestKernelForms holds RecomposeKernels and GradPKernels (the page trainer's float32
// forms through model.Kernels) to Recompose and GradP, in float64, on a non-square
// matrix: they differ by float32 rounding only.
func TestKernelForms(t *testing.T) {
	const m, n, maxMult = 9, 7, 1.0
	f := gradFactors(5, m, n)
	rng := rand.New(rand.NewPCG(8, 8))
	z, p, g := make([]float32, f.R), make([]float32, f.R), make([]float32, m*n)
	for k := range z {
		z[k] = 0.2 + 0.6*rng.Float32()
		p[k] = float32(rng.NormFloat64())
	}
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	sc := NewKernelScratch(f)
	k := model.GoKernels{}
	for _, zz := range [][]float32{nil, z} {
		want, got := make([]float32, m*n), make([]float32, m*n)
		f.Recompose(want, zz)
		f.RecomposeKernels(k, sc, got, zz)
		if e := gradRelErr(got, widen64(want)); e > 1e-6 {
			t.Errorf("RecomposeKernels (z nil: %v) off by %.3g, want ≤ 1e-6", zz == nil, e)
		}
	}
	want, got := make([]float32, f.R), make([]float32, f.R)
	f.GradP(want, p, g, maxMult)
	f.GradPKernels(k, sc, got, p, g, maxMult)
	if e := gradRelErr(got, widen64(want)); e > 1e-5 {
		t.Errorf("GradPKernels off by %.3g, want ≤ 1e-5", e)
	}
}

func widen64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}
