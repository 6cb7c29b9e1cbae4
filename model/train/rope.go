package train

import (
	"math"

	"github.com/t2web/t2web/model"
)

// rope holds the rotary position tables for positions [0, T): cos[T, Dh/2] and
// sin[T, Dh/2], computed in float64 from the config's (scaled) inverse frequencies as
// model.NewRope does.
type rope[E Float] struct {
	half     int
	cos, sin []E
}

func newRope[E Float](c *model.Config, T int) rope[E] {
	inv := c.InvFreq()
	r := rope[E]{half: len(inv), cos: make([]E, T*len(inv)), sin: make([]E, T*len(inv))}
	for p := range T {
		for i, f := range inv {
			s, co := math.Sincos(float64(p) * f)
			r.cos[p*r.half+i], r.sin[p*r.half+i] = E(co), E(s)
		}
	}
	return r
}

// ropeForward rotates, in place, the query and key heads of qkv[N,QKV] (row layout
// q[H,Dh] | k[Hkv,Dh] | v[Hkv,Dh]) for their positions t = 0…T−1 within each sequence,
// in Hugging Face's rotate_half layout: element i of a head pairs with element i+Dh/2.
// The values are left alone.
func ropeForward[E Float](qkv []E, r *rope[E], N, T, H, Hkv, Dh int) {
	QKV := (H + 2*Hkv) * Dh
	h := r.half
	for n := range N {
		t := n % T
		cos, sin := r.cos[t*h:t*h+h], r.sin[t*h:t*h+h]
		row := qkv[n*QKV : n*QKV+(H+Hkv)*Dh] // the q and k heads
		for head := range H + Hkv {
			v := row[head*Dh : head*Dh+Dh]
			for i := range h {
				a, b := v[i], v[i+h]
				v[i] = a*cos[i] - b*sin[i]
				v[i+h] = b*cos[i] + a*sin[i]
			}
		}
	}
}

// ropeBackward turns, in place, the gradient w.r.t. the rotated q and k heads of
// dqkv[N,QKV] into the gradient w.r.t. the heads before rotation: the rotation's
// transpose, a rotation by −t·θ.
func ropeBackward[E Float](dqkv []E, r *rope[E], N, T, H, Hkv, Dh int) {
	QKV := (H + 2*Hkv) * Dh
	h := r.half
	for n := range N {
		t := n % T
		cos, sin := r.cos[t*h:t*h+h], r.sin[t*h:t*h+h]
		row := dqkv[n*QKV : n*QKV+(H+Hkv)*Dh]
		for head := range H + Hkv {
			v := row[head*Dh : head*Dh+Dh]
			for i := range h {
				da, db := v[i], v[i+h]
				v[i] = da*cos[i] + db*sin[i]
				v[i+h] = db*cos[i] - da*sin[i]
			}
		}
	}
}
