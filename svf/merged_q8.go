package svf

import (
	"fmt"

	"github.com/t2web/t2web/model"
)

// MergedQ8 is an adapted matrix of an int8 pack held recomposed in int8, the CPU
// engine's int8 path (ARCHITECTURE §2, merged): W' = c·U·diag(σ⊙z)·Vᵀ is made once per
// z as a Q8 matrix [M,N] (blocks of 32 along N), then applied as an int8 matmul.
//
// The recomposition runs on the same int8 kernels: with A = U·diag(c·σ⊙z) quantised per
// row (blocks along R), W' = A·Vᵀ is one Q8 matmul of A[M,R] by the pack's V[N,R], whose
// f32 rows are quantised again. A pack with an exact rank K keeps its K largest
// directions in f32: their part U_hi·diag(s_hi)·V_hiᵀ is added to those f32 rows before
// they are quantised, so W' is one Q8 matrix, quantised once from the f32 product as
// llama.cpp's Q8_0 quantises a weight, and a row of a plain batch costs M·N int8
// multiply-adds. (Run factored instead, the f32 part cost (M+N)·K f32 multiply-adds a
// row, most of the time of a prompt in the page.) Population rows of other z run
// factored, the exact rank in f32 (ApplyPopulationQ8).
//
// The base W' (z = 1), made at load, is kept beside the current z's: switching back
// to the base model recomposes nothing, and population rows of the base model (the
// first pass of T²-prompt) run on it merged, at M·N a row instead of the factored
// (M+N)·R. That costs one more int8 copy of the matrix once an expert has been set.
// KeepMerged holds the W' of one more z the same way, for the population rows of a
// first pass that runs that z on every question (T²-cls-expert's), at one more copy.
type MergedQ8 struct {
	m, n, r, k int       // W' [M,N], rank R, exact rank K (0: none)
	u, v       *model.Q8 // U[:, K:] [M,R-K] and V[:, K:] [N,R-K], as the pack stores them
	uhi        []float32 // [M,K] U[:, :K], nil when K = 0
	vhi        []float32 // [N,K] V[:, :K], nil when K = 0
	vthi       []float32 // [K,N] V[:, :K]ᵀ, nil when K = 0
	sigma      []float32 // [R] σ
	b          []float32 // [M] bias, nil without
	kern       model.Kernels

	w     *model.Q8 // [M,N] W' of the current z: base or cur
	s     []float32 // [R] c·σ⊙z of the current z
	base  *model.Q8 // [M,N] W' at z = 1
	sBase []float32 // [R] c·σ at z = 1
	cur   *model.Q8 // [M,N] W' of the last other z set, nil before one is
	xq    model.Q8  // scratch of Apply: x quantised
	tmp   []float32 // scratch [T,K] and [T,M] of the f32 part of population rows

	f     *Factors    // f32 factors for ApplyPopulation, made on first use
	pop   population  // candidates of population batches, applied factored
	popW  []*model.Q8 // [P] candidate p's W' merged (base or kept), nil: run factored
	kept  *model.Q8   // [M,N] W' of the z of KeepMerged, nil: none held
	keptZ []float32   // that z, the caller's slice

	// ApplyPopulationQ8's Vᵀ in Q8 [R-K,N] (blocks along N, as x is quantised), made
	// on first use, and its scratch.
	vt  *model.Q8
	ph  []float32 // [T,R-K] Vᵀx
	phq model.Q8  // [T,R-K] s⊙Vᵀx quantised
}

