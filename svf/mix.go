package svf

import "fmt"

// Mix returns the mixture z' = Σ_k α_k·z_k of K experts (ARCHITECTURE §1; the paper
// mixes z, not the pre-sigmoid p as the reference code does). alpha[k] is expert k's
// weight: one number for every matrix, or one per matrix in the order of matrices
// ("per-layer"). Each α is clamped to [0, 1] and the α are not normalised.
func Mix(experts []*Expert, alpha [][]float64, matrices []string) (map[string][]float32, error) {
	if len(experts) == 0 {
		return nil, fmt.Errorf("svf: mix of no experts")
	}
	if len(alpha) != len(experts) {
		return nil, fmt.Errorf("svf: mix: %d experts but %d α", len(experts), len(alpha))
	}
	for k, a := range alpha {
		if len(a) != 1 && len(a) != len(matrices) {
			return nil, fmt.Errorf("svf: mix: expert %s has %d α, want 1 or one per matrix (%d)", experts[k].Name, len(a), len(matrices))
		}
	}
	out := make(map[string][]float32, len(matrices))
	for i, name := range matrices {
		var z []float32
		for k, e := range experts {
			zk, ok := e.Z[name]
			if !ok {
				return nil, fmt.Errorf("svf: mix: expert %s has no z for %s", e.Name, name)
			}
			if z == nil {
				z = make([]float32, len(zk))
			} else if len(zk) != len(z) {
				return nil, fmt.Errorf("svf: mix: expert %s: z for %s has %d values, another expert's %d", e.Name, name, len(zk), len(z))
			}
			a := alpha[k][0]
			if len(alpha[k]) > 1 {
				a = alpha[k][i]
			}
			a = min(max(a, 0), 1)
			for j, v := range zk {
				z[j] += float32(a) * v
			}
		}
		out[name] = z
	}
	return out, nil
}
