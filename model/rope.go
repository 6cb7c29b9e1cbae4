package model

import "math"

// Rope holds the cos/sin tables of rotary position embeddings for positions [0, S):
// cos[pos, Dh/2], sin[pos, Dh/2], computed in float64 from the config's (scaled)
// inverse frequencies and stored as float32.
type Rope struct {
	half     int
	cos, sin []float32
}

// NewRope tabulates RoPE for positions [0, positions).
func NewRope(c *Config, positions int) *Rope {
	inv := c.InvFreq()
	r := &Rope{half: len(inv), cos: make([]float32, positions*len(inv)), sin: make([]float32, positions*len(inv))}
	for p := range positions {
		for i, f := range inv {
			s, co := math.Sincos(float64(p) * f)
			r.cos[p*r.half+i], r.sin[p*r.half+i] = float32(co), float32(s)
		}
	}
	return r
}

// Apply rotates the heads of x[nHeads, Dh] in place for position pos, in Hugging Face's
// rotate_half layout: element i pairs with element i+Dh/2 of the same head.
func (r *Rope) Apply(x []float32, nHeads, pos int) {
	h := r.half
	cos, sin := r.cos[pos*h:pos*h+h], r.sin[pos*h:pos*h+h]
	for head := range nHeads {
		v := x[head*2*h : head*2*h+2*h]
		for i := range h {
			a, b := v[i], v[i+h]
			v[i] = a*cos[i] - b*sin[i]
			v[i+h] = b*cos[i] + a*sin[i]
		}
	}
}
