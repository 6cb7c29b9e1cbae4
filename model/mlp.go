package model

import "math"

// SwiGLU writes silu(gate) ⊙ up to dst, all [T*F]: the MLP's gated activation,
// dst = g/(1+Exp32(−g))·up, with Go's kernels.
func SwiGLU(dst, gate, up []float32) { GoKernels{}.SwiGLU(dst, gate, up) }

// swiGLU1 is SwiGLU of one value: each operation one float32 rounding.
func swiGLU1(g, up float32) float32 {
	d := 1 + Exp32(-g)
	return (g / d) * up
}

// Exp32 is e^x in float32 arithmetic, in Cephes' expf manner: x clamped to [−87, 88],
// n = round(x·log2 e) (ties to even), r = x − n·ln 2 in two parts, e^r by a degree-7
// polynomial, times 2^n. Within 2 ulp of math.Exp over the range; every step is one
// float32 operation (no fused multiply-add), so a SIMD kernel computes the same bits —
// Go's math.Exp compiled to wasm costs about 100 ns a call.
func Exp32(x float32) float32 {
	x = max(-87, min(88, x))
	n := float32(math.RoundToEven(float64(x * 1.44269504088896341)))
	t := n * 0.693359375
	x1 := x - t
	t = n * -2.12194440e-4
	r := x1 - t
	z := r * r
	p := float32(1.9875691500e-4*r) + 1.3981999507e-3
	p = float32(p*r) + 8.3334519073e-3
	p = float32(p*r) + 4.1665795894e-2
	p = float32(p*r) + 1.6666665459e-1
	p = float32(p*r) + 5.0000001201e-1
	p = float32(p*z) + r
	p = p + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}
