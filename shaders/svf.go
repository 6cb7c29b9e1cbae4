package shaders

import "fmt"

var (
	kSVFScale     = &kernelDef{files: []string{"common.wgsl", "svf.wgsl"}, entry: "svf_scale", binds: "rrw"}
	kRecompose    = &kernelDef{files: []string{"common.wgsl", "recompose.wgsl"}, entry: "recompose", binds: "rrrrrw---"}
	kRecomposeW   = &kernelDef{files: []string{"common.wgsl", "recompose.wgsl"}, entry: "recompose_wide", binds: "rrrrrw---"}
	kQuantizeRows = &kernelDef{files: []string{"common.wgsl", "recompose.wgsl"}, entry: "quantize_rows", binds: "------rww"}
	kFactoredDown = &kernelDef{files: append(gemmFiles[:2:2], "factored.wgsl"), entry: "factored_down", binds: "rrrrrrw"}
	kFactoredRows = &kernelDef{files: []string{"common.wgsl", "factored_rows.wgsl"}, entry: "factored_rows", binds: "rrrrrrw"}
)

// SVFScale records sc[P,R] = σ[R] ⊙ z[P,R] · c_p with c_p = Σσ / Σ(σ⊙z[p]): the
// scales of P experts' (or mixtures') adapted matrices, the nuclear-norm factor folded
// in (ARCHITECTURE §1); c_p = 1 where Σ(σ⊙z[p]) = 0, as svf.NuclearScale.
func (b *Batch) SVFScale(sc, sigma, z *Buffer, P, R int) {
	checkF32("SVFScale", "sc", sc, P*R)
	checkF32("SVFScale", "sigma", sigma, R)
	checkF32("SVFScale", "z", z, P*R)
	b.dispatch(kSVFScale, nil, []uint32{uint32(R), uint32(P)}, []*Buffer{sigma, z, sc}, P, 1, 1)
}

// Factors is an SVF-decomposed matrix W[M,N] = U[M,R]·diag(σ)·V[N,R]ᵀ on the device:
// U and V either Q8 (blocks of 32 along R) or f32 (UF, VF), σ in Sigma [R].
type Factors struct {
	M, N, R int
	U, V    Q8      // Q8 factors, or
	UF, VF  *Buffer // f32 factors [M,R] and [N,R]
	Sigma   *Buffer // f32 [R]
}

func (f Factors) check(op string) {
	switch {
	case f.UF != nil && f.VF != nil:
		checkF32(op, "U", f.UF, f.M*f.R)
		checkF32(op, "V", f.VF, f.N*f.R)
	case f.U.Q != nil && f.V.Q != nil:
		if f.U.Rows != f.M || f.U.Cols != f.R || f.V.Rows != f.N || f.V.Cols != f.R {
			panic(fmt.Sprintf("shaders: %s: factors U[%d,%d] V[%d,%d] for W[%d,%d] of rank %d",
				op, f.U.Rows, f.U.Cols, f.V.Rows, f.V.Cols, f.M, f.N, f.R))
		}
		checkWhole(op, "U", f.U)
		checkWhole(op, "V", f.V)
	default:
		panic(fmt.Sprintf("shaders: %s: factors have neither Q8 nor f32 U and V", op))
	}
}

// Recompose records w[M,N] = U·diag(s)·Vᵀ for s [R] (from SVFScale: σ⊙z·c), the
// adapted weight W' in f32.
func (b *Batch) Recompose(w *Buffer, f Factors, s *Buffer) {
	b.RecomposeInto(LinearF32(w, f.M, f.N), f, s, nil)
}

// RecomposeQ8 records W' = U·diag(s)·Vᵀ quantised to w, Q8 [M,N] with blocks of 32
// along N (scale = max|W'|/127 per block, round half away from zero, as pack.QuantizeQ8),
// through scratch (see RecomposeInto). w.Q is cleared first, in the same batch.
func (b *Batch) RecomposeQ8(w Q8, f Factors, s, scratch *Buffer) {
	checkWhole("RecomposeQ8", "w", w)
	b.Clear(w.Q, 0, 0)
	b.RecomposeInto(LinearQ8(w), f, s, scratch)
}

