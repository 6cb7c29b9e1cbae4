package model

import "math"

// SwiGLU writes silu(gate) ⊙ up to dst, all [T*F]: the MLP's gated activation.
func SwiGLU(dst, gate, up []float32) {
	for i, g := range gate {
		dst[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}
