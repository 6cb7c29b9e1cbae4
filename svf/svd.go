package svf

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/lapack"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"
)

// Factors is the thin singular value decomposition of a weight matrix W[M,N] (out × in):
// W = U·diag(S)·Vᵀ with R = min(M, N), nothing truncated.
type Factors struct {
	U    []float32 // [M,R] left singular vectors, one per column, orthonormal
	S    []float32 // [R] singular values σ, descending, ≥ 0
	V    []float32 // [N,R] right singular vectors, one per column, orthonormal
	M, N int       // W's shape: out, in
	R    int       // rank kept: min(M, N)
}

// Decompose computes the thin SVD of w[m,n] (row-major, out × in) in float64 with
// gonum's LAPACK, and returns it rounded to float32.
//
// It follows LAPACK's Dgesvd (the routine behind gonum's mat.SVD) for a tall matrix
// A (W, or Wᵀ when m < n): A = Q·R (Dgeqrf), R = Q_B·B·P_Bᵀ with B bidiagonal (Dgebrd,
// Dorgbr), B = X·diag(σ)·Yᵀ by implicit-shift QR (Dbdsqr), then U = Q·Q_B·X (Dormqr)
// and Vᵀ = Yᵀ·P_Bᵀ. Two things differ, for speed on large matrices (see bidiagSVD);
// the arithmetic is the same, and gonum's mat.SVD is the twin the tests hold it to.
// At most two float64 matrices of A's size (A, holding Q's reflectors, and U) and
// three R×R ones are alive at once: for 4096×14336, 0.94 GB plus 0.4 GB, then 0.3 GB
// of float32 factors (measured: 577 MB peak RSS for 2048×7168, a quarter of that).
//
// Signs are fixed so that a pack is reproducible: each pair (u_k, v_k) is negated when
// needed so that the entry of v_k largest in magnitude (the first one, on a tie) is
// positive. The result is deterministic for a given w, whatever GOMAXPROCS.
//
// A bad shape, a non-finite entry, or a factorisation that does not converge is an
// error naming the shape.
func Decompose(w []float32, m, n int) (*Factors, error) {
	if m <= 0 || n <= 0 {
		return nil, fmt.Errorf("svf: decompose %d×%d matrix: dimensions must be positive", m, n)
	}
	if len(w) != m*n {
		return nil, fmt.Errorf("svf: decompose %d×%d matrix: have %d values, want %d", m, n, len(w), m*n)
	}
	for i, x := range w {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("svf: decompose %d×%d matrix: entry [%d,%d] is %v", m, n, i/n, i%n, x)
		}
	}
	// A[p,q] is tall: W itself, or Wᵀ when W is wide; A = Ua·diag(s)·Vaᵀ.
	p, q := max(m, n), min(m, n)
	a := make([]float64, p*q)
	if m >= n {
		for i, x := range w {
			a[i] = float64(x)
		}
	} else {
		transpose64(a, w, m, n)
	}
	ua, vat, s, ok := tallSVD(a, p, q)
	if !ok {
		return nil, fmt.Errorf("svf: decompose %d×%d matrix: SVD did not converge", m, n)
	}

	f := &Factors{
		U: make([]float32, m*q),
		S: make([]float32, q),
		V: make([]float32, n*q),
		M: m, N: n, R: q,
	}
	for k, x := range s {
		f.S[k] = float32(x)
	}
	// W = Ua·S·Vaᵀ when tall, W = Aᵀ = Va·S·Uaᵀ when wide.
	uDst, vDst := f.U, f.V
	if m < n {
		uDst, vDst = f.V, f.U
	}
	for i, x := range ua {
		uDst[i] = float32(x)
	}
	ua = nil
	transpose32(vDst, vat, q, q)
	f.fixSigns()
	return f, nil
}

// transpose64 writes dst[n,m] = src[m,n]ᵀ in float64, in tiles so both sides stay
// in cache.
func transpose64(dst []float64, src []float32, m, n int) {
	const tile = 64
	for i0 := 0; i0 < m; i0 += tile {
		for j0 := 0; j0 < n; j0 += tile {
			for i := i0; i < min(i0+tile, m); i++ {
				for j := j0; j < min(j0+tile, n); j++ {
					dst[j*m+i] = float64(src[i*n+j])
				}
			}
		}
	}
}

