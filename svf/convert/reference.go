package convert

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/t2web/t2web/svf"
)

// The reference implementation of Transformer² (github.com/SakanaAI/self-adaptive-llms)
// caches torch.svd's factors of every weight whose name lacks "norm" in
// decomposed_params.pt, as NAME.U [M,R], NAME.S [R], NAME.V [N,R] (NAME is the parameter
// name, ending in ".weight"). NewFactors checks them and gives them this package's sign
// convention; Options.Factors lets Convert use them instead of decomposing. Its
// experts are package svf's business (svf.ReferenceZ, svf.Pack.ReferenceExpert).

// NewFactors takes u[m,r], s[r] and v[n,r] (row-major; r = min(m, n)) computed elsewhere
// as the thin SVD of a weight W[m,n] = U·diag(S)·Vᵀ, checks them and returns them as
// Factors, which then own the slices. σ must be descending and ≥ 0 (σ_k is the value z_k
// scales, so nothing is reordered) and every value finite. Each pair (u_k, v_k) is
// negated where needed to follow Decompose's sign convention, so a pack made from given
// factors is as reproducible as one made by Decompose; W is unchanged by it.
func NewFactors(u, s, v []float32, m, n int) (*svf.Factors, error) {
	r := min(m, n)
	if m <= 0 || n <= 0 || len(u) != m*r || len(s) != r || len(v) != n*r {
		return nil, fmt.Errorf("svf: factors U[%d] S[%d] V[%d] do not fit W[%d,%d] with R = min(M, N) = %d: want U[%d] S[%d] V[%d]",
			len(u), len(s), len(v), m, n, r, m*r, r, n*r)
	}
	for _, part := range []struct {
		name string
		x    []float32
	}{{"U", u}, {"S", s}, {"V", v}} {
		for i, x := range part.x {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("svf: factor %s[%d] is %v", part.name, i, x)
			}
		}
	}
	for k, x := range s {
		if x < 0 || k > 0 && x > s[k-1] {
			return nil, fmt.Errorf("svf: σ is not descending and ≥ 0: S[%d] = %v after S[%d] = %v", k, x, max(k-1, 0), s[max(k-1, 0)])
		}
	}
	f := &svf.Factors{U: u, S: s, V: v, M: m, N: n, R: r}
	fixSigns(f)
	return f, nil
}

// exactCheckBudget bounds the multiply-adds (M·N·R) of an exact reconstruction check;
// larger matrices are checked with checkProbes random probes instead.
const (
	exactCheckBudget = 1 << 30
	checkProbes      = 16
)

// ReconstructionError returns ‖W − U·diag(S)·Vᵀ‖_F / ‖W‖_F for w[M,N] and f (0 when both
// are 0). Up to 2³⁰ multiply-adds (M·N·R, e.g. 1024×1024×1024) it is exact: U·diag(S)·Vᵀ
// recomposed as Recompose does, accumulated in float64 and rounded once per entry to
// float32, so about 1e-7 is its floor. Larger matrices would cost as much as
// decomposing them, so it is estimated from 16 Gaussian probes x (a fixed seed):
// ‖E‖_F² = E‖E·x‖², here the ratio of Σ‖E·x‖² to Σ‖W·x‖² over the same probes, which is
// within a few tens of percent of the truth — enough to tell factors of this W (about
// 1e-6) from those of another (about 1) — for 16·(M·N + (M+N)·R) multiply-adds. exact
// says which. A w of the wrong length is a caller bug: it panics.
func ReconstructionError(w []float32, f *svf.Factors) (rel float64, exact bool) {
	return reconstructionError(w, f, exactCheckBudget)
}

// reconstructionError is ReconstructionError with exact checks up to budget multiply-adds.
func reconstructionError(w []float32, f *svf.Factors, budget float64) (rel float64, exact bool) {
	m, n, r := f.M, f.N, f.R
	if len(w) != m*n {
		panic(fmt.Sprintf("svf: ReconstructionError: w[%d] is not W[%d,%d]", len(w), m, n))
	}
	exact = float64(m)*float64(n)*float64(r) <= budget
	var num, den float64
	if exact {
		rec := make([]float32, m*n)
		f.Recompose(rec, nil)
		for i, x := range w {
			d := float64(x) - float64(rec[i])
			num += d * d
			den += float64(x) * float64(x)
		}
	} else {
		rng := rand.New(rand.NewPCG(0x5eed, uint64(m)<<32|uint64(n)))
		x, t := make([]float64, n), make([]float64, r)
		for range checkProbes {
			for j := range x {
				x[j] = rng.NormFloat64()
			}
			// t = S ⊙ (Vᵀx)
			clear(t)
			for j, xj := range x {
				row := f.V[j*r : j*r+r]
				for k, v := range row {
					t[k] += float64(v) * xj
				}
			}
			for k := range t {
				t[k] *= float64(f.S[k])
			}
			for i := range m {
				var wx, ut float64
				for j, v := range w[i*n : i*n+n] {
					wx += float64(v) * x[j]
				}
				for k, u := range f.U[i*r : i*r+r] {
					ut += float64(u) * t[k]
				}
				num += (wx - ut) * (wx - ut)
				den += wx * wx
			}
		}
	}
	switch {
	case den > 0:
		return math.Sqrt(num / den), exact
	case num == 0:
		return 0, exact
	}
	return math.Inf(1), exact
}

// decompose gives the factors of adapted matrix (name without ".weight") w[m,n]: those
// of o.Factors when set, else Decompose's.
func (o *Options) decompose(matrix string, w []float32, m, n int) (*svf.Factors, error) {
	if o.Factors != nil {
		return o.Factors(matrix, w, m, n)
	}
	return Decompose(w, m, n)
}
