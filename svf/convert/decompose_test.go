package convert

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/t2web/t2web/svf"
	"gonum.org/v1/gonum/mat"
)

// randMatrix returns x[rows,cols] with entries from N(0, std²), seeded.
func randMatrix(seed uint64, rows, cols int, std float64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x5f5))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
	return x
}

var svdShapes = []struct{ m, n int }{
	{1, 1}, {1, 7}, {7, 1}, {1, 40}, {40, 1},
	{5, 3}, {3, 5}, {8, 8},
	{33, 17}, {17, 33}, {64, 64}, {70, 45}, {45, 70}, {97, 97},
}

// maxOrthoErr returns max |XᵀX − I| for x[rows,r] (columns should be orthonormal).
func maxOrthoErr(x []float32, rows, r int) float64 {
	var worst float64
	for a := range r {
		for b := a; b < r; b++ {
			var d float64
			for i := range rows {
				d += float64(x[i*r+a]) * float64(x[i*r+b])
			}
			if a == b {
				d--
			}
			worst = max(worst, math.Abs(d))
		}
	}
	return worst
}

// recomposeRef is the float64 twin of Recompose: U·diag(S⊙z)·Vᵀ·(ΣS/Σ(S⊙z)), written
// straight from ARCHITECTURE §1.
func recomposeRef(f *svf.Factors, z []float32) []float64 {
	var num, den float64
	s := make([]float64, f.R)
	for k := range f.R {
		zk := 1.0
		if z != nil {
			zk = float64(z[k])
		}
		s[k] = float64(f.S[k]) * zk
		num += float64(f.S[k])
		den += s[k]
	}
	out := make([]float64, f.M*f.N)
	for i := range f.M {
		for j := range f.N {
			var acc float64
			for k := range f.R {
				acc += float64(f.U[i*f.R+k]) * s[k] * float64(f.V[j*f.R+k])
			}
			out[i*f.N+j] = acc * num / den
		}
	}
	return out
}

func relFrob64(a []float32, b []float64) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

func TestDecompose(t *testing.T) {
	for i, sh := range svdShapes {
		t.Run(fmt.Sprintf("%dx%d", sh.m, sh.n), func(t *testing.T) {
			w := randMatrix(uint64(i+1), sh.m, sh.n, 0.02)
			f, err := Decompose(w, sh.m, sh.n)
			if err != nil {
				t.Fatal(err)
			}
			r := min(sh.m, sh.n)
			if f.M != sh.m || f.N != sh.n || f.R != r || len(f.U) != sh.m*r || len(f.S) != r || len(f.V) != sh.n*r {
				t.Fatalf("shapes: M=%d N=%d R=%d U[%d] S[%d] V[%d]", f.M, f.N, f.R, len(f.U), len(f.S), len(f.V))
			}
			got := make([]float32, sh.m*sh.n)
			f.Recompose(got, nil)
			if e := svf.RelFrobenius(got, w); e > 1e-6 {
				t.Errorf("U·diag(S)·Vᵀ vs W: relative Frobenius error %.3g > 1e-6", e)
			}
			if e := maxOrthoErr(f.U, sh.m, r); e > 1e-5 {
				t.Errorf("max |UᵀU − I| = %.3g > 1e-5", e)
			}
			if e := maxOrthoErr(f.V, sh.n, r); e > 1e-5 {
				t.Errorf("max |VᵀV − I| = %.3g > 1e-5", e)
			}
			for k, s := range f.S {
				if s < 0 || (k > 0 && s > f.S[k-1]) {
					t.Fatalf("S not descending and ≥ 0 at %d: %v", k, f.S)
				}
			}
			for k := range r {
				best, j0 := float32(-1), -1
				for j := range sh.n {
					if a := float32(math.Abs(float64(f.V[j*r+k]))); a > best {
						best, j0 = a, j
					}
				}
				if f.V[j0*r+k] < 0 {
					t.Errorf("v_%d: largest entry V[%d,%d] = %g is negative", k, j0, k, f.V[j0*r+k])
				}
			}
			g, err := Decompose(w, sh.m, sh.n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.U, g.U) || !slices.Equal(f.S, g.S) || !slices.Equal(f.V, g.V) {
				t.Error("two calls on the same W give different factors")
			}
		})
	}
}