// transpose32 writes dst[n,m] = src[m,n]ᵀ rounded to float32, in tiles.
func transpose32(dst []float32, src []float64, m, n int) {
	const tile = 64
	for i0 := 0; i0 < m; i0 += tile {
		for j0 := 0; j0 < n; j0 += tile {
			for i := i0; i < min(i0+tile, m); i++ {
				for j := j0; j < min(j0+tile, n); j++ {
					dst[j*m+i] = float32(src[i*n+j])
				}
			}
		}
	}
}

// tallSVD computes the thin SVD of a[p,q], p ≥ q, which it destroys:
// A = U·diag(s)·Vᵀ with u[p,q], vt[q,q] = Vᵀ and s[q] descending.
// ok is false when the bidiagonal QR iteration does not converge.
func tallSVD(a []float64, p, q int) (u, vt, s []float64, ok bool) {
	impl := lapackgonum.Implementation{}
	tau := make([]float64, q)
	d, e := make([]float64, q), make([]float64, max(q-1, 1))
	tauQ, tauP := make([]float64, q), make([]float64, q)
	r := make([]float64, q*q) // [q,q]: R, then Q_B
	vt = make([]float64, q*q) // [q,q]: P_Bᵀ, then Vᵀ

	// One work space, as large as the largest query.
	query := []float64{0}
	lwork := 1
	impl.Dgeqrf(p, q, a, q, tau, query, -1)
	lwork = max(lwork, int(query[0]))
	impl.Dormqr(blas.Left, blas.NoTrans, p, q, q, a, q, tau, a, q, query, -1)
	lwork = max(lwork, int(query[0]))
	impl.Dgebrd(q, q, r, q, d, e, tauQ, tauP, query, -1)
	lwork = max(lwork, int(query[0]))
	impl.Dorgbr(lapack.GenerateQ, q, q, q, r, q, tauQ, query, -1)
	lwork = max(lwork, int(query[0]))
	impl.Dorgbr(lapack.GeneratePT, q, q, q, vt, q, tauP, query, -1)
	lwork = max(lwork, int(query[0]))
	work := make([]float64, lwork)

	// A = Q·R.
	impl.Dgeqrf(p, q, a, q, tau, work, lwork)
	for i := range q {
		copy(r[i*q+i:(i+1)*q], a[i*q+i:(i+1)*q])
	}
	// R = Q_B·B·P_Bᵀ, B upper bidiagonal (d, e).
	impl.Dgebrd(q, q, r, q, d, e, tauQ, tauP, work, lwork)
	copy(vt, r)
	impl.Dorgbr(lapack.GeneratePT, q, q, q, vt, q, tauP, work, lwork)
	impl.Dorgbr(lapack.GenerateQ, q, q, q, r, q, tauQ, work, lwork)
	// B = X·diag(s)·Yᵀ: vt ← Yᵀ·P_Bᵀ, c ← Xᵀ·Q_Bᵀ.
	c := make([]float64, q*q)
	for i := range q {
		for j := range q {
			c[j*q+i] = r[i*q+j]
		}
	}
	r = nil
	if !bidiagSVD(d, e, vt, c, q) {
		return nil, nil, nil, false
	}
	// U = Q·[Q_B·X; 0] = Q·[cᵀ; 0], Q applied from its reflectors (Dormqr) rather
	// than formed (Dorgqr) and multiplied.
	u = make([]float64, p*q)
	for i := range q {
		for j := range q {
			u[j*q+i] = c[i*q+j]
		}
	}
	c = nil
	impl.Dormqr(blas.Left, blas.NoTrans, p, q, q, a, q, tau, u, q, work, lwork)
	return u, vt, d, true
}

