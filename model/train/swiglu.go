package train

// swigluForward writes out[N,F] = silu(gate) ⊙ up from fc[N,2F], whose rows are
// gate[F] | up[F]: the MLP's gated activation, computed as model.SwiGLU. Rows are shared
// among the workers.
func (k *kernels[E]) swigluForward(out, fc []E, N, F int) {
	t := &k.swigluTask
	*t = swigluTask[E]{out: out, fc: fc, F: F}
	k.pool.For(N, 8*F, t)
	*t = swigluTask[E]{}
}

// swigluBackward writes dfc[N,2F] (rows dgate | dup), the gradient of
// out = silu(gate)⊙up given dout[N,F], from the forward's fc[N,2F]. With s = sigmoid(g):
// dgate = dout·up·s·(1 + g·(1−s)), dup = dout·g·s. Rows are shared among the workers.
func (k *kernels[E]) swigluBackward(dfc, dout, fc []E, N, F int) {
	t := &k.swigluTask
	*t = swigluTask[E]{out: dfc, dout: dout, fc: fc, F: F, backward: true}
	k.pool.For(N, 12*F, t)
	*t = swigluTask[E]{}
}

// swigluTask is one SwiGLU call; out is dfc in the backward.
type swigluTask[E Float] struct {
	out, dout, fc []E
	F             int
	backward      bool
}

func (t *swigluTask[E]) run(lo, hi int) {
	F := t.F
	if t.backward {
		swigluBackwardRows(t.out[lo*2*F:hi*2*F], t.dout[lo*F:hi*F], t.fc[lo*2*F:hi*2*F], hi-lo, F)
		return
	}
	swigluForwardRows(t.out[lo*F:hi*F], t.fc[lo*2*F:hi*2*F], hi-lo, F)
}

// swigluForwardRows is swigluForward of N rows on the calling goroutine.
func swigluForwardRows[E Float](out, fc []E, N, F int) {
	if useVector[E]() {
		swigluForwardVector(out, fc, N, F)
		return
	}
	for n := range N {
		gate, up, o := fc[n*2*F:n*2*F+F], fc[n*2*F+F:n*2*F+2*F], out[n*F:n*F+F]
		for i, g := range gate {
			o[i] = g / (1 + exp(-g)) * up[i]
		}
	}
}

// swigluBackwardRows is swigluBackward of N rows on the calling goroutine.
func swigluBackwardRows[E Float](dfc, dout, fc []E, N, F int) {
	if useVector[E]() {
		swigluBackwardVector(dfc, dout, fc, N, F)
		return
	}
	for n := range N {
		gate, up := fc[n*2*F:n*2*F+F], fc[n*2*F+F:n*2*F+2*F]
		dgate, dup := dfc[n*2*F:n*2*F+F], dfc[n*2*F+F:n*2*F+2*F]
		dy := dout[n*F : n*F+F]
		for i, g := range gate {
			s := 1 / (1 + exp(-g))
			dgate[i] = dy[i] * up[i] * s * (1 + g*(1-s))
			dup[i] = dy[i] * g * s
		}
	}
}