// NewMergedQ8 makes the int8 merged form, at z = 1, of the factors of an int8 pack's
// matrix W[m,n] of rank r: u [m,r-k] and v [n,r-k] the Q8 columns, uhi [m,k] and
// vhi [n,k] the f32 columns of an exact rank k (nil when k = 0), sigma [r], b [m] or
// nil. The recompositions run on kern (GoKernels when nil).
func NewMergedQ8(m, n, r, k int, u, v *model.Q8, uhi, vhi, sigma, b []float32, kern model.Kernels) (*MergedQ8, error) {
	switch {
	case u.Rows != m || v.Rows != n || u.Cols != r-k || v.Cols != r-k:
		return nil, fmt.Errorf("Q8 factors U[%d,%d] V[%d,%d] do not fit W[%d,%d] of rank %d with exact rank %d", u.Rows, u.Cols, v.Rows, v.Cols, m, n, r, k)
	case len(uhi) != m*k || len(vhi) != n*k:
		return nil, fmt.Errorf("f32 factors U[%d] V[%d] do not fit W[%d,%d] with exact rank %d", len(uhi), len(vhi), m, n, k)
	case len(sigma) != r || (b != nil && len(b) != m):
		return nil, fmt.Errorf("σ[%d] and bias[%d] do not fit W[%d,%d] of rank %d", len(sigma), len(b), m, n, r)
	}
	if kern == nil {
		kern = model.GoKernels{}
	}
	l := &MergedQ8{m: m, n: n, r: r, k: k, u: u, v: v, uhi: uhi, vhi: vhi, sigma: sigma, b: b, kern: kern,
		base: model.NewQ8(m, n), s: make([]float32, r), sBase: make([]float32, r)}
	if k > 0 {
		l.vthi = make([]float32, k*n)
		for j := range n {
			for c := range k {
				l.vthi[c*n+j] = vhi[j*k+c]
			}
		}
	}
	if err := scales(l.sBase, &Factors{S: l.sigma, R: l.r}, nil); err != nil {
		return nil, err
	}
	l.recompose(l.base, l.sBase)
	l.w = l.base
	copy(l.s, l.sBase)
	return l, nil
}

// Dims returns (M, N).
func (l *MergedQ8) Dims() (out, in int) { return l.m, l.n }

// Rank returns R.
func (l *MergedQ8) Rank() int { return l.r }

// Weights returns the current W' [M,N].
func (l *MergedQ8) Weights() *model.Q8 { return l.w }

// recomposeRows is how many rows of W' one step recomposes: the f32 rows of A·Vᵀ live
// only that long (64 rows of N = 1536 are 384 KiB).
const recomposeQ8Rows = 64

// SetZ recomposes W' for z with the int8 kernels; nil (z = 1) takes the base W' kept
// since load.
func (l *MergedQ8) SetZ(z []float32) error {
	if z == nil {
		l.w = l.base
		copy(l.s, l.sBase)
		return nil
	}
	s, err := l.recomposeZ(&l.cur, z)
	if err != nil {
		return err
	}
	l.w = l.cur
	copy(l.s, s)
	return nil
}

// recomposeZ recomposes W' for z into *w (made on first use) and returns z's scales
// c·σ⊙z.
func (l *MergedQ8) recomposeZ(w **model.Q8, z []float32) ([]float32, error) {
	s := make([]float32, l.r)
	if err := scales(s, &Factors{S: l.sigma, R: l.r}, z); err != nil {
		return nil, err
	}
	if *w == nil {
		*w = model.NewQ8(l.m, l.n)
	}
	l.recompose(*w, s)
	return s, nil
}

// recompose writes W' = A·V_loᵀ + U_hi·diag(s[:K])·V_hiᵀ into w, A = U_lo·diag(s[K:]),
// s the scales c·σ⊙z: the int8 part on the int8 kernels, the f32 part added to its f32
// rows, then each row quantised once.
func (l *MergedQ8) recompose(w *model.Q8, sc []float32) {
	rl := l.r - l.k
	var a model.Q8
	rows := min(recomposeQ8Rows, l.m)
	as := make([]float32, rows*rl)   // A rows, f32
	out := make([]float32, rows*l.n) // W' rows, f32
	var ahi, hi []float32            // U_hi·diag(s_hi) rows and their W' part, f32
	if l.k > 0 {
		ahi, hi = make([]float32, rows*l.k), make([]float32, rows*l.n)
	}
	for i0 := 0; i0 < l.m; i0 += recomposeQ8Rows {
		rows := min(recomposeQ8Rows, l.m-i0)
		out := out[:rows*l.n]
		if rl > 0 {
			for i := range rows {
				row := as[i*rl : (i+1)*rl]
				l.u.Dequantize(row, i0+i)
				for c := range row {
					row[c] *= sc[l.k+c]
				}
			}
			model.Quantize(l.kern, &a, as[:rows*rl], rows, rl)
			model.MatMulQ8(l.kern, out, &a, l.v, nil)
		} else {
			clear(out)
		}
		if l.k > 0 {
			for i := range rows {
				for c := range l.k {
					ahi[i*l.k+c] = l.uhi[(i0+i)*l.k+c] * sc[c]
				}
			}
			model.MatMulF32(l.kern, hi[:rows*l.n], ahi[:rows*l.k], l.vhi, nil, rows, l.k, l.n)
			for i, v := range hi[:rows*l.n] {
				out[i] += v
			}
		}
		part := model.Q8{Q: w.Q[i0*w.Stride() : (i0+rows)*w.Stride()], Scale: w.Scale[i0*w.Blocks() : (i0+rows)*w.Blocks()], Rows: rows, Cols: l.n}
		l.kern.Quantize(&part, out)
	}
}