// bidiagSVD diagonalises the upper bidiagonal B[q,q] (diagonal d, superdiagonal e) by
// Dbdsqr, leaving its singular values in d (descending) and applying its rotations,
// vt ← Yᵀ·vt and c ← Xᵀ·c for vt[q,q] and c[q,q].
//
// It differs from Dgesvd in two ways. Dgesvd lets Dbdsqr update U[·,q] by rotating
// its columns, which for row-major storage touches one element per cache line; here U
// is carried transposed, as c, whose rows are rotated (contiguous). And the rotations
// of each column of vt and c depend only on (d, e), never on the other columns, so
// column chunks run concurrently, each on its own copy of (d, e): every copy follows
// the same arithmetic, so the result is the same bits as one serial call.
func bidiagSVD(d, e, vt, c []float64, q int) bool {
	impl := lapackgonum.Implementation{}
	type chunk struct {
		mat    []float64 // vt or c, from its first column in the chunk
		cols   int
		isLeft bool // c, which takes the left rotations (Xᵀ)
	}
	// Cut each of vt and c into column chunks, enough to keep every core busy; the
	// scalar QR sweeps repeated per chunk cost O(q²), the rotations O(q²·cols).
	per := 1
	if q >= 128 {
		per = max(1, (runtime.GOMAXPROCS(0)+1)/2)
	}
	var chunks []chunk
	for _, side := range []struct {
		mat    []float64
		isLeft bool
	}{{vt, false}, {c, true}} {
		width := (q + per - 1) / per
		for j0 := 0; j0 < q; j0 += width {
			chunks = append(chunks, chunk{side.mat[j0:], min(width, q-j0), side.isLeft})
		}
	}
	results := make([]bool, len(chunks))
	dOut := make([][]float64, len(chunks))
	run := func(i int) {
		ch := chunks[i]
		dd, ee := slices.Clone(d), slices.Clone(e)
		work := make([]float64, max(1, 4*(q-1)))
		if ch.isLeft {
			results[i] = impl.Dbdsqr(blas.Upper, q, 0, 0, ch.cols, dd, ee, nil, 1, nil, 1, ch.mat, q, work)
		} else {
			results[i] = impl.Dbdsqr(blas.Upper, q, ch.cols, 0, 0, dd, ee, ch.mat, q, nil, 1, nil, 1, work)
		}
		dOut[i] = dd
	}
	if len(chunks) == 2 && q < 128 {
		run(0)
		run(1)
	} else {
		var wg sync.WaitGroup
		for i := range chunks {
			wg.Go(func() { run(i) })
		}
		wg.Wait()
	}
	for i, ok := range results {
		if !ok {
			return false
		}
		if !slices.Equal(dOut[i], dOut[0]) {
			panic("svf: Dbdsqr took different paths on column chunks of one matrix")
		}
	}
	copy(d, dOut[0])
	return true
}

// fixSigns negates each pair (u_k, v_k) whose v_k has its largest-magnitude entry
// (the first one, on a tie) negative. It works on the float32 values, so the rule
// holds exactly for what is stored.
func (f *Factors) fixSigns() {
	r := f.R
	best := make([]float32, r) // |V[j,k]| largest so far
	neg := make([]bool, r)     // sign of that entry
	for j := range f.N {
		row := f.V[j*r : j*r+r]
		for k, x := range row {
			if ax := float32(math.Abs(float64(x))); ax > best[k] {
				best[k], neg[k] = ax, x < 0
			}
		}
	}
	flip := func(x []float32) {
		for i := 0; i < len(x); i += r {
			row := x[i : i+r]
			for k, n := range neg {
				if n {
					row[k] = -row[k]
				}
			}
		}
	}
	flip(f.U)
	flip(f.V)
}

// NuclearScale returns c = Σs / Σ(s⊙z) for s[R] and z[R], computed in float64: the
// factor of W' = U·diag(σ⊙z)·Vᵀ·(Σσ/Σ(σ⊙z)) (ARCHITECTURE §1) that keeps the nuclear
// norm, so that a uniform z is a no-op. z nil means z = 1 (c = 1). When Σ(s⊙z) is 0
// (z = 0, or W = 0) it returns 1 rather than dividing by zero, so W' = 0, not NaN.
// It panics if z is not nil and len(z) != len(s).
func NuclearScale(s, z []float32) float32 {
	return float32(nuclearScale(s, z))
}

func nuclearScale(s, z []float32) float64 {
	if z == nil {
		return 1
	}
	if len(z) != len(s) {
		panic(fmt.Sprintf("svf: NuclearScale: s[%d] and z[%d] differ in length", len(s), len(z)))
	}
	var num, den float64
	for k, x := range s {
		num += float64(x)
		den += float64(x) * float64(z[k])
	}
	if den == 0 {
		return 1
	}
	return num / den
}

