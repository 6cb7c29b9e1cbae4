package convert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
)

// The fidelity bar: an int8 pack recomposes every adapted matrix at z = 1 to
// within 1 % relative Frobenius error of the original. Decompose → Q8 of U and V
// (blocks of 32 along R) → dequantise → Recompose(z = nil), on SmolLM2-135M's MLP
// shapes: random N(0, 0.02²) matrices, and matrices with the structure of trained
// weights (a decaying spectrum over a noise floor, heavy tails, outlier channels).
//
// The log compares per-row scales (one scale per row of U and of V, the other choice
// ARCHITECTURE §3 allows) with blocks of 32, so the choice of format is on record.

const fidelityBar = 0.01

// quantizeRows is the per-row variant of QuantizeQ8: one absmax scale per row of x[rows,cols].
func quantizeRows(dst, x []float32, rows, cols int) {
	for i := range rows {
		row := x[i*cols : (i+1)*cols]
		var amax float64
		for _, v := range row {
			amax = max(amax, math.Abs(float64(v)))
		}
		d := float32(amax / 127)
		for j, v := range row {
			if d == 0 {
				dst[i*cols+j] = 0
				continue
			}
			dst[i*cols+j] = float32(max(-127, min(127, math.Round(float64(v)/float64(d))))) * d
		}
	}
}

// q8RoundTrip returns x[rows,cols] through QuantizeQ8 and DequantizeQ8.
func q8RoundTrip(x []float32, rows, cols int) []float32 {
	q, s := pack.QuantizeQ8(x, rows, cols)
	out := make([]float32, len(x))
	pack.DequantizeQ8(out, q, s, rows, cols)
	return out
}

// recomposeWith returns U·diag(S)·Vᵀ for f with U and V replaced.
func recomposeWith(f *svf.Factors, u, v []float32) []float32 {
	g := *f
	g.U, g.V = u, v
	out := make([]float32, f.M*f.N)
	g.Recompose(out, nil)
	return out
}

// structured returns w[m,n] shaped like a trained projection: Σ_k σ_k a_k b_kᵀ over
// `rank` directions with σ_k ∝ (k+1)^-0.7, plus Student-t (ν = 4) noise carrying
// noiseShare of the energy, then `outliers` channels of the hidden size D scaled
// ×outlierGain: input columns when n = D (gate, up), output rows otherwise (down). The
// result is rescaled to entry std 0.02.
func structured(seed uint64, m, n, rank int, noiseShare float64, outliers int, outlierGain float32) []float32 {
	rng := rand.New(rand.NewPCG(seed, 77))
	a := randMatrix(seed+1, m, rank, 1/math.Sqrt(float64(m)))
	b := randMatrix(seed+2, n, rank, 1/math.Sqrt(float64(n)))
	sig := make([]float64, rank)
	var sig2 float64
	for k := range sig {
		sig[k] = math.Pow(float64(k+1), -0.7)
		sig2 += sig[k] * sig[k]
	}
	// The low-rank part has ‖·‖_F² ≈ Σσ²; the noise gets noiseShare of the total.
	noiseStd := math.Sqrt(sig2 * noiseShare / (1 - noiseShare) / float64(m*n))
	studentT := func() float64 { // ν = 4, unit variance
		var chi float64
		for range 4 {
			g := rng.NormFloat64()
			chi += g * g
		}
		return rng.NormFloat64() / math.Sqrt(chi/4) / math.Sqrt(2)
	}
	w := make([]float32, m*n)
	row := make([]float64, rank)
	for i := range m {
		for k := range rank {
			row[k] = float64(a[i*rank+k]) * sig[k]
		}
		for j := range n {
			var acc float64
			bj := b[j*rank : (j+1)*rank]
			for k, x := range row {
				acc += x * float64(bj[k])
			}
			w[i*n+j] = float32(acc + noiseStd*studentT())
		}
	}
	for o := range outliers {
		if n <= m { // columns are the hidden size
			j := (o*7919 + 13) % n
			for i := range m {
				w[i*n+j] *= outlierGain
			}
		} else {
			i := (o*7919 + 13) % m
			for j := range n {
				w[i*n+j] *= outlierGain
			}
		}
	}
	var ss float64
	for _, x := range w {
		ss += float64(x) * float64(x)
	}
	scale := float32(0.02 / math.Sqrt(ss/float64(len(w))))
	for i := range w {
		w[i] *= scale
	}
	return w
}

func TestFidelityQ8(t *testing.T) {
	const D, F = 576, 1536 // SmolLM2-135M hidden size and MLP size
	cases := []struct {
		name string
		m, n int
		w    func() []float32
	}{
		{"gate N(0,0.02²)", F, D, func() []float32 { return randMatrix(11, F, D, 0.02) }},
		{"down N(0,0.02²)", D, F, func() []float32 { return randMatrix(13, D, F, 0.02) }},
		{"gate low-rank+t-noise", F, D, func() []float32 { return structured(21, F, D, 96, 0.3, 0, 1) }},
		{"gate low-rank+t-noise+8 outlier inputs ×20", F, D, func() []float32 { return structured(22, F, D, 96, 0.3, 8, 20) }},
		{"down low-rank+t-noise+8 outlier outputs ×20", D, F, func() []float32 { return structured(23, D, F, 96, 0.3, 8, 20) }},
		{"down mostly low-rank (noise 5%)+4 outlier outputs ×50", D, F, func() []float32 { return structured(24, D, F, 64, 0.05, 4, 50) }},
		{"up low-rank+t-noise+1 outlier input ×200", F, D, func() []float32 { return structured(25, F, D, 96, 0.3, 1, 200) }},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.w()
			f, err := Decompose(w, tc.m, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			r := f.R
			uq, vq := q8RoundTrip(f.U, tc.m, r), q8RoundTrip(f.V, tc.n, r)
			block := svf.RelFrobenius(recomposeWith(f, uq, vq), w)
			uOnly := svf.RelFrobenius(recomposeWith(f, uq, f.V), w)
			vOnly := svf.RelFrobenius(recomposeWith(f, f.U, vq), w)

			ur, vr := make([]float32, len(f.U)), make([]float32, len(f.V))
			quantizeRows(ur, f.U, tc.m, r)
			quantizeRows(vr, f.V, tc.n, r)
			perRow := svf.RelFrobenius(recomposeWith(f, ur, vr), w)

			t.Logf("%dx%d  σ₀/σ_R-1 = %.3g  rel. Frobenius error: Q8 block-32 %.4f%% (U only %.4f%%, V only %.4f%%), per-row scales %.4f%%",
				tc.m, tc.n, f.S[0]/max(f.S[r-1], 1e-30), 100*block, 100*uOnly, 100*vOnly, 100*perRow)
			if block > fidelityBar {
				t.Errorf("Q8 block-32: recomposed W is %.4f%% from the original, over the %.0f%% bar", 100*block, 100*fidelityBar)
			}
		})
	}
}
