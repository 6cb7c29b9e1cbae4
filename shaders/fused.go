package shaders

import "fmt"

var (
	fusedFiles   = []string{"common.wgsl", "fused.wgsl"}
	kMVFused     = &kernelDef{files: fusedFiles, entry: "mv", binds: "rrrrrw--"}
	kSwiGLUFused = &kernelDef{files: fusedFiles, entry: "mv_swiglu", binds: "rrrrrw--"}
	kQKVFused    = &kernelDef{files: fusedFiles, entry: "mv_qkv", binds: "rrrrrwww"}
)

// Linear is a weight matrix W[Rows, Cols] on the device: f32 in F (rows Row0… of it),
// or Q8 in Q when F is nil.
type Linear struct {
	F          *Buffer
	Q          Q8
	Rows, Cols int
	Row0       int // of F; a Q8 view has its own
}

// LinearQ8 is the Linear of a Q8 matrix.
func LinearQ8(q Q8) Linear { return Linear{Q: q, Rows: q.Rows, Cols: q.Cols} }

// LinearF32 is the Linear of an f32 matrix w [rows, cols].
func LinearF32(w *Buffer, rows, cols int) Linear { return Linear{F: w, Rows: rows, Cols: cols} }

func (l Linear) check(op string) {
	if l.F != nil {
		if l.Row0 != 0 {
			panic(fmt.Sprintf("shaders: %s: a view of rows %d… (the fused kernels read whole buffers)", op, l.Row0))
		}
		checkF32(op, "w", l.F, l.Rows*l.Cols)
		return
	}
	if l.Q.Row0 != 0 {
		panic(fmt.Sprintf("shaders: %s: a Q8 view of rows %d… (the fused kernels read whole buffers)", op, l.Q.Row0))
	}
	if l.Q.Rows != l.Rows || l.Q.Cols != l.Cols {
		panic(fmt.Sprintf("shaders: %s: Q8 [%d,%d] for a weight [%d,%d]", op, l.Q.Rows, l.Q.Cols, l.Rows, l.Cols))
	}
	checkQ8(op, "w", l.Q)
}

// MV is what a fused matvec does around its dot products, shared by MatVecFused,
// SwiGLUFused and QKVFused: T rows of x, optionally RMS-normalised in the prologue
// (model.RMSNorm with weight Consts[NormOff : NormOff+in] and Eps), optionally gathered
// (row t of x is x[Gather[t]]), and a bias at Consts[BiasOff:] (BiasOff < 0: none).
type MV struct {
	T       int
	Norm    bool
	NormOff int
	Eps     float64
	Gather  *Buffer // u32 [T], or nil
	Consts  *Buffer // f32: norm weights, biases, RoPE table; nil when neither is used
	BiasOff int
}

// fusedParams is the uniform Params of fused.wgsl, in order.
type fusedParams struct {
	T, in, units, blocks, ldy, y0, pair uint32
	eps                                 float32
	normOff, biasOff, hasBias, ropeOff  uint32
	H, Hkv, half, S, seqs               uint32
}

func (f fusedParams) words() []uint32 {
	return []uint32{f.T, f.in, f.units, f.blocks, f.ldy, f.y0, f.pair, f32(float64(f.eps)),
		f.normOff, f.biasOff, f.hasBias, f.ropeOff, f.H, f.Hkv, f.half, f.S, f.seqs, 0, 0, 0}
}