// Recompose writes the adapted weight dst[M,N] = U·diag(S⊙z)·Vᵀ·(ΣS/Σ(S⊙z)) for z[R]
// (ARCHITECTURE §1, the merged path). z nil means z = 1: dst = U·diag(S)·Vᵀ = W.
// Products are accumulated in float64 and rounded once per entry; rows are shared
// among GOMAXPROCS goroutines.
//
// Wrong lengths of dst or z are caller bugs: Recompose panics with both shapes.
func (f *Factors) Recompose(dst []float32, z []float32) {
	m, n, r := f.M, f.N, f.R
	if len(dst) != m*n {
		panic(fmt.Sprintf("svf: Recompose: dst[%d] does not hold W[%d,%d]", len(dst), m, n))
	}
	if z != nil && len(z) != r {
		panic(fmt.Sprintf("svf: Recompose: z[%d] does not match rank R=%d of W[%d,%d]", len(z), r, m, n))
	}
	if len(f.U) != m*r || len(f.S) != r || len(f.V) != n*r {
		panic(fmt.Sprintf("svf: Recompose: U[%d] S[%d] V[%d] do not fit M=%d N=%d R=%d",
			len(f.U), len(f.S), len(f.V), m, n, r))
	}
	// s[k] = c·σ_k·z_k, folded into the rows of U as they are used.
	c := nuclearScale(f.S, z)
	s := make([]float64, r)
	for k, x := range f.S {
		s[k] = c * float64(x)
		if z != nil {
			s[k] *= float64(z[k])
		}
	}
	blocks := (m + recomposeRows - 1) / recomposeRows
	parallelRows(blocks, recomposeRows*n*r, func(lo, hi int) {
		var a [recomposeRows][]float64 // rows of U scaled by s: a[t][k] = U[i0+t,k]·s[k]
		for t := range a {
			a[t] = make([]float64, r)
		}
		for b := lo; b < hi; b++ {
			i0 := b * recomposeRows
			rows := min(recomposeRows, m-i0)
			for t := range recomposeRows {
				i := i0 + min(t, rows-1) // a short last block repeats its last row
				u := f.U[i*r : i*r+r]
				for k, x := range u {
					a[t][k] = float64(x) * s[k]
				}
			}
			recomposeBlock(dst, &a, f.V, i0, rows, n, r)
		}
	})
}

// recomposeRows is how many rows of dst one pass over V fills.
const recomposeRows = 4

// recomposeBlock writes dst[i0+t, j] = Σ_k a[t][k]·V[j,k] for t < rows and every
// j < n, from a[4][R] and V[N,R]. Four rows and two columns share each load.
func recomposeBlock(dst []float32, a *[recomposeRows][]float64, v []float32, i0, rows, n, r int) {
	a0, a1, a2, a3 := a[0][:r], a[1][:r], a[2][:r], a[3][:r]
	j := 0
	for ; j+2 <= n; j += 2 {
		v0 := v[j*r : j*r+r]
		v1 := v[(j+1)*r : (j+1)*r+r]
		v1, a0, a1, a2, a3 := v1[:len(v0)], a0[:len(v0)], a1[:len(v0)], a2[:len(v0)], a3[:len(v0)]
		var s00, s10, s20, s30, s01, s11, s21, s31 float64
		for k := range v0 {
			x0, x1 := float64(v0[k]), float64(v1[k])
			s00 += a0[k] * x0
			s10 += a1[k] * x0
			s20 += a2[k] * x0
			s30 += a3[k] * x0
			s01 += a0[k] * x1
			s11 += a1[k] * x1
			s21 += a2[k] * x1
			s31 += a3[k] * x1
		}
		put4(dst, i0, rows, n, j, s00, s10, s20, s30)
		put4(dst, i0, rows, n, j+1, s01, s11, s21, s31)
	}
	for ; j < n; j++ {
		v0 := v[j*r : j*r+r]
		a0, a1, a2, a3 := a0[:len(v0)], a1[:len(v0)], a2[:len(v0)], a3[:len(v0)]
		var s0, s1, s2, s3 float64
		for k := range v0 {
			x0 := float64(v0[k])
			s0 += a0[k] * x0
			s1 += a1[k] * x0
			s2 += a2[k] * x0
			s3 += a3[k] * x0
		}
		put4(dst, i0, rows, n, j, s0, s1, s2, s3)
	}
}

// put4 stores column j of the rows i0…i0+rows-1 of dst[·,n].
func put4(dst []float32, i0, rows, n, j int, s0, s1, s2, s3 float64) {
	dst[i0*n+j] = float32(s0)
	if rows > 1 {
		dst[(i0+1)*n+j] = float32(s1)
	}
	if rows > 2 {
		dst[(i0+2)*n+j] = float32(s2)
	}
	if rows > 3 {
		dst[(i0+3)*n+j] = float32(s3)
	}
}

// parallelRows calls f on disjoint ranges covering [0, n), on up to GOMAXPROCS
// goroutines; cost is the work per index in multiply-adds, and small jobs run on the
// calling goroutine.
func parallelRows(n, cost int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || n*cost < 1<<16 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		wg.Go(func() { f(lo, min(lo+chunk, n)) })
	}
	wg.Wait()
}