// Apply writes y[T,M] = x[T,N]·W'ᵀ + b, x quantised per block, with the kernels the
// matrix recomposes with.
func (l *MergedQ8) Apply(y, x []float32, T int) {
	model.Quantize(l.kern, &l.xq, x, T, l.n)
	l.ApplyQ8(l.kern, y, x, &l.xq)
}

// ApplyQ8 writes y[T,M] = xq·W'ᵀ + b with k's kernels; see model.Q8Linear.
func (l *MergedQ8) ApplyQ8(k model.Kernels, y, x []float32, xq *model.Q8) {
	model.MatMulQ8(k, y, xq, l.w, l.b)
}

// addExact adds the f32 part of an exact rank K to y[T,M]: U_hi·(s ⊙ (V_hiᵀ·x)), with
// row t's scales s = scales(t)[:K].
func (l *MergedQ8) addExact(k model.Kernels, y, x []float32, T int, scales func(t int) []float32) {
	if need := T * (l.k + l.m); cap(l.tmp) < need {
		l.tmp = make([]float32, need)
	}
	h, z := l.tmp[:T*l.k], l.tmp[T*l.k:T*(l.k+l.m)]
	model.MatMulF32(k, h, x, l.vthi, nil, T, l.n, l.k)
	for t := range T {
		s := scales(t)[:l.k]
		for c := range s {
			h[t*l.k+c] *= s[c]
		}
	}
	model.MatMulF32(k, z, h, l.uhi, nil, T, l.k, l.m)
	for i, v := range z {
		y[i] += v
	}
}

// factors returns the f32 factors, dequantised and joined on first use.
func (l *MergedQ8) factors() *Factors {
	if l.f != nil {
		return l.f
	}
	f := &Factors{M: l.m, N: l.n, R: l.r, S: l.sigma, U: make([]float32, l.m*l.r), V: make([]float32, l.n*l.r)}
	rl := l.r - l.k
	row := make([]float32, rl)
	for i := range l.m {
		copy(f.U[i*l.r:], l.uhi[i*l.k:(i+1)*l.k])
		l.u.Dequantize(row, i)
		copy(f.U[i*l.r+l.k:], row)
	}
	for j := range l.n {
		for c := range l.k {
			f.V[j*l.r+c] = l.vthi[c*l.n+j]
		}
		l.v.Dequantize(row, j)
		copy(f.V[j*l.r+l.k:], row)
	}
	l.f = f
	return f
}

// SetPopulation holds the scales of P candidates' z (nil: z = 1); see model.Adaptable.
// W' stays the one of SetZ.
func (l *MergedQ8) SetPopulation(zs [][]float32) error {
	if err := l.pop.set(&Factors{S: l.sigma, R: l.r}, zs); err != nil {
		return err
	}
	l.popW = make([]*model.Q8, len(zs))
	for p, z := range zs {
		switch {
		case z == nil:
			l.popW[p] = l.base
		case l.kept != nil && sameSlice(z, l.keptZ):
			l.popW[p] = l.kept
		}
	}
	return nil
}

// KeepMerged recomposes and holds W' for z[R] until the next KeepMerged, so that
// population rows of z run merged as the base model's do; see model.MergedKeeper. The
// z held (the same slice) costs nothing; nil drops what is held.
func (l *MergedQ8) KeepMerged(z []float32) error {
	switch {
	case z == nil:
		l.kept, l.keptZ = nil, nil
		return nil
	case l.kept != nil && sameSlice(z, l.keptZ):
		return nil
	}
	if _, err := l.recomposeZ(&l.kept, z); err != nil {
		return err
	}
	l.keptZ = z
	return nil
}

