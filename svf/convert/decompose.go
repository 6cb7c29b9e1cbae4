package convert

import (
	"fmt"
	"math"
	"slices"

	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/internal/dense"
)

// Decompose computes the thin SVD of w[m,n] (row-major, out × in) in float64 and
// returns it rounded to float32.
//
// Method (one-sided, through the Gram matrix). Let A[p,q] be W, or Wᵀ when W is wide,
// so p ≥ q = R. Then
//
//	G = AᵀA[q,q]             (dense.Syrk, p·q² multiply-adds)
//	G = V·diag(λ)·Vᵀ          (symEigen: tridiagonal QL, eigenvectors by rotations)
//	B = A·V[p,q] = U·diag(σ)  (dense.Gemm, 2·p·q² flops)
//	σ_k = ‖B[:,k]‖,  u_k = B[:,k]/σ_k
//
// σ is taken from the column norms of A·V rather than √λ: it is then accurate to
// about ε·σ_max absolutely, where √λ_k carries ε·σ_max²/σ_k. The u_k of small σ_k are
// the inaccurate part of a Gram method (their mutual angles are off by about
// ε·σ_max²/(σ_j·σ_k)): the columns with σ_k ≤ smallSigma·σ_max are re-orthogonalised
// against all larger ones, and those that are numerically in their span (rank
// deficiency) are replaced by an orthonormal completion (completeU). This moves
// U·diag(σ)·Vᵀ by about σ_k times the correction, far below float32 rounding.
//
// Measured against gonum's mat.SVD (LAPACK's Dgesvd) in TestDecomposeAccuracy, on
// tall, wide and square matrices up to 1200×300, Gaussian or with σ spread over 10 and
// 20 decades, rank-deficient, clustered (two values repeated) and zero: σ within
// 5.2e-8·σ_max of mat.SVD's, relative error of every σ ≥ 1e-3·σ_max below 5.5e-8,
// |UᵀU − I| and |VᵀV − I| below 4.5e-8, ‖U·diag(σ)·Vᵀ − W‖/‖W‖ below 4.9e-8. These
// are float32's rounding of the factors (2⁻²⁴ ≈ 6e-8): in float64 the method is far
// more accurate than what is stored.
//
// Time and memory (BenchmarkDecompose, TestDecomposeLarge; docs/CONVERSION.md): a
// 4096×14336 matrix in 176 s wall, 175 s of CPU, on this machine's 2 cores shared
// with other work (load average 8–10), at 1.36 GB peak RSS. About 7·p·q² + 10·q³
// flops: p·q² for G, 2·p·q² for A·V, 4/3·q³ to tridiagonalise, ≈ 7·q³ of rotations,
// 4/3·q³ to form Q. Alive at once: A in float64 (8·p·q bytes: 470 MB at
// 4096×14336), G then Vᵀ (8·q², 134 MB), a 32 MB block of B's rows, 24 MB of rotations,
// and the float32 factors. The previous method (Dgesvd's QR and bidiagonal QR in
// gonum) took 94 s for 2048×7168 and extrapolated to 12–19 min for 4096×14336.
//
// Signs are fixed so that a pack is reproducible: each pair (u_k, v_k) is negated when
// needed so that the entry of v_k largest in magnitude (the first one, on a tie) is
// positive. The result is deterministic for a given w, whatever GOMAXPROCS: every sum
// that is split among goroutines is split in the same fixed blocks.
//
// A bad shape, a non-finite entry, or an eigen-iteration that does not converge is an
// error naming the shape.
func Decompose(w []float32, m, n int) (*svf.Factors, error) {
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
	vat, s, ok := gramSVD(a, p, q)
	if !ok {
		return nil, fmt.Errorf("svf: decompose %d×%d matrix: eigenvalue iteration did not converge", m, n)
	}

	f := &svf.Factors{
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
	for i, x := range a {
		uDst[i] = float32(x)
	}
	a = nil
	transpose32(vDst, vat, q, q)
	fixSigns(f)
	return f, nil
}

// smallSigma is the ratio σ_k/σ_max below which u_k = A·v_k/σ_k is re-orthogonalised.
// Above it the Gram method's loss of orthogonality, ≈ ε·(σ_max/σ_k)² ≈ 2e-10, is far
// below float32's; below it (1e-3 of the largest, rare in trained weights) the columns
// cost one more pass over A's size each.
const smallSigma = 1e-3

// gramSVD computes the thin SVD of a[p,q], p ≥ q: A = U·diag(s)·Vᵀ. It overwrites a
// with U[p,q] and returns vt[q,q] = Vᵀ and s[q], descending. ok is false when the
// eigenvalue iteration does not converge.
func gramSVD(a []float64, p, q int) (vt, s []float64, ok bool) {
	vt = make([]float64, q*q)
	dense.Syrk(q, p, 1, a, q, 0, vt, q) // G = AᵀA
	if _, ok := symEigen(vt, q); !ok {
		return nil, nil, false
	}
	// B = A·V, by blocks of rows written back over A's.
	rows := min(p, 1024)
	tmp := make([]float64, rows*q)
	for i0 := 0; i0 < p; i0 += rows {
		r := min(rows, p-i0)
		dense.Gemm(false, true, r, q, q, 1, a[i0*q:], q, vt, q, 0, tmp, q)
		copy(a[i0*q:(i0+r)*q], tmp[:r*q])
	}
	tmp = nil
	s = columnNorms(a, p, q)
	// σ from the norms may reorder nearly equal values: sort again, descending, ties by
	// index, and permute U's columns and Vᵀ's rows alike.
	perm := make([]int, q)
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(x, y int) int {
		switch {
		case s[x] > s[y]:
			return -1
		case s[x] < s[y]:
			return 1
		}
		return 0
	})
	sorted := make([]float64, q)
	for k, i := range perm {
		sorted[k] = s[i]
	}
	s = sorted
	permuteRows(vt, q, perm)
	permuteColumns(a, p, q, perm)
	// u_k = B[:,k]/σ_k for the large σ; the others are rebuilt.
	good := 0
	for good < q && s[good] > smallSigma*s[0] {
		good++
	}
	for i := range p {
		row := a[i*q : i*q+good]
		for k := range row {
			row[k] /= s[k]
		}
	}
	if good < q {
		completeU(a, p, q, good)
	}
	return vt, s, true
}

