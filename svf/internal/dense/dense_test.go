package dense

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

func randSlice(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 17))
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

// gemmRef is the naive twin of Gemm: C = alpha·op(A)·op(B) + beta·C, summed in order.
func gemmRef(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				var x, y float64
				if tA {
					x = a[l*lda+i]
				} else {
					x = a[i*lda+l]
				}
				if tB {
					y = b[j*ldb+l]
				} else {
					y = b[l*ldb+j]
				}
				s += x * y
			}
			old := 0.0
			if beta != 0 {
				old = beta * c[i*ldc+j]
			}
			c[i*ldc+j] = alpha*s + old
		}
	}
}

// withSlowPath runs f with the Go loops in place of the assembly.
func withSlowPath(f func()) {
	saved := fast
	fast = false
	defer func() { fast = saved }()
	f()
}

func TestGemm(t *testing.T) {
	for i, tc := range []struct {
		tA, tB  bool
		m, n, k int
		alpha   float64
		beta    float64
	}{
		{false, false, 1, 1, 1, 1, 0},
		{false, false, 5, 7, 3, 1, 0},
		{true, false, 70, 45, 300, 1, 0},
		{false, true, 131, 2050, 17, -1, 1},
		{true, true, 67, 33, 513, 0.5, 2},
		{false, false, 200, 9, 1000, 1, 0.25},
		{true, false, 64, 64, 256, 1, 0},
		{false, true, 4, 8, 0, 1, 3},
	} {
		t.Run(fmt.Sprintf("%v%v_%dx%dx%d", tc.tA, tc.tB, tc.m, tc.n, tc.k), func(t *testing.T) {
			lda, ldb, ldc := tc.k+3, tc.n+1, tc.n+2
			if tc.tA {
				lda = tc.m + 3
			}
			if tc.tB {
				ldb = tc.k + 1
			}
			rowsA, rowsB := tc.m, tc.k
			if tc.tA {
				rowsA = tc.k
			}
			if tc.tB {
				rowsB = tc.n
			}
			a := randSlice(uint64(i), rowsA*lda)
			b := randSlice(uint64(i+100), rowsB*ldb)
			c0 := randSlice(uint64(i+200), tc.m*ldc)
			want := slices.Clone(c0)
			gemmRef(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
			got := slices.Clone(c0)
			Gemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
			for r := range tc.m {
				for j := range tc.n {
					w, g := want[r*ldc+j], got[r*ldc+j]
					if math.Abs(w-g) > 1e-12*float64(tc.k+1)*(1+math.Abs(w)) {
						t.Fatalf("C[%d,%d] = %g, naive product %g", r, j, g, w)
					}
				}
				if j := tc.n; j < ldc && got[r*ldc+j] != c0[r*ldc+j] {
					t.Fatalf("C[%d,%d] past n was written", r, j)
				}
			}
			slow := slices.Clone(c0)
			withSlowPath(func() {
				Gemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, slow, ldc)
			})
			if !slices.Equal(got, slow) {
				t.Error("assembly and Go loops give different bits")
			}
		})
	}
}

func TestGemmGOMAXPROCS(t *testing.T) {
	m, n, k := 300, 170, 600
	a, b := randSlice(1, m*k), randSlice(2, k*n)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first []float64
	for _, procs := range []int{1, 2, 5} {
		runtime.GOMAXPROCS(procs)
		c := make([]float64, m*n)
		Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		if first == nil {
			first = c
		} else if !slices.Equal(c, first) {
			t.Errorf("GOMAXPROCS=%d gives other bits than GOMAXPROCS=1", procs)
		}
	}
}

