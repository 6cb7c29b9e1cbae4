package convert

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	lapackgonum "gonum.org/v1/gonum/lapack/gonum"
)

// gram returns G = AᵀA[n,n] for a seeded Gaussian A[rows,n] (rows < n: rank-deficient).
func gram(seed uint64, rows, n int) []float64 {
	a := randMatrix(seed, rows, n, 1)
	g := make([]float64, n*n)
	for i := range n {
		for j := range n {
			var s float64
			for r := range rows {
				s += float64(a[r*n+i]) * float64(a[r*n+j])
			}
			g[i*n+j] = s
		}
	}
	return g
}

// TestTridiagonalize holds tridiagonalize to gonum's Dsytrd (its twin): the same
// diagonal and off-diagonal, and reflectors that Dorgtr turns into the same Q, for
// sizes below, at and across panel boundaries.
func TestTridiagonalize(t *testing.T) {
	impl := lapackgonum.Implementation{}
	for _, n := range []int{1, 2, 3, 31, 32, 33, 70, 129} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			g := gram(uint64(n), n+5, n)
			mine := slices.Clone(g)
			d, e, tau := tridiagonalize(mine, n)

			ref := slices.Clone(g)
			dr, er, taur := make([]float64, n), make([]float64, max(n-1, 1)), make([]float64, max(n-1, 1))
			work := make([]float64, 64*n)
			impl.Dsytrd(blas.Lower, n, ref, n, dr, er, taur, work, len(work))
			scale := math.Abs(dr[0]) + 1
			for i := range n {
				if math.Abs(d[i]-dr[i]) > 1e-12*scale {
					t.Fatalf("d[%d] = %g, Dsytrd %g", i, d[i], dr[i])
				}
				if i < n-1 && math.Abs(e[i]-er[i]) > 1e-12*scale {
					t.Fatalf("e[%d] = %g, Dsytrd %g", i, e[i], er[i])
				}
			}
			if e[n-1] != 0 {
				t.Errorf("e[n-1] = %g, want 0", e[n-1])
			}
			impl.Dorgtr(blas.Lower, n, mine, n, tau, work, len(work))
			impl.Dorgtr(blas.Lower, n, ref, n, taur, work, len(work))
			for i := range mine {
				if math.Abs(mine[i]-ref[i]) > 1e-10 {
					t.Fatalf("Q[%d,%d] = %g, from Dsytrd %g", i/n, i%n, mine[i], ref[i])
				}
			}
		})
	}
}

// TestSymEigen checks G·z_k = λ_k·z_k, ZᵀZ = I and λ descending, for full-rank,
// rank-deficient and repeated spectra.
func TestSymEigen(t *testing.T) {
	ident := func(n int) []float64 {
		g := make([]float64, n*n)
		for i := range n {
			g[i*n+i] = 2
		}
		return g
	}
	for _, tc := range []struct {
		name string
		n    int
		g    []float64
	}{
		{"1", 1, []float64{3}},
		{"full 50", 50, gram(1, 80, 50)},
		{"rank 10 of 60", 60, gram(2, 10, 60)},
		{"2·I 40", 40, ident(40)},
		{"zero 20", 20, make([]float64, 400)},
		{"full 150", 150, gram(3, 200, 150)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n
			zt := slices.Clone(tc.g)
			lam, ok := symEigen(zt, n)
			if !ok {
				t.Fatal("did not converge")
			}
			norm := math.Abs(lam[0]) + 1e-300
			var resid, ortho float64
			for k := range n {
				if k > 0 && lam[k] > lam[k-1] {
					t.Fatalf("λ not descending at %d: %g > %g", k, lam[k], lam[k-1])
				}
				z := zt[k*n : (k+1)*n]
				for i := range n {
					var s float64
					for j := range n {
						s += tc.g[i*n+j] * z[j]
					}
					resid = max(resid, math.Abs(s-lam[k]*z[i])/norm)
				}
				for l := k; l < n; l++ {
					dot := 0.0
					for i := range n {
						dot += z[i] * zt[l*n+i]
					}
					if l == k {
						dot--
					}
					ortho = max(ortho, math.Abs(dot))
				}
			}
			if resid > 1e-13 || ortho > 1e-13 {
				t.Errorf("max |G·z − λ·z|/|λ_max| = %.3g, max |ZᵀZ − I| = %.3g, want ≤ 1e-13", resid, ortho)
			}
		})
	}
}