// TestDecomposeRankDeficient checks a matrix of rank 2 (zero singular values and
// arbitrary null-space vectors) still reproduces W and keeps orthonormal factors.
func TestDecomposeRankDeficient(t *testing.T) {
	m, n := 40, 24
	a, b := randMatrix(7, m, 2, 1), randMatrix(8, 2, n, 1)
	w := make([]float32, m*n)
	for i := range m {
		for j := range n {
			w[i*n+j] = a[i*2]*b[j] + a[i*2+1]*b[n+j]
		}
	}
	f, err := Decompose(w, m, n)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, m*n)
	f.Recompose(got, nil)
	if e := svf.RelFrobenius(got, w); e > 1e-6 {
		t.Errorf("relative Frobenius error %.3g > 1e-6", e)
	}
	if e := maxOrthoErr(f.V, n, f.R); e > 1e-5 {
		t.Errorf("max |VᵀV − I| = %.3g", e)
	}
	if f.S[2] > 1e-5*f.S[0] {
		t.Errorf("σ_2 = %g, want ≈ 0 (σ_0 = %g)", f.S[2], f.S[0])
	}
}

// TestDecomposeMatchesMatSVD holds Decompose to its twin, gonum's mat.SVD (Dgesvd):
// the same singular values, and the same singular vectors up to sign wherever the
// singular value is well separated from its neighbours.
func TestDecomposeMatchesMatSVD(t *testing.T) {
	for i, sh := range []struct{ m, n int }{{1, 5}, {5, 1}, {33, 17}, {17, 33}, {64, 64}, {200, 150}, {150, 200}} {
		t.Run(fmt.Sprintf("%dx%d", sh.m, sh.n), func(t *testing.T) {
			w := randMatrix(uint64(300+i), sh.m, sh.n, 1)
			f, err := Decompose(w, sh.m, sh.n)
			if err != nil {
				t.Fatal(err)
			}
			w64 := make([]float64, len(w))
			for i, x := range w {
				w64[i] = float64(x)
			}
			var ref mat.SVD
			if !ref.Factorize(mat.NewDense(sh.m, sh.n, w64), mat.SVDThin) {
				t.Fatal("mat.SVD did not converge")
			}
			s := ref.Values(nil)
			var u, v mat.Dense
			ref.UTo(&u)
			ref.VTo(&v)
			r := f.R
			for k := range r {
				if math.Abs(float64(f.S[k])-s[k]) > 1e-6*s[0] {
					t.Errorf("σ_%d = %g, mat.SVD says %g", k, f.S[k], s[k])
				}
				gap := math.Inf(1)
				if k > 0 {
					gap = s[k-1] - s[k]
				}
				if k < r-1 {
					gap = min(gap, s[k]-s[k+1])
				}
				if gap < 1e-3*s[0] {
					continue
				}
				var du, dv float64
				for i := range sh.m {
					du += float64(f.U[i*r+k]) * u.At(i, k)
				}
				for j := range sh.n {
					dv += float64(f.V[j*r+k]) * v.At(j, k)
				}
				if math.Abs(math.Abs(du)-1) > 1e-4 || math.Abs(math.Abs(dv)-1) > 1e-4 || du*dv < 0 {
					t.Errorf("k = %d: u_k·u_ref = %g, v_k·v_ref = %g, want both ±1 with one sign", k, du, dv)
				}
			}
		})
	}
}