func TestSyrk(t *testing.T) {
	for _, sh := range []struct{ n, k int }{{1, 1}, {7, 3}, {300, 90}, {513, 700}} {
		t.Run(fmt.Sprintf("%dx%d", sh.n, sh.k), func(t *testing.T) {
			a := randSlice(3, sh.k*sh.n)
			want := make([]float64, sh.n*sh.n)
			gemmRef(true, false, sh.n, sh.n, sh.k, 1, a, sh.n, a, sh.n, 0, want, sh.n)
			got := randSlice(4, sh.n*sh.n)
			Syrk(sh.n, sh.k, 1, a, sh.n, 0, got, sh.n)
			for i := range sh.n {
				for j := range sh.n {
					w, g := want[i*sh.n+j], got[i*sh.n+j]
					if math.Abs(w-g) > 1e-12*float64(sh.k)*(1+math.Abs(w)) {
						t.Fatalf("C[%d,%d] = %g, naive %g", i, j, g, w)
					}
					if g != got[j*sh.n+i] {
						t.Fatalf("C[%d,%d] ≠ C[%d,%d]", i, j, j, i)
					}
				}
			}
		})
	}
}

func TestRot(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 7, 64, 129} {
		x0, y0 := randSlice(uint64(n), n), randSlice(uint64(n+1), n)
		c, s := math.Cos(0.3), math.Sin(0.3)
		x, y := slices.Clone(x0), slices.Clone(y0)
		Rot(x, y, c, s)
		for i := range n {
			if math.Abs(x[i]-(c*x0[i]-s*y0[i])) > 1e-15 || math.Abs(y[i]-(s*x0[i]+c*y0[i])) > 1e-15 {
				t.Fatalf("n=%d: (%g, %g) at %d", n, x[i], y[i], i)
			}
		}
		xs, ys := slices.Clone(x0), slices.Clone(y0)
		rotGo(xs, ys, c, s)
		if !slices.Equal(x, xs) || !slices.Equal(y, ys) {
			t.Errorf("n=%d: assembly and Go loops give different bits", n)
		}
	}
}

// BenchmarkGemm reports GFLOP/s of square products on all cores.
func BenchmarkGemm(b *testing.B) {
	for _, n := range []int{512, 2048} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x, y, c := randSlice(1, n*n), randSlice(2, n*n), make([]float64, n*n)
			start := time.Now()
			for b.Loop() {
				Gemm(false, false, n, n, n, 1, x, n, y, n, 0, c, n)
			}
			b.ReportMetric(2*float64(n*n*n)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkRot reports GFLOP/s (6 per pair) of rotations of rows that stay in cache.
func BenchmarkRot(b *testing.B) {
	x, y := randSlice(1, 64), randSlice(2, 64)
	start := time.Now()
	for b.Loop() {
		Rot(x, y, 0.8, 0.6)
	}
	b.ReportMetric(6*64*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
}

// TestRotRows holds RotRows to Rot applied rotation by rotation, bit for bit, on
// strips whose width is and is not a multiple of 4.
func TestRotRows(t *testing.T) {
	const rows, ld = 9, 23
	rots := []Rotation{{0, 0.8, 0.6}, {3, math.Cos(1), math.Sin(1)}, {7, -0.6, 0.8}, {3, 0.28, 0.96}, {2, 1, 0}}
	for _, tc := range []struct{ j0, j1 int }{{0, 23}, {0, 8}, {5, 18}, {20, 23}, {4, 4}} {
		x := randSlice(7, rows*ld)
		want := slices.Clone(x)
		for _, r := range rots {
			Rot(want[r.I*ld+tc.j0:r.I*ld+tc.j1], want[(r.I+1)*ld+tc.j0:(r.I+1)*ld+tc.j1], r.C, r.S)
		}
		RotRows(x, ld, tc.j0, tc.j1, rots)
		if !slices.Equal(x, want) {
			t.Errorf("[%d,%d): RotRows differs from Rot", tc.j0, tc.j1)
		}
		slow := randSlice(7, rows*ld)
		withSlowPath(func() { RotRows(slow, ld, tc.j0, tc.j1, rots) })
		if !slices.Equal(slow, want) {
			t.Errorf("[%d,%d): Go loops differ from Rot", tc.j0, tc.j1)
		}
	}
}