// fused records one fused kernel over units units of nr weight rows each.
func (b *Batch) fused(def *kernelDef, op string, x *Buffer, w Linear, m MV, nr, units int, add bool, f fusedParams, y, meta, kc, vc *Buffer) {
	w.check(op)
	if m.T <= 0 || units <= 0 {
		panic(fmt.Sprintf("shaders: %s: T=%d units=%d", op, m.T, units))
	}
	checkF32(op, "y", y, 1)
	cs := m.Consts
	if cs == nil {
		if m.Norm || m.BiasOff >= 0 {
			panic(fmt.Sprintf("shaders: %s: a norm or a bias without Consts", op))
		}
		cs = b.d.dummy
	}
	if m.Norm {
		checkF32(op, "norm weight", cs, m.NormOff+w.Cols)
		if m.NormOff%4 != 0 {
			panic(fmt.Sprintf("shaders: %s: norm weight at %d, not a multiple of 4", op, m.NormOff))
		}
	}
	if m.Gather != nil {
		if meta != nil {
			panic(fmt.Sprintf("shaders: %s: Gather with a meta buffer", op))
		}
		checkF32(op, "gather", m.Gather, m.T)
		meta = m.Gather
	}
	if meta == nil {
		meta = b.d.dummy
	}
	f.T, f.in, f.units = uint32(m.T), uint32(w.Cols), uint32(units)
	f.eps = float32(m.Eps)
	f.normOff = uint32(m.NormOff)
	if m.BiasOff >= 0 {
		f.hasBias, f.biasOff = 1, uint32(m.BiasOff)
	}
	ws, wv := b.d.dummy, w.F
	q8 := w.F == nil
	vec := w.Cols%4 == 0
	if q8 {
		ws, wv = w.Q.Scale, w.Q.Q
		f.blocks = uint32(w.Q.Blocks())
		vec = w.Cols%32 == 0
	}
	o := b.fusedTuning(nr)
	o["Q8W"], o["VEC"], o["NORM"], o["GATHER"], o["ADD"] = b2f(q8), b2f(vec), b2f(m.Norm), b2f(m.Gather != nil), b2f(add)
	bufs := []*Buffer{x, wv, ws, cs, meta, y}
	if kc != nil {
		bufs = append(bufs, kc, vc)
	}
	gx, gy := b.grid1(ceilDiv(units, int(o["RPW"]*o["RT"])))
	b.dispatch(def, o, f.words(), bufs, gx, gy, 1)
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// fusedTuning is the layout of a fused kernel with nr weight rows a unit: the device's
// matvec layout — 64 lanes a unit on GPUs; on CPU adapters one thread for 8 rows (8
// units of mv, 4 pairs), so that each load of x serves 8 rows (llvmpipe loads a
// divergent address lane by lane, 16 bytes a loop: a block of 32 values is 2 loads of
// Q8 weights and 8 of x).
func (b *Batch) fusedTuning(nr int) overrides {
	o := overrides{"NR": float64(nr), "RT": 1}
	for k, v := range b.d.matvec {
		o[k] = v
	}
	if o["LANES"] == 1 {
		o["RT"] = float64(8 / nr)
		o["RPW"] = 8
	}
	return o
}

// MatVecFused records y[t, y0+o] = n(x)[t]·w[o]ᵀ + bias[y0+o] for o < w.Rows — or adds
// it to y when add (the residual connection) — in y [T, ldy], with n and the bias as m
// says (model.RMSNorm, model.MatMul). A weight split by rows runs part by part, y0 being
// the part's first row. y must not be x.
func (b *Batch) MatVecFused(y *Buffer, ldy, y0 int, add bool, x *Buffer, w Linear, m MV) {
	checkPart("MatVecFused", y, nil, m.T, w.Rows, ldy, y0)
	b.checkX("MatVecFused", x, m, w.Cols)
	if m.BiasOff >= 0 {
		checkF32("MatVecFused", "bias", m.Consts, m.BiasOff+y0+w.Rows)
	}
	b.fused(kMVFused, "MatVecFused", x, w, m, 1, w.Rows, add,
		fusedParams{ldy: uint32(ldy), y0: uint32(y0)}, y, nil, nil, nil)
}

// SwiGLUFused records y[T, F] = silu(g) ⊙ u with g = n(x)·gateᵀ + bias[:F] and
// u = n(x)·upᵀ + bias[F:], the MLP's first half, from w = [gate; up] [2F, in] (model.SwiGLU
// of two model.MatMul).
func (b *Batch) SwiGLUFused(y, x *Buffer, w Linear, m MV) {
	if w.Rows%2 != 0 {
		panic(fmt.Sprintf("shaders: SwiGLUFused: %d rows are not [gate; up]", w.Rows))
	}
	F := w.Rows / 2
	checkF32("SwiGLUFused", "y", y, m.T*F)
	b.checkX("SwiGLUFused", x, m, w.Cols)
	if m.BiasOff >= 0 {
		checkF32("SwiGLUFused", "bias", m.Consts, m.BiasOff+w.Rows)
	}
	b.fused(kSwiGLUFused, "SwiGLUFused", x, w, m, 2, F, false,
		fusedParams{ldy: uint32(F), pair: uint32(F)}, y, nil, nil, nil)
}

// QKVFused records attention's input projections from w = [q; k; v] [(H+2·Hkv)·Dh, in]:
// the rows of n(x)·wᵀ + bias, RoPE'd with the (cos, sin) table [c.S, Dh/2, 2] at
// Consts[ropeOff:] (RopeTable) for q and k heads, the q rows into q [T, H·Dh], the k and v
// rows into the caches kc, vc [c.Seqs, c.S, Hkv·Dh] at (seq, pos) from meta u32 [T, 2] =
// (pos, seq) per row (model.MatMul, model.Rope.Apply, StoreKV). Rows whose pos ≥ c.S or
// seq ≥ c.Seqs are skipped.
func (b *Batch) QKVFused(q, kc, vc, meta, x *Buffer, w Linear, c KVCache, H, ropeOff int, m MV) {
	Dh, kvd := c.Dh, c.Hkv*c.Dh
	if Dh%2 != 0 || c.Hkv <= 0 || w.Rows != (H+2*c.Hkv)*Dh {
		panic(fmt.Sprintf("shaders: QKVFused: w has %d rows for H=%d Hkv=%d Dh=%d", w.Rows, H, c.Hkv, Dh))
	}
	if m.Gather != nil {
		panic("shaders: QKVFused: Gather is not supported")
	}
	checkF32("QKVFused", "q", q, m.T*H*Dh)
	checkF32("QKVFused", "kc", kc, c.Seqs*c.S*kvd)
	checkF32("QKVFused", "vc", vc, c.Seqs*c.S*kvd)
	checkF32("QKVFused", "meta", meta, 2*m.T)
	checkF32("QKVFused", "rope", m.Consts, ropeOff+c.S*Dh)
	b.checkX("QKVFused", x, m, w.Cols)
	if m.BiasOff >= 0 {
		checkF32("QKVFused", "bias", m.Consts, m.BiasOff+w.Rows)
	}
	f := fusedParams{ropeOff: uint32(ropeOff), H: uint32(H), Hkv: uint32(c.Hkv), half: uint32(Dh / 2),
		S: uint32(c.S), seqs: uint32(c.Seqs)}
	b.fused(kQKVFused, "QKVFused", x, w, m, 2, w.Rows/2, false, f, q, meta, kc, vc)
}

// checkX panics when x cannot hold the rows m reads.
func (b *Batch) checkX(op string, x *Buffer, m MV, in int) {
	if m.Gather == nil {
		checkF32(op, "x", x, m.T*in)
	} else {
		checkF32(op, "x", x, in)
	}
}
