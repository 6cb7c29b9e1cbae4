package train

import "math"

// rmsnormForward writes rows of inp[N,D], normalised by their root mean square and
// scaled by weight[D], to out[N,D], and each row's 1/rms to rstd[N]:
// out = inp · rstd ⊙ weight, rstd = 1/sqrt(mean(inp²) + eps). As model.RMSNorm, the
// mean is summed in float64. Rows are shared among the workers.
func (k *kernels[E]) rmsnormForward(out, rstd, inp, weight []E, N, D int, eps float64) {
	t := &k.normTask
	*t = normTask[E]{out: out, rstd: rstd, inp: inp, weight: weight, D: D, eps: eps}
	k.pool.For(N, 2*D, (*normForward[E])(t))
	*t = normTask[E]{}
}

// rmsnormBackward adds the gradients of out = rmsnorm(inp)⊙weight, given dout[N,D], to
// dinp[N,D] and dweight[D], from the forward's inp[N,D] and rstd[N]. With r = rstd and
// g = dout⊙weight: dinp = r·g − r³/D · inp · (g·inp), dweight = Σ rows dout ⊙ inp · r.
// Rows of dinp, then columns of dweight, are shared among the workers.
func (k *kernels[E]) rmsnormBackward(dinp, dweight, dout, inp, weight, rstd []E, N, D int) {
	t := &k.normTask
	*t = normTask[E]{out: dinp, rstd: rstd, inp: inp, weight: weight, dweight: dweight, dout: dout, N: N, D: D}
	k.pool.For(N, 4*D, (*normBackwardRows[E])(t))
	k.pool.For(D, 2*N, (*normBackwardCols[E])(t))
	*t = normTask[E]{}
}

// normTask is one RMSNorm call; out is dinp in the backward.
type normTask[E Float] struct {
	out, rstd, inp, weight, dweight, dout []E
	N, D                                  int
	eps                                   float64
}

// normForward, normBackwardRows and normBackwardCols are the passes of a normTask as
// rangers: rows of the forward, rows of dinp, columns of dweight.
type normForward[E Float] normTask[E]
type normBackwardRows[E Float] normTask[E]
type normBackwardCols[E Float] normTask[E]

func (t *normForward[E]) run(lo, hi int) {
	D := t.D
	for n := lo; n < hi; n++ {
		x := t.inp[n*D : n*D+D]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		s := E(1 / math.Sqrt(ss/float64(D)+t.eps))
		t.rstd[n] = s
		o := t.out[n*D : n*D+D]
		for i, v := range x {
			o[i] = v * s * t.weight[i]
		}
	}
}

func (t *normBackwardRows[E]) run(lo, hi int) {
	D, w := t.D, t.weight[:t.D]
	for n := lo; n < hi; n++ {
		x, dy, dx := t.inp[n*D:n*D+D], t.dout[n*D:n*D+D], t.out[n*D:n*D+D]
		r := t.rstd[n]
		var gx float64
		for i, v := range x {
			gx += float64(dy[i] * w[i] * v)
		}
		c := E(gx) * r * r * r / E(D)
		for i, v := range x {
			dx[i] += r*dy[i]*w[i] - c*v
		}
	}
}

func (t *normBackwardCols[E]) run(lo, hi int) {
	D := t.D
	for n := range t.N {
		x, dy := t.inp[n*D+lo:n*D+hi], t.dout[n*D+lo:n*D+hi]
		r := t.rstd[n]
		dw := t.dweight[lo:hi]
		for i, v := range x {
			dw[i] += dy[i] * v * r
		}
	}
}
