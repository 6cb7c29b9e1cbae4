package convert

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	blasgonum "gonum.org/v1/gonum/blas/gonum"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"

	"github.com/t2web/t2web/svf/internal/dense"
)

// tridiagonalize reduces the symmetric a[n,n] (both triangles stored) to tridiagonal
// form, Qᵀ·A·Q = T, by Householder reflectors in panels of tridiagPanel columns, as
// LAPACK's Dsytrd with Dlatrd (lower). It returns T's diagonal d[n] and off-diagonal
// e[n] (e[i] couples i and i+1, e[n-1] = 0), and leaves the reflectors in a exactly as
// Dsytrd(Lower) does — v_i below the subdiagonal of column i, tau[i] — for gonum's
// Dorgtr to form Q. The rest of a is overwritten.
//
// gonum's own Dsytrd spends its time in a single-threaded pure-Go Dsymv and Dsyr2k:
// 11 s for n = 2048 here, ≈ 100 s for 4096, most of a 4096×14336 decomposition.
// Here the product with the trailing matrix, which must read all of it once per column
// (n³/3 values in all), is shared by all cores in fixed blocks of rows (gemvRows), and
// the rank-2·panel update after each panel is dense.Gemm on the full square, which
// keeps both triangles (to rounding) so that column j can be read as row j.
func tridiagonalize(a []float64, n int) (d, e, tau []float64) {
	impl := lapackgonum.Implementation{}
	bl := blasgonum.Implementation{}
	const nb = tridiagPanel
	d, e, tau = make([]float64, n), make([]float64, n), make([]float64, max(n-1, 1))
	vbuf := make([]float64, n*nb) // V[N,nb]: the panel's reflectors, by rows of the trailing matrix
	wbuf := make([]float64, n*nb) // W[N,nb]: A·v corrected, so that A − V·Wᵀ − W·Vᵀ is the update
	col := make([]float64, n)
	y := make([]float64, n)
	tmp := make([]float64, nb)
	for i0 := 0; i0 < n; i0 += nb {
		N := n - i0
		pb := min(nb, N)
		t := a[i0*n+i0:] // the trailing matrix T[N,N], stride n
		V, W := vbuf[:N*nb], wbuf[:N*nb]
		clear(V)
		clear(W)
		for j := range pb {
			// Column j of the trailing matrix, rows j…N-1, read as row j (symmetry), with
			// this panel's earlier reflectors applied: c −= V[j:,:j]·W[j,:j] + W[j:,:j]·V[j,:j].
			c := col[:N-j]
			copy(c, t[j*n+j:j*n+N])
			if j > 0 {
				bl.Dgemv(blas.NoTrans, N-j, j, -1, V[j*nb:], nb, W[j*nb:], 1, 1, c, 1)
				bl.Dgemv(blas.NoTrans, N-j, j, -1, W[j*nb:], nb, V[j*nb:], 1, 1, c, 1)
			}
			d[i0+j] = c[0]
			if i0+j == n-1 {
				break
			}
			// H = I − τ·v·vᵀ with v = (1, x) takes c[1:] to (β, 0, …, 0).
			m := N - j - 1
			beta, tj := impl.Dlarfg(m, c[1], c[2:], 1)
			e[i0+j], tau[i0+j] = beta, tj
			c[1] = 1
			v := c[1:]
			for r := 2; r < N-j; r++ { // Dsytrd's place for v: below the subdiagonal
				t[(j+r)*n+j] = c[r]
			}
			for r, x := range v {
				V[(j+1+r)*nb+j] = x
			}
			// w = τ·(A22·v − V·(Wᵀ·v) − W·(Vᵀ·v)), then w −= ½·τ·(wᵀv)·v.
			w := y[:m]
			gemvRows(t[(j+1)*n+j+1:], n, m, v, w)
			if j > 0 {
				bl.Dgemv(blas.Trans, m, j, 1, W[(j+1)*nb:], nb, v, 1, 0, tmp, 1)
				bl.Dgemv(blas.NoTrans, m, j, -1, V[(j+1)*nb:], nb, tmp, 1, 1, w, 1)
				bl.Dgemv(blas.Trans, m, j, 1, V[(j+1)*nb:], nb, v, 1, 0, tmp, 1)
				bl.Dgemv(blas.NoTrans, m, j, -1, W[(j+1)*nb:], nb, tmp, 1, 1, w, 1)
			}
			bl.Dscal(m, tj, w, 1)
			bl.Daxpy(m, -0.5*tj*bl.Ddot(m, w, 1, v, 1), v, 1, w, 1)
			for r, x := range w {
				W[(j+1+r)*nb+j] = x
			}
		}
		// T[pb:,pb:] −= V·Wᵀ + W·Vᵀ over the rows past the panel.
		if M := N - pb; M > 0 {
			dense.Gemm(false, true, M, M, pb, -1, V[pb*nb:], nb, W[pb*nb:], nb, 1, t[pb*n+pb:], n)
			dense.Gemm(false, true, M, M, pb, -1, W[pb*nb:], nb, V[pb*nb:], nb, 1, t[pb*n+pb:], n)
		}
	}
	return d, e, tau
}

// tridiagPanel is the number of columns reduced between two updates of the trailing
// matrix (LAPACK's block size for Dsytrd).
const tridiagPanel = 32

// gemvRows writes y[m] = A[m,m]·v for A with stride lda, in blocks of 64 rows dealt
// round-robin to GOMAXPROCS goroutines: each row's sum is taken by the same call
// whatever the count, so the result does not depend on it.
func gemvRows(a []float64, lda, m int, v, y []float64) {
	const rows = 64
	bl := blasgonum.Implementation{}
	blocks := (m + rows - 1) / rows
	workers := max(1, min(runtime.GOMAXPROCS(0), blocks))
	run := func(w int) {
		for b := w; b < blocks; b += workers {
			r0 := b * rows
			r := min(rows, m-r0)
			bl.Dgemv(blas.NoTrans, r, m, 1, a[r0*lda:], lda, v, 1, 0, y[r0:r0+r], 1)
		}
	}
	if workers == 1 || m < 256 {
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