// sameSlice tells whether a and b are one slice: the same length and first element.
func sameSlice(a, b []float32) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// ApplyPopulation writes y[T,M] = c_p·U(σ⊙z_p ⊙ Vᵀx) + b, p = cand[t] for row t, in f32
// with the f32 factors (made on first use): the reference ApplyPopulationQ8 is held to.
func (l *MergedQ8) ApplyPopulation(y, x []float32, cand []int, T int) {
	f := l.factors()
	if l.pop.vt == nil {
		l.pop.vt = transposeV(f)
	}
	l.pop.apply(y, x, f, l.pop.vt, l.b, cand, T)
}

// ApplyPopulationQ8 writes y[T,M] = c_p·U(σ⊙z_p ⊙ Vᵀx) + b, p = cand[t] for row t, as
// the int8 path runs everything else: two int8 matmuls through the rank, on k,
//
//	h = xq·V_loᵀᵀ [T,R-K],  h_t ⊙= s_p[K:],  y = quantise(h)·U_loᵀ + b,
//
// plus the f32 part U_hi·(s_p[:K] ⊙ (V_hiᵀ·x)) of an exact rank K. It costs
// (M+N)·R multiply-adds a row, against M·N for W' merged, and no recomposition: the
// first pass and few-shot scoring run many z on few rows. The intermediate h is
// quantised once more than W' merged is, so a row differs from SetZ's by about the
// int8 path's error. When every row is the base model's, or every row the z that
// KeepMerged holds, they run on that W' merged instead, as SetZ would.
func (l *MergedQ8) ApplyPopulationQ8(k model.Kernels, y, x []float32, xq *model.Q8, cand []int) {
	T, rl := xq.Rows, l.r-l.k
	if len(cand) < T {
		panic(fmt.Sprintf("svf: ApplyPopulationQ8: %d candidates for %d rows", len(cand), T))
	}
	if w := l.merged(cand[:T]); w != nil {
		model.MatMulQ8(k, y, xq, w, l.b)
		return
	}
	if rl > 0 {
		if l.vt == nil {
			l.vt = transposeQ8(k, l.v)
		}
		if cap(l.ph) < T*rl {
			l.ph = make([]float32, T*rl)
		}
		h := l.ph[:T*rl]
		model.MatMulQ8(k, h, xq, l.vt, nil)
		for t := range T {
			s := l.pop.s[cand[t]][l.k:]
			row := h[t*rl : (t+1)*rl]
			for c := range row {
				row[c] *= s[c]
			}
		}
		model.Quantize(k, &l.phq, h, T, rl)
		model.MatMulQ8(k, y, &l.phq, l.u, l.b)
	} else { // every direction is f32: y starts at the bias
		for t := range T {
			row := y[t*l.m : (t+1)*l.m]
			if clear(row); l.b != nil {
				copy(row, l.b)
			}
		}
	}
	if l.k == 0 {
		return
	}
	l.addExact(k, y, x, T, func(t int) []float32 { return l.pop.s[cand[t]] })
}

// merged returns the W' every candidate of cand runs merged (the base model's, or the
// one KeepMerged holds), nil when they do not all run one.
func (l *MergedQ8) merged(cand []int) *model.Q8 {
	if len(cand) == 0 {
		return nil
	}
	w := l.popW[cand[0]]
	for _, c := range cand[1:] {
		if l.popW[c] != w {
			return nil
		}
	}
	return w
}

// transposeQ8 returns qᵀ [Cols, Rows] of q [Rows, Cols], dequantised, transposed and
// quantised again along its new rows with k.
func transposeQ8(k model.Kernels, q *model.Q8) *model.Q8 {
	rows, cols := q.Rows, q.Cols
	row := make([]float32, cols)
	t := make([]float32, cols*rows)
	for i := range rows {
		q.Dequantize(row, i)
		for j, v := range row {
			t[j*rows+i] = v
		}
	}
	var out model.Q8
	model.Quantize(k, &out, t, cols, rows)
	return &out
}