// TestDecomposeGOMAXPROCS checks the factors are the same bits however many goroutines
// share the products, the tridiagonal reduction and the rotations.
func TestDecomposeGOMAXPROCS(t *testing.T) {
	w := randMatrix(400, 500, 300, 0.02) // q = 300: every parallel path splits
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var first *svf.Factors
	for _, procs := range []int{1, 3, 8} {
		runtime.GOMAXPROCS(procs)
		f, err := Decompose(w, 500, 300)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = f
			continue
		}
		if !slices.Equal(f.U, first.U) || !slices.Equal(f.S, first.S) || !slices.Equal(f.V, first.V) {
			t.Errorf("GOMAXPROCS=%d gives other factors than GOMAXPROCS=1", procs)
		}
	}
}

// TestDecomposeLarge runs one large matrix when T2WEB_SVD_LARGE=MxN is set (e.g.
// 4096x14336, Llama-3-8B's down projection) and reports its time and peak memory.
func TestDecomposeLarge(t *testing.T) {
	env := os.Getenv("T2WEB_SVD_LARGE")
	if env == "" {
		t.Skip("set T2WEB_SVD_LARGE=MxN to run")
	}
	var m, n int
	if _, err := fmt.Sscanf(env, "%dx%d", &m, &n); err != nil {
		t.Fatalf("T2WEB_SVD_LARGE=%q: %v", env, err)
	}
	w := randMatrix(1, m, n, 0.02)
	runtime.GC()
	start := time.Now()
	f, err := Decompose(w, m, n)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(sample)
	t.Logf("%dx%d: %.1f s, W %.0f MB float32, Go memory mapped at the end %.0f MB (peak heap is at most this)",
		m, n, elapsed.Seconds(), float64(4*m*n)/1e6, float64(sample[0].Value.Uint64())/1e6)
	if m*n <= 4096*4096 {
		got := make([]float32, m*n)
		f.Recompose(got, nil)
		t.Logf("relative Frobenius error of U·diag(S)·Vᵀ: %.3g", svf.RelFrobenius(got, w))
	}
}

func TestDecomposeErrors(t *testing.T) {
	nan := []float32{1, 2, float32(math.NaN()), 4}
	for _, tc := range []struct {
		name string
		w    []float32
		m, n int
		want string
	}{
		{"m=0", nil, 0, 3, "0×3"},
		{"n=0", nil, 3, 0, "3×0"},
		{"m<0", make([]float32, 3), -1, 3, "-1×3"},
		{"short", make([]float32, 5), 2, 3, "2×3"},
		{"long", make([]float32, 7), 2, 3, "2×3"},
		{"NaN", nan, 2, 2, "[1,0]"},
		{"Inf", []float32{float32(math.Inf(-1))}, 1, 1, "1×1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decompose(tc.w, tc.m, tc.n)
			if err == nil {
				t.Fatalf("no error, factors %+v", f)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestRecompose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i, sh := range []struct{ m, n int }{{1, 1}, {1, 9}, {9, 1}, {33, 17}, {17, 33}, {37, 37}, {70, 45}} {
		t.Run(fmt.Sprintf("%dx%d", sh.m, sh.n), func(t *testing.T) {
			w := randMatrix(uint64(100+i), sh.m, sh.n, 0.02)
			f, err := Decompose(w, sh.m, sh.n)
			if err != nil {
				t.Fatal(err)
			}
			base := make([]float32, sh.m*sh.n)
			f.Recompose(base, nil)

			uniform := make([]float32, f.R)
			for k := range uniform {
				uniform[k] = 0.3
			}
			got := make([]float32, sh.m*sh.n)
			f.Recompose(got, uniform)
			if e := svf.RelFrobenius(got, base); e > 1e-6 {
				t.Errorf("uniform z = 0.3 vs z = nil: relative error %.3g > 1e-6", e)
			}

			z := make([]float32, f.R)
			for k := range z {
				z[k] = rng.Float32() * 2
			}
			f.Recompose(got, z)
			if e := relFrob64(got, recomposeRef(f, z)); e > 1e-6 {
				t.Errorf("random z vs float64 reference: relative error %.3g > 1e-6", e)
			}
		})
	}
}

func TestRecomposeZeroZ(t *testing.T) {
	w := randMatrix(5, 6, 4, 1)
	f, err := Decompose(w, 6, 4)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 24)
	f.Recompose(got, make([]float32, 4))
	for i, x := range got {
		if x != 0 {
			t.Fatalf("z = 0: W'[%d] = %g, want 0", i, x)
		}
	}
}

func TestRecomposePanics(t *testing.T) {
	f, err := Decompose(randMatrix(9, 6, 4, 1), 6, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dst  []float32
		z    []float32
		want []string
	}{
		{"short z", make([]float32, 24), make([]float32, 3), []string{"z[3]", "R=4", "[6,4]"}},
		{"long z", make([]float32, 24), make([]float32, 5), []string{"z[5]", "R=4"}},
		{"dst", make([]float32, 23), nil, []string{"dst[23]", "[6,4]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("panic %q does not say %q", msg, w)
					}
				}
			}()
			f.Recompose(tc.dst, tc.z)
		})
	}
}

