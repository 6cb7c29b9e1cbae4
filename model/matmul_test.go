package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// matMulNaive is MatMul's twin: one float64 dot product per output.
func matMulNaive(y, x, w, b []float32, T, in, out int) {
	for t := range T {
		for o := range out {
			var s float64
			for i := range in {
				s += float64(x[t*in+i]) * float64(w[o*in+i])
			}
			if b != nil {
				s += float64(b[o])
			}
			y[t*out+o] = float32(s)
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ T, in, out int }{
		{1, 1, 1}, {1, 7, 5}, {3, 13, 9}, {4, 64, 32}, {5, 33, 17}, {9, 100, 3}, {17, 576, 70},
	} {
		t.Run(fmt.Sprintf("T%d_in%d_out%d", s.T, s.in, s.out), func(t *testing.T) {
			x, w, b := randSlice(rng, s.T*s.in), randSlice(rng, s.out*s.in), randSlice(rng, s.out)
			for _, bias := range [][]float32{nil, b} {
				got, want := make([]float32, s.T*s.out), make([]float32, s.T*s.out)
				MatMul(got, x, w, bias, s.T, s.in, s.out)
				matMulNaive(want, x, w, bias, s.T, s.in, s.out)
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*math.Sqrt(float64(s.in))*4 {
						t.Fatalf("y[%d] = %g, naive %g", i, got[i], want[i])
					}
				}
			}
		})
	}
}

func BenchmarkMatMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct{ T, in, out int }{{1, 576, 1536}, {64, 576, 1536}} {
		b.Run(fmt.Sprintf("T%d_in%d_out%d", s.T, s.in, s.out), func(b *testing.B) {
			x, w, y := randSlice(rng, s.T*s.in), randSlice(rng, s.out*s.in), make([]float32, s.T*s.out)
			b.SetBytes(int64(4 * s.in * s.out))
			for i := 0; i < b.N; i++ {
				MatMul(y, x, w, nil, s.T, s.in, s.out)
			}
			b.ReportMetric(float64(2*s.T*s.in*s.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
