package svf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
)

// The reference implementation of Transformer² (github.com/SakanaAI/self-adaptive-llms)
// leaves two kinds of files that t2web takes in:
//
//   - decomposed_params.pt: torch.svd's factors of every weight whose name lacks "norm",
//     as NAME.U [M,R], NAME.S [R], NAME.V [N,R] (NAME is the parameter name, ending in
//     ".weight"). NewFactors checks them and gives them this package's sign convention;
//     ConvertOptions.Factors lets Convert use them instead of decomposing.
//   - an expert: pre-sigmoid vectors p[R], one per "mlp" weight of the base model, in its
//     state_dict order (ReferenceMatrices). ReferenceZ turns p into the reference's z.
//
// The reference composes an adapted weight (utils.py compose_new_params) as
//
//	W' = U · diag(S ⊙ mm) · Vᵀ · (ΣS / Σ(S ⊙ mm)),  mm = bf16(sigmoid(p)) · max_mult
//
// (policy/base.py get_mask), which is Factors.Recompose's formula with z = mm: the same
// nuclear-norm rescale, over the same σ. So an imported expert needs no conversion but
// z = mm itself, including the rounding of sigmoid(p) to bfloat16 that get_mask does.

// NewFactors takes u[m,r], s[r] and v[n,r] (row-major; r = min(m, n)) computed elsewhere
// as the thin SVD of a weight W[m,n] = U·diag(S)·Vᵀ, checks them and returns them as
// Factors, which then own the slices. σ must be descending and ≥ 0 (σ_k is the value z_k
// scales, so nothing is reordered) and every value finite. Each pair (u_k, v_k) is
// negated where needed to follow Decompose's sign convention, so a pack made from given
// factors is as reproducible as one made by Decompose; W is unchanged by it.
func NewFactors(u, s, v []float32, m, n int) (*Factors, error) {
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
	f := &Factors{U: u, S: s, V: v, M: m, N: n, R: r}
	f.fixSigns()
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
func ReconstructionError(w []float32, f *Factors) (rel float64, exact bool) {
	return reconstructionError(w, f, exactCheckBudget)
}

// reconstructionError is ReconstructionError with exact checks up to budget multiply-adds.
func reconstructionError(w []float32, f *Factors, budget float64) (rel float64, exact bool) {
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
func (o *ConvertOptions) decompose(matrix string, w []float32, m, n int) (*Factors, error) {
	if o.Factors != nil {
		return o.Factors(matrix, w, m, n)
	}
	return Decompose(w, m, n)
}

// ReferenceMatrices lists the matrices the reference adapts, in the order of its policy's
// vectors: the base model's state_dict() entries whose names contain "mlp" — gate, up,
// down of each layer, layer by layer — without ".weight".
func ReferenceMatrices(cfg *model.Config) []string {
	var out []string
	for l := range cfg.NLayers {
		for _, name := range model.MatrixNames(l) {
			if strings.Contains(name, "mlp") {
				out = append(out, name)
			}
		}
	}
	return out
}

// ReferenceZ returns the reference's z for its pre-sigmoid vector p and max_mult, as its
// policy's get_mask computes it: z = bf16(bf16(sigmoid(p)) · max_mult), sigmoid in float64
// then rounded to bfloat16 (to nearest even), the product again rounded to bfloat16 as a
// bfloat16 tensor times a Python float is.
func ReferenceZ(p []float32, maxMult float64) []float32 {
	z := make([]float32, len(p))
	for i, x := range p {
		s := bf16(float32(1 / (1 + math.Exp(-float64(x)))))
		z[i] = bf16(s * float32(maxMult))
	}
	return z
}

func bf16(x float32) float32 { return safetensors.BF16ToFloat32(safetensors.Float32ToBF16(x)) }

// ReferenceExpert makes the pack's expert named name from the reference's pre-sigmoid
// vectors p (keyed by adapted matrix, without ".weight") and its max_mult: z =
// ReferenceZ(p). The reference adapts the MLP matrices only; a pack that adapts attention
// too gets z = 1 for those, which leaves them as they are (the nuclear-norm rescale makes
// any uniform z a no-op). Every MLP matrix of the pack needs its p, of the matrix's rank;
// a p for a matrix the pack does not adapt is an error too.
func (pk *Pack) ReferenceExpert(name string, p map[string][]float32, maxMult float64) (*Expert, error) {
	if !(maxMult > 0) || math.IsInf(maxMult, 0) {
		return nil, fmt.Errorf("svf: max_mult %v, want a positive number", maxMult)
	}
	for m := range p {
		if _, ok := pk.ranks[m]; !ok {
			return nil, fmt.Errorf("svf: reference expert: %s.weight: the pack does not adapt this matrix (its targets are %v)", m, pk.Manifest.Targets)
		}
	}
	e := &Expert{Name: name, Z: map[string][]float32{},
		Trained: "reference policy (SakanaAI/self-adaptive-llms), max_mult " + strconv.FormatFloat(maxMult, 'g', -1, 64)}
	for _, m := range pk.Manifest.Matrices {
		v, ok := p[m]
		switch {
		case !ok && strings.Contains(m, ".mlp."):
			return nil, fmt.Errorf("svf: reference expert: no vector for %s.weight, which the pack adapts", m)
		case !ok:
			z := make([]float32, pk.ranks[m])
			for i := range z {
				z[i] = 1
			}
			e.Z[m] = z
		case len(v) != pk.ranks[m]:
			return nil, fmt.Errorf("svf: reference expert: %s.weight: p has %d values, want the matrix's rank %d", m, len(v), pk.ranks[m])
		default:
			e.Z[m] = ReferenceZ(v, maxMult)
		}
	}
	return e, nil
}