func TestNuclearScale(t *testing.T) {
	s := []float32{3, 2, 1}
	for _, tc := range []struct {
		name string
		z    []float32
		want float32
	}{
		{"nil", nil, 1},
		{"ones", []float32{1, 1, 1}, 1},
		{"uniform", []float32{0.5, 0.5, 0.5}, 2},
		{"one value", []float32{1, 0, 0}, 2},
		{"zero", []float32{0, 0, 0}, 1},
	} {
		if got := svf.NuclearScale(s, tc.z); math.Abs(float64(got-tc.want)) > 1e-6 {
			t.Errorf("%s: NuclearScale(%v, %v) = %g, want %g", tc.name, s, tc.z, got, tc.want)
		}
	}
}

// BenchmarkDecompose reports seconds per matrix and peak resident memory (the
// process's, reset before each shape; Linux only) at the MLP shapes of the models
// t2web targets: SmolLM2-135M (1536×576), SmolLM2-360M (960×2560), Qwen2.5-0.5B
// (896×4864), Llama-3.2-1B (2048×8192) and Llama-3-8B (4096×14336: its down
// projection; gate and up are the transpose, the same work). Select one with
// -bench 'Decompose/4096x14336'; the largest runs for minutes.
func BenchmarkDecompose(b *testing.B) {
	for _, sh := range []struct{ m, n int }{{1536, 576}, {960, 2560}, {896, 4864}, {2048, 8192}, {4096, 14336}} {
		b.Run(fmt.Sprintf("%dx%d", sh.m, sh.n), func(b *testing.B) {
			w := randMatrix(1, sh.m, sh.n, 0.02)
			b.SetBytes(int64(4 * len(w)))
			resetPeakRSS()
			start := time.Now()
			for b.Loop() {
				if _, err := Decompose(w, sh.m, sh.n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/matrix")
			if peak, ok := peakRSS(); ok {
				b.ReportMetric(float64(peak)/1e6, "peak-RSS-MB")
			}
		})
	}
}

// resetPeakRSS returns unused memory to the OS and resets the kernel's high-water mark
// of this process's resident set (Linux: clear_refs 5), so peakRSS measures what
// follows.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM), if known.
func peakRSS() (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}

// BenchmarkRecompose reports GFLOP/s of the merged path (2·M·N·R flops per call).
func BenchmarkRecompose(b *testing.B) {
	for _, sh := range []struct{ m, n int }{{1536, 576}, {576, 1536}} {
		b.Run(fmt.Sprintf("%dx%d", sh.m, sh.n), func(b *testing.B) {
			f, err := Decompose(randMatrix(1, sh.m, sh.n, 0.02), sh.m, sh.n)
			if err != nil {
				b.Fatal(err)
			}
			z := make([]float32, f.R)
			for k := range z {
				z[k] = 0.5 + float32(k%7)/10
			}
			dst := make([]float32, sh.m*sh.n)
			start := time.Now()
			for b.Loop() {
				f.Recompose(dst, z)
			}
			flops := 2 * float64(sh.m) * float64(sh.n) * float64(f.R) * float64(b.N)
			b.ReportMetric(flops/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}