// RecomposeInto records W' = U·diag(s)·Vᵀ into w — f32, or Q8 as RecomposeQ8 — which
// may be a view of rows of a larger buffer (a matrix stacked with others). A Q8 W' is
// recomposed in f32 into scratch, as many rows at a time as it holds (at least one row
// of N values), then quantised; its bytes are OR-ed in, so the caller clears w's rows
// first (Batch.Clear of the whole buffer when every matrix stacked in it is recomposed in
// the same batch). scratch may be nil for an f32 w.
func (b *Batch) RecomposeInto(w Linear, f Factors, s, scratch *Buffer) {
	f.check("Recompose")
	checkF32("Recompose", "s", s, f.R)
	if w.Rows != f.M || w.Cols != f.N {
		panic(fmt.Sprintf("shaders: Recompose: W' [%d,%d] from factors of W[%d,%d]", w.Rows, w.Cols, f.M, f.N))
	}
	q8f := f.UF == nil
	uq, us, vq, vs := f.UF, b.d.dummy, f.VF, b.d.dummy
	vec := f.R%4 == 0
	if q8f {
		uq, us, vq, vs = f.U.Q, f.U.Scale, f.V.Q, f.V.Scale
		vec = f.R%32 == 0
	}
	o := overrides{"Q8F": b2f(q8f), "VEC": b2f(vec), "QVEC": b2f(f.N%4 == 0)}
	nb := uint32((f.N + 31) / 32)
	rb := uint32((f.R + 31) / 32)
	// recompose records rows u0…u0+m−1 of W' into rows m0… of out: 4×4 blocks a thread,
	// or on SwiftShader (Device.rowsWide) 4×8 for Q8 factors.
	k, cols := kRecompose, 32
	if b.d.rowsWide && q8f && vec {
		k, cols = kRecomposeW, 64
	}
	recompose := func(out *Buffer, m0, u0, m int) {
		b.dispatch(k, o, []uint32{uint32(m), uint32(f.N), uint32(f.R), rb, nb, uint32(m0), uint32(u0)},
			[]*Buffer{uq, us, vq, vs, s, out}, ceilDiv(f.N, cols), ceilDiv(m, 32), 1)
	}
	if w.F != nil {
		checkF32("Recompose", "w", w.F, (w.Row0+f.M)*f.N)
		recompose(w.F, w.Row0, 0, f.M)
		return
	}
	checkQ8("Recompose", "w", w.Q)
	if scratch == nil || scratch.size < uint64(4*f.N) {
		panic(fmt.Sprintf("shaders: Recompose: a Q8 W' [%d,%d] needs scratch of at least one row (%d bytes)", f.M, f.N, 4*f.N))
	}
	per := min(f.M, int(scratch.size/uint64(4*f.N)))
	for r := 0; r < f.M; r += per {
		m := min(per, f.M-r)
		recompose(scratch, 0, r, m)
		gx, gy := b.grid1(ceilDiv(m*int(nb), 64))
		b.dispatch(kQuantizeRows, o, []uint32{uint32(m), uint32(f.N), uint32(f.R), rb, nb, uint32(w.Q.Row0 + r), 0},
			[]*Buffer{scratch, w.Q.Q, w.Q.Scale}, gx, gy, 1)
	}
}

// Factored records y[T,M] = ((x[T,N]·V) ⊙ sc[cand[t]]) · Uᵀ: the adapted layer applied
// without recomposing, every row t with its own candidate's scales sc[P,R] (from
// SVFScale, c folded in) picked by cand[T] (u32); rows with cand ≥ P give zeros.
// h [T,R] is scratch. y must not be x.
func (b *Batch) Factored(y, x *Buffer, f Factors, sc, cand, h *Buffer, T, P int) {
	checkF32("Factored", "y", y, T*f.M)
	b.FactoredDown(h, x, f, sc, cand, T, P)
	if f.UF != nil {
		b.MatMul(y, h, f.UF, nil, T, f.R, f.M)
	} else {
		b.MatMulQ8(y, h, f.U, nil, T)
	}
}

// factoredRows says whether FactoredDown takes factored_rows.wgsl (CPU adapters, whose
// vec4 loads need N and R multiples of 4) rather than factored.wgsl's tiles.
func (b *Batch) factoredRows(f Factors) bool {
	return b.d.cpuLayout() && rowsVec4(f.N) && rowsVec4(f.R)
}

// FactoredDown records the first half of Factored, h[T,R] = (x[T,N]·V) ⊙ sc[cand[t]];
// y = h·Uᵀ is then an ordinary matmul with U [M,R] as the weight (per part, when W is
// split by rows). Only f's V is used.
func (b *Batch) FactoredDown(h, x *Buffer, f Factors, sc, cand *Buffer, T, P int) {
	f.check("Factored")
	checkF32("Factored", "x", x, T*f.N)
	checkF32("Factored", "sc", sc, P*f.R)
	checkF32("Factored", "cand", cand, T)
	checkF32("Factored", "h", h, T*f.R)
	rb := (f.R + 31) / 32
	params := []uint32{uint32(T), uint32(f.N), uint32(f.R), uint32(P), uint32(rb), 0}
	bufs := []*Buffer{x, b.d.dummy, b.d.dummy, b.d.dummy, sc, cand, h}
	if f.UF != nil {
		params[5] = 1
		bufs[3] = f.VF
	} else {
		bufs[1], bufs[2] = f.V.Q, f.V.Scale
	}
	if b.factoredRows(f) {
		gx, gy := b.gridRows(T, f.R, 4)
		b.dispatch(kFactoredRows, overrides{"VQ": b2f(f.UF == nil)}, params[:5], bufs, gx, gy, 1)
		return
	}
	b.dispatch(kFactoredDown, nil, params, bufs, ceilDiv(f.R, gemmTile), ceilDiv(T, gemmTile), 1)
}
