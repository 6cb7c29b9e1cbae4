package svf

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
)

// The reference implementation of Transformer² (github.com/SakanaAI/self-adaptive-llms)
// leaves two kinds of files that t2web takes in: torch.svd's factors in
// decomposed_params.pt (package svf/convert's NewFactors) and an expert: pre-sigmoid
// vectors p[R], one per "mlp" weight of the base model, in its state_dict order
// (ReferenceMatrices). ReferenceZ turns p into the reference's z.
//
// The reference composes an adapted weight (utils.py compose_new_params) as
//
//	W' = U · diag(S ⊙ mm) · Vᵀ · (ΣS / Σ(S ⊙ mm)),  mm = bf16(sigmoid(p)) · max_mult
//
// (policy/base.py get_mask), which is Factors.Recompose's formula with z = mm: the same
// nuclear-norm rescale, over the same σ. So an imported expert needs no conversion but
// z = mm itself, including the rounding of sigmoid(p) to bfloat16 that get_mask does.

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
		if _, ok := pk.Rank(m); !ok {
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
			z := make([]float32, pk.rank(m))
			for i := range z {
				z[i] = 1
			}
			e.Z[m] = z
		case len(v) != pk.rank(m):
			return nil, fmt.Errorf("svf: reference expert: %s.weight: p has %d values, want the matrix's rank %d", m, len(v), pk.rank(m))
		default:
			e.Z[m] = ReferenceZ(v, maxMult)
		}
	}
	return e, nil
}
