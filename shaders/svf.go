package shaders

import "fmt"

var (
	kSVFScale       = &kernelDef{files: []string{"common.wgsl", "svf.wgsl"}, entry: "svf_scale", binds: "rrw"}
	kRecompose      = &kernelDef{files: append(gemmFiles[:2:2], "recompose.wgsl", "q8store.wgsl"), entry: "recompose", binds: "rrrrrw--"}
	kRecomposeQ8    = &kernelDef{files: append(gemmFiles[:2:2], "recompose.wgsl", "q8store.wgsl"), entry: "recompose_q8", binds: "rrrrr-ww"}
	kRecomposeF32   = &kernelDef{files: append(gemmFiles[:2:2], "recompose_f32.wgsl", "q8store.wgsl"), entry: "recompose_f32", binds: "rrrw--"}
	kRecomposeF32Q8 = &kernelDef{files: append(gemmFiles[:2:2], "recompose_f32.wgsl", "q8store.wgsl"), entry: "recompose_f32_q8", binds: "rrr-ww"}
	kFactoredDown   = &kernelDef{files: append(gemmFiles[:2:2], "factored.wgsl"), entry: "factored_down", binds: "rrrrrrw"}
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
	b.RecomposeInto(LinearF32(w, f.M, f.N), f, s)
}

// RecomposeQ8 records W' = U·diag(s)·Vᵀ quantised to w, Q8 [M,N] with blocks of 32
// along N (scale = max|W'|/127 per block, round half away from zero, as svf.QuantizeQ8).
// w.Q is cleared first, in the same batch.
func (b *Batch) RecomposeQ8(w Q8, f Factors, s *Buffer) {
	checkWhole("RecomposeQ8", "w", w)
	b.Clear(w.Q, 0, 0)
	b.RecomposeInto(LinearQ8(w), f, s)
}

// RecomposeInto records W' = U·diag(s)·Vᵀ into w — f32, or Q8 as RecomposeQ8 — which
// may be a view of rows of a larger buffer (a matrix stacked with others). A Q8 w's
// bytes are OR-ed in: the caller clears its rows first (Batch.Clear of the whole buffer
// when every matrix stacked in it is recomposed in the same batch).
func (b *Batch) RecomposeInto(w Linear, f Factors, s *Buffer) {
	f.check("Recompose")
	checkF32("Recompose", "s", s, f.R)
	if w.Rows != f.M || w.Cols != f.N {
		panic(fmt.Sprintf("shaders: Recompose: W' [%d,%d] from factors of W[%d,%d]", w.Rows, w.Cols, f.M, f.N))
	}
	gx, gy := ceilDiv(f.N, gemmTile), ceilDiv(f.M, gemmTile)
	nb := uint32((f.N + 31) / 32)
	if w.F != nil {
		checkF32("Recompose", "w", w.F, (w.Row0+f.M)*f.N)
		m0 := uint32(w.Row0)
		if f.UF != nil {
			b.dispatch(kRecomposeF32, nil, []uint32{uint32(f.M), uint32(f.N), uint32(f.R), m0, nb},
				[]*Buffer{f.UF, f.VF, s, w.F}, gx, gy, 1)
			return
		}
		b.dispatch(kRecompose, nil, f.q8Params(m0), []*Buffer{f.U.Q, f.U.Scale, f.V.Q, f.V.Scale, s, w.F}, gx, gy, 1)
		return
	}
	checkQ8("Recompose", "w", w.Q)
	m0 := uint32(w.Q.Row0)
	if f.UF != nil {
		b.dispatch(kRecomposeF32Q8, nil, []uint32{uint32(f.M), uint32(f.N), uint32(f.R), m0, nb},
			[]*Buffer{f.UF, f.VF, s, w.Q.Q, w.Q.Scale}, gx, gy, 1)
		return
	}
	b.dispatch(kRecomposeQ8, nil, f.q8Params(m0), []*Buffer{f.U.Q, f.U.Scale, f.V.Q, f.V.Scale, s, w.Q.Q, w.Q.Scale}, gx, gy, 1)
}

func (f Factors) q8Params(m0 uint32) []uint32 {
	return []uint32{uint32(f.M), uint32(f.N), uint32(f.R), uint32((f.R + 31) / 32), uint32((f.N + 31) / 32), m0}
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
	b.dispatch(kFactoredDown, nil, params, bufs, ceilDiv(f.R, gemmTile), ceilDiv(T, gemmTile), 1)
}
