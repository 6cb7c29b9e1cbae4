package convert

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// orthonormal returns q[rows,cols] (cols ≤ rows) with orthonormal columns: the Q of a
// seeded Gaussian matrix.
func orthonormal(seed uint64, rows, cols int) *mat.Dense {
	rng := rand.New(rand.NewPCG(seed, 99))
	g := mat.NewDense(rows, cols, nil)
	for i := range rows {
		for j := range cols {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return mat.DenseCopyOf(q.Slice(0, rows, 0, cols))
}

// withSpectrum returns W[m,n] = X·diag(σ)·Yᵀ rounded to float32, X and Y random with
// orthonormal columns.
func withSpectrum(seed uint64, m, n int, sigma []float64) []float32 {
	r := len(sigma)
	x, y := orthonormal(seed, m, r), orthonormal(seed+1, n, r)
	for k, s := range sigma {
		for i := range m {
			x.Set(i, k, x.At(i, k)*s)
		}
	}
	var w mat.Dense
	w.Mul(x, y.T())
	out := make([]float32, m*n)
	for i := range m {
		for j := range n {
			out[i*n+j] = float32(w.At(i, j))
		}
	}
	return out
}

// spectra name the singular values of a test matrix of rank r.
var spectra = map[string]func(r int) []float64{
	"decades10": func(r int) []float64 { return geometric(r, 1e-10) },
	"decades20": func(r int) []float64 { return geometric(r, 1e-20) },
	"rank/3": func(r int) []float64 {
		s := geometric(r, 1e-2)
		clear(s[r/3:])
		return s
	},
	"clustered": func(r int) []float64 { // two values, each repeated: no gaps at all
		s := make([]float64, r)
		for k := range s {
			s[k] = 1
			if k >= r/2 {
				s[k] = 0.5
			}
		}
		return s
	},
}

// geometric returns r values from 1 down to last, evenly spaced in log.
func geometric(r int, last float64) []float64 {
	s := make([]float64, r)
	for k := range s {
		s[k] = math.Pow(last, float64(k)/float64(max(r-1, 1)))
	}
	return s
}

// TestDecomposeAccuracy holds Decompose to gonum's mat.SVD (LAPACK's Dgesvd) on tall,
// wide and square matrices, Gaussian and with chosen spectra (ill-conditioned,
// rank-deficient, clustered, zero), and logs the figures quoted in Decompose's doc.
func TestDecomposeAccuracy(t *testing.T) {
	for i, tc := range []struct {
		m, n     int
		spectrum string // "" for Gaussian entries
	}{
		{300, 120, ""}, {120, 300, ""}, {200, 200, ""}, {64, 1000, ""}, {1200, 300, ""},
		{300, 120, "decades10"}, {120, 300, "decades10"}, {200, 200, "decades20"},
		{300, 120, "rank/3"}, {90, 250, "rank/3"},
		{256, 96, "clustered"}, {96, 256, "clustered"},
		{50, 70, "zero"}, {70, 50, "zero"},
	} {
		t.Run(fmt.Sprintf("%dx%d%s", tc.m, tc.n, tc.spectrum), func(t *testing.T) {
			r := min(tc.m, tc.n)
			var w []float32
			switch tc.spectrum {
			case "":
				w = randMatrix(uint64(500+i), tc.m, tc.n, 0.02)
			case "zero":
				w = make([]float32, tc.m*tc.n)
			default:
				w = withSpectrum(uint64(500+i), tc.m, tc.n, spectra[tc.spectrum](r))
			}
			f, err := Decompose(w, tc.m, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			w64 := make([]float64, len(w))
			for j, x := range w {
				w64[j] = float64(x)
			}
			var ref mat.SVD
			if !ref.Factorize(mat.NewDense(tc.m, tc.n, w64), mat.SVDNone) {
				t.Fatal("mat.SVD did not converge")
			}
			s := ref.Values(nil)
			var sigAbs, sigRel float64 // max |σ − σ_ref|/σ_max; max relative error where σ_ref ≥ 1e-3·σ_max
			for k := range r {
				d := math.Abs(float64(f.S[k]) - s[k])
				if s[0] > 0 {
					sigAbs = max(sigAbs, d/s[0])
				} else {
					sigAbs = max(sigAbs, d)
				}
				if s[k] >= 1e-3*s[0] && s[k] > 0 {
					sigRel = max(sigRel, d/s[k])
				}
			}
			orthoU, orthoV := maxOrthoErr(f.U, tc.m, r), maxOrthoErr(f.V, tc.n, r)
			got := make([]float32, tc.m*tc.n)
			f.Recompose(got, nil)
			recon := relFrob64(got, w64)
			if tc.spectrum == "zero" {
				recon = 0
				for _, x := range got {
					recon = max(recon, math.Abs(float64(x)))
				}
			}
			t.Logf("σ: max abs error %.2g·σ_max, max rel error %.2g; |UᵀU−I| %.2g, |VᵀV−I| %.2g; ‖USVᵀ−W‖/‖W‖ %.2g",
				sigAbs, sigRel, orthoU, orthoV, recon)
			if sigAbs > 1e-6 || sigRel > 2e-6 {
				t.Errorf("σ: max abs error %.3g·σ_max, max relative error %.3g (want ≤ 1e-6, 2e-6)", sigAbs, sigRel)
			}
			if orthoU > 1e-6 || orthoV > 1e-6 {
				t.Errorf("|UᵀU − I| = %.3g, |VᵀV − I| = %.3g, want ≤ 1e-6", orthoU, orthoV)
			}
			if recon > 1e-6 {
				t.Errorf("‖U·diag(S)·Vᵀ − W‖/‖W‖ = %.3g, want ≤ 1e-6", recon)
			}
		})
	}
}
