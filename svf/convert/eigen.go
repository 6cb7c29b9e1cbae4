package convert

import (
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"

	"github.com/t2web/t2web/svf/internal/dense"
)

// symEigen computes the eigendecomposition G = Z·diag(λ)·Zᵀ of the symmetric g[n,n],
// which it overwrites with Zᵀ: row k of g is the unit eigenvector of λ_k, λ descending.
// ok is false when the QL iteration does not converge.
//
// Three steps, as LAPACK's Dsyev: G = Q·T·Qᵀ with T tridiagonal (tridiagonalize, then
// gonum's Dorgtr), then T = Y·diag(λ)·Yᵀ by the implicit QL iteration with Wilkinson shifts
// (ql), and Z = Q·Y. Dsyev's own QL (Dsteqr) rotates the columns of a row-major Z, one
// element per cache line, on one core: 14.5 s for n = 1024 here, ≈ 15 min for 4096.
// Here the QL iteration only records its rotations, and they are applied to the rows
// of Zᵀ (contiguous) in batches, on column strips that stay in cache, on every core
// (applyRotations): the same arithmetic per element whatever the strips.
func symEigen(g []float64, n int) (lam []float64, ok bool) {
	impl := lapackgonum.Implementation{}
	d, e, tau := tridiagonalize(g, n)
	query := []float64{0}
	impl.Dorgtr(blas.Lower, n, g, n, tau, query, -1)
	work := make([]float64, max(int(query[0]), 1))
	impl.Dorgtr(blas.Lower, n, g, n, tau, work, len(work))
	work = nil
	transposeSquare(g, n) // rows of Qᵀ: the columns of Q, rotated below into Zᵀ
	e[n-1] = 0
	if !ql(d, e, func(rots []rotation) { applyRotations(g, n, rots) }) {
		return nil, false
	}
	// Descending order, ties by index; rows of Zᵀ follow.
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int {
		switch {
		case d[a] > d[b]:
			return -1
		case d[a] < d[b]:
			return 1
		}
		return 0
	})
	lam = make([]float64, n)
	for k, i := range perm {
		lam[k] = d[i]
	}
	permuteRows(g, n, perm)
	return lam, true
}

// rotation is one plane rotation of the QL iteration: rows I and I+1 of Zᵀ become
// (C·z_I − S·z_{I+1}, S·z_I + C·z_{I+1}).
type rotation = dense.Rotation

// rotationBatch is how many rotations are recorded before they are applied (24 B each).
const rotationBatch = 1 << 20

// ql diagonalises the symmetric tridiagonal matrix with diagonal d[n] and off-diagonal
// e[n] (e[i] couples i and i+1, e[n-1] = 0) by the implicit QL iteration with Wilkinson
// shifts (tqli in Numerical Recipes, after EISPACK's tql2), leaving the eigenvalues,
// unsorted, in d. Its rotations, in order, go to apply in batches. ok is false after
// 60 iterations on one eigenvalue.
//
// An off-diagonal element is dropped when it is below ε·‖T‖ (‖T‖ the largest row sum
// of magnitudes): eigenvalues are then accurate to ε·‖T‖ absolutely, all a Gram
// matrix's carry. A test relative to its two diagonal neighbours alone (as tqli's)
// never drops an element among eigenvalues at rounding level, as a rank-deficient
// matrix has, and the iteration does not converge.
func ql(d, e []float64, apply func([]rotation)) bool {
	n := len(d)
	const eps = 0x1p-53
	var norm float64
	for i := range n {
		row := math.Abs(d[i]) + math.Abs(e[i])
		if i > 0 {
			row += math.Abs(e[i-1])
		}
		norm = max(norm, row)
	}
	tol := eps * norm
	rots := make([]rotation, 0, min(rotationBatch, n*n))
	for l := 0; l < n; l++ {
		for iter := 0; ; iter++ {
			m := l
			for ; m < n-1; m++ {
				if math.Abs(e[m]) <= tol {
					break
				}
			}
			if m == l {
				break
			}
			if iter == 60 {
				return false
			}
			if len(rots)+(m-l) > cap(rots) {
				apply(rots)
				rots = rots[:0]
			}
			g := (d[l+1] - d[l]) / (2 * e[l])
			r := math.Hypot(g, 1)
			g = d[m] - d[l] + e[l]/(g+math.Copysign(r, g))
			s, c, p := 1.0, 1.0, 0.0
			i := m - 1
			for ; i >= l; i-- {
				f, b := s*e[i], c*e[i]
				r = math.Hypot(f, g)
				e[i+1] = r
				if r == 0 { // underflow: T splits here; start again
					d[i+1] -= p
					e[m] = 0
					break
				}
				s, c = f/r, g/r
				g = d[i+1] - p
				r = (d[i]-g)*s + 2*c*b
				p = s * r
				d[i+1] = g + p
				g = c*r - b
				rots = append(rots, rotation{I: i, C: c, S: s})
			}
			if r == 0 && i >= l {
				continue
			}
			d[l] -= p
			e[l] = g
			e[m] = 0
		}
	}
	apply(rots)
	return true
}

// rotationStrip is the width of the column strips of Zᵀ that take a batch of rotations
// one after another: 4096 rows × 32 columns is 1 MiB, an L2 cache.
const rotationStrip = 32

// applyRotations applies rots, in order, to the rows of zt[n,n], strip by strip, the
// strips dealt round-robin to GOMAXPROCS goroutines.
func applyRotations(zt []float64, n int, rots []rotation) {
	if len(rots) == 0 {
		return
	}
	strips := (n + rotationStrip - 1) / rotationStrip
	workers := max(1, min(runtime.GOMAXPROCS(0), strips))
	run := func(w int) {
		for st := w; st < strips; st += workers {
			dense.RotRows(zt, n, st*rotationStrip, min((st+1)*rotationStrip, n), rots)
		}
	}
	if workers == 1 || len(rots)*n < 1<<16 {
		for w := range workers {
			run(w)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { run(w) })
	}
	wg.Wait()
}

// transposeSquare transposes x[n,n] in place.
func transposeSquare(x []float64, n int) {
	for i := range n {
		for j := i + 1; j < n; j++ {
			x[i*n+j], x[j*n+i] = x[j*n+i], x[i*n+j]
		}
	}
}

// permuteRows reorders the rows of x[n,n] so that new row k is old row perm[k],
// following the permutation's cycles with one row of scratch.
func permuteRows(x []float64, n int, perm []int) {
	done := make([]bool, n)
	tmp := make([]float64, n)
	for k := range n {
		if done[k] || perm[k] == k {
			continue
		}
		copy(tmp, x[k*n:(k+1)*n])
		j := k
		for {
			done[j] = true
			src := perm[j]
			if src == k {
				copy(x[j*n:(j+1)*n], tmp)
				break
			}
			copy(x[j*n:(j+1)*n], x[src*n:(src+1)*n])
			j = src
		}
	}
}