// columnNorms returns the Euclidean norms of the columns of b[p,q], summed in row order.
func columnNorms(b []float64, p, q int) []float64 {
	s := make([]float64, q)
	for i := range p {
		row := b[i*q : i*q+q]
		for k, x := range row {
			s[k] += x * x
		}
	}
	for k, x := range s {
		s[k] = math.Sqrt(x)
	}
	return s
}

// permuteColumns reorders the columns of x[p,q] so that new column k is old column
// perm[k].
func permuteColumns(x []float64, p, q int, perm []int) {
	if slices.IsSorted(perm) {
		return
	}
	tmp := make([]float64, q)
	for i := range p {
		row := x[i*q : i*q+q]
		for k, j := range perm {
			tmp[k] = row[j]
		}
		copy(row, tmp)
	}
}

// completeU makes columns good…q-1 of u[p,q] orthonormal to the first good columns
// (orthonormal already) and to each other. Each column, A·v_k for a small σ_k, is
// projected off the first good columns twice by products (classical Gram–Schmidt run
// twice is enough) and off the previous small ones by modified Gram–Schmidt, twice,
// then normalised. A column left with less than 1e-4 of its norm (or with none: σ_k = 0)
// is numerically in the span already (rank deficiency); it is replaced by the standard
// basis vector e_i of the row i least covered by the columns so far (Σ_k U[i,k]²
// smallest, the first on a tie), whose remaining norm is at least √((p−k)/p) ≥ 1/√p.
func completeU(u []float64, p, q, good int) {
	small := q - good
	x := make([]float64, p*small) // the small columns, contiguous: x[j*p+i] = U[i, good+j]
	for i := range p {
		for j := range small {
			x[j*p+i] = u[i*q+good+j]
		}
	}
	cover := make([]float64, p) // Σ_k U[i,k]² over the columns accepted so far
	for i := range p {
		for _, y := range u[i*q : i*q+good] {
			cover[i] += y * y
		}
	}
	coef := make([]float64, good*small)
	// projectGood removes from x[j0:j1] its components along the good columns, twice.
	projectGood := func(j0, j1 int) {
		if good == 0 {
			return
		}
		cols := j1 - j0
		xs := x[j0*p : j1*p]
		for range 2 {
			// coef[good,cols] = Ugoodᵀ·X, X[p,cols] stored by columns (Xᵀ row-major).
			dense.Gemm(true, true, good, cols, p, 1, u, q, xs, p, 0, coef, cols)
			// Xᵀ[cols,p] −= coefᵀ·Ugoodᵀ.
			dense.Gemm(true, true, cols, p, good, -1, coef, cols, u, q, 1, xs, p)
		}
	}
	before := make([]float64, small) // norms before any projection
	for j := range small {
		before[j] = norm(x[j*p : (j+1)*p])
	}
	projectGood(0, small)
	replaced := 0
	for j := 0; j < small; j++ {
		xj := x[j*p : (j+1)*p]
		for range 2 {
			for i := range j {
				xi := x[i*p : (i+1)*p]
				axpy(-dot(xi, xj), xi, xj)
			}
		}
		after := norm(xj)
		if before[j] == 0 || after <= 1e-4*before[j] {
			if replaced > p {
				panic(fmt.Sprintf("svf: completeU: U[%d,%d] cannot be completed from column %d", p, q, good+j))
			}
			replaced++
			clear(xj)
			xj[argmin(cover)] = 1
			before[j] = 1
			projectGood(j, j+1)
			j-- // orthogonalise the replacement against the previous small columns
			continue
		}
		for i := range xj {
			xj[i] /= after
			cover[i] += xj[i] * xj[i]
		}
	}
	for i := range p {
		for j := range small {
			u[i*q+good+j] = x[j*p+i]
		}
	}
}

// argmin returns the index of the smallest value, the first on a tie.
func argmin(x []float64) int {
	best := 0
	for i, v := range x {
		if v < x[best] {
			best = i
		}
	}
	return best
}

func dot(x, y []float64) float64 {
	var s float64
	y = y[:len(x)]
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

func axpy(alpha float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func norm(x []float64) float64 { return math.Sqrt(dot(x, x)) }

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

// fixSigns negates each pair (u_k, v_k) whose v_k has its largest-magnitude entry
// (the first one, on a tie) negative. It works on the float32 values, so the rule
// holds exactly for what is stored.
func fixSigns(f *svf.Factors) {
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
