package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
)

// naiveGemm is the reference: c[M,N] += a·b in the given form, summed in float64.
func naiveGemm(c, a, b []float64, M, N, K int, form gemmForm) {
	for i := range M {
		for j := range N {
			var s float64
			for p := range K {
				switch form {
				case gemmNN:
					s += a[i*K+p] * b[p*N+j]
				case gemmTN:
					s += a[p*M+i] * b[p*N+j]
				case gemmNT:
					s += a[i*K+p] * b[j*K+p]
				}
			}
			c[i*N+j] += s
		}
	}
}

// TestGemm holds every gemm kernel — scalar NN, TN and NT in float32 and float64, and
// the vector kernel's NN and TN when built with GOEXPERIMENT=simd — to the naive twin, on shapes off
// every tile multiple and large enough to run on several workers.
func TestGemm(t *testing.T) {
	p := newPool(3)
	defer p.close()
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 16, 8}, {5, 17, 3}, {7, 25, 33}, {130, 70, 90}, {64, 259, 192}}
	for _, s := range shapes {
		M, N, K := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(uint64(M), uint64(N*K)))
		a, b, c0 := randVec(rng, M*K, 0, 1), randVec(rng, N*K, 0, 1), randVec(rng, M*N, 0, 1)
		for _, form := range []gemmForm{gemmNN, gemmTN, gemmNT} {
			for _, add := range []bool{true, false} {
				start := c0
				if !add {
					start = make([]float64, M*N)
				}
				want := append([]float64(nil), start...)
				naiveGemm(want, a, b, M, N, K, form)
				check := func(name string, got []float64, tol float64) {
					var worst float64
					for i := range want {
						worst = max(worst, math.Abs(got[i]-want[i])/(1+math.Abs(want[i])))
					}
					if worst > tol {
						t.Errorf("%s form %d add %v M=%d N=%d K=%d: error %.3g, want ≤ %g", name, form, add, M, N, K, worst, tol)
					}
				}
				k64 := &kernels[float64]{pool: p}
				got64 := append([]float64(nil), c0...)
				k64.gemm(got64, a, b, M, N, K, form, add)
				check("float64", got64, 1e-12)
				for _, simd := range []bool{false, true} {
					if simd && (!haveVector || form == gemmNT) {
						continue
					}
					k32 := &kernels[float32]{pool: p, simd: simd}
					got32 := narrow(c0)
					k32.gemm(got32, narrow(a), narrow(b), M, N, K, form, add)
					check(fmt.Sprintf("float32 simd=%v", simd), widen(got32), 1e-5)
				}
			}
		}
	}
}

func narrow(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func benchGemm(b *testing.B, form gemmForm, simd bool) {
	const M, N, K = 256, 576, 192
	rng := rand.New(rand.NewPCG(1, 1))
	a, bb, c := make([]float32, M*K), make([]float32, N*K), make([]float32, M*N)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bb {
		bb[i] = rng.Float32()
	}
	b.ResetTimer()
	for range b.N {
		gemmRows(c, a, bb, 0, M, M, N, K, form, simd, true)
	}
	b.ReportMetric(float64(b.N)*2*M*N*K/b.Elapsed().Seconds()/1e9, "GFLOPS")
}

// BenchmarkGemm measures each kernel on one goroutine, 256×576×192 (a qkv projection's
// share of rows).
func BenchmarkGemm(b *testing.B) {
	b.Run("scalarNT", func(b *testing.B) { benchGemm(b, gemmNT, false) })
	b.Run("scalarNN", func(b *testing.B) { benchGemm(b, gemmNN, false) })
	b.Run("scalarTN", func(b *testing.B) { benchGemm(b, gemmTN, false) })
	if haveVector {
		b.Run("vectorNN", func(b *testing.B) { benchGemm(b, gemmNN, true) })
		b.Run("vectorTN", func(b *testing.B) { benchGemm(b, gemmTN, true) })
	}
}

// TestMatMulKernels holds the Options.MatMul path (the page's SIMD kernels, here Go's
// kernels behind the same interface) to the package's gemm: the same loss and gradients
// to float32 rounding, on every test config (biases, tied embeddings, a window).
func TestMatMulKernels(t *testing.T) {
	for name, js := range testConfigs {
		t.Run(name, func(t *testing.T) {
			c := parseConfig(t, js)
			w := testWeights(c, 5)
			const B, T = 2, 7
			rng := rand.New(rand.NewPCG(3, 4))
			inputs, targets := randomTokens(rng, B*T, c.VocabSize), randomTokens(rng, B*T, c.VocabSize)
			run := func(opt Options) (float64, []float32) {
				m, err := New[float32](c, opt)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if err := m.SetWeights(w); err != nil {
					t.Fatal(err)
				}
				var loss float64
				for range 2 { // the second step reuses the grown scratch
					m.ZeroGrad()
					if loss, err = m.Forward(inputs, targets, nil); err != nil {
						t.Fatal(err)
					}
					m.Backward()
				}
				return loss, slices.Clone(m.Grads)
			}
			wantLoss, want := run(Options{B: B, T: T, Seed: 1})
			gotLoss, got := run(Options{B: B, T: T, Seed: 1, MatMul: model.GoKernels{}})
			if math.Abs(gotLoss-wantLoss) > 1e-5*math.Abs(wantLoss) {
				t.Errorf("loss %g, gemm's %g", gotLoss, wantLoss)
			}
			var scale float64
			for _, g := range want {
				scale = max(scale, math.Abs(float64(g)))
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*scale {
					t.Fatalf("grad %d: %g, gemm's %g (scale %g)", i, got[i], want[i], scale)
				}
			}
		})
	}
}
