// Package kerneltest holds every implementation of model.Kernels to model.GoKernels, the
// reference, bit for bit, and times them on the shapes of SmolLM2-135M.
package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
)

// randQ8 returns a Q8 matrix of rows×cols quantised from N(0, 1) values, with every
// 7th block all zero (scale 0) so zero blocks are exercised too.
func randQ8(rng *rand.Rand, rows, cols int) *model.Q8 {
	x := make([]float32, rows*cols)
	for i := range x {
		if (i/model.Q8Block)%7 != 3 {
			x[i] = float32(rng.NormFloat64())
		}
	}
	q := &model.Q8{}
	q.QuantizeRows(x, rows, cols)
	// Extreme values: -127 and 127 next to each other in the first block.
	if len(q.Q) >= 2 {
		q.Q[0], q.Q[1] = -127, 127
	}
	return q
}

func randF32(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// same reports the first index where got and want differ in value (-0 and +0 are the
// same), or -1.
func same(got, want []float32) int {
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			return i
		}
	}
	return -1
}

// Run holds k to model.GoKernels on every method, over shapes that include blocks and
// lengths off the multiples of 4, zero blocks, biases, and row ranges that start past 0.
func Run(t *testing.T, k model.Kernels) {
	ref := model.GoKernels{}
	rng := rand.New(rand.NewPCG(7, 11))
	t.Run("MatMulQ8", func(t *testing.T) {
		for _, s := range []struct{ T, in, out, lo, hi int }{
			{1, 32, 1, 0, 1}, {1, 64, 5, 0, 5}, {1, 96, 9, 2, 9}, {2, 128, 8, 0, 8}, {3, 160, 7, 1, 6},
			{1, 576, 70, 0, 70}, {4, 576, 33, 3, 33}, {5, 1536, 12, 0, 12}, {1, 33, 4, 0, 4}, {7, 200, 17, 0, 17},
			{16, 576, 9, 0, 9},
		} {
			t.Run(fmt.Sprintf("T%d_in%d_out%d_%d-%d", s.T, s.in, s.out, s.lo, s.hi), func(t *testing.T) {
				x, w := randQ8(rng, s.T, s.in), randQ8(rng, s.out, s.in)
				for _, bias := range [][]float32{nil, randF32(rng, s.out)} {
					got, want := make([]float32, s.T*s.out), make([]float32, s.T*s.out)
					for i := range got { // rows outside [lo, hi) must stay as they are
						got[i], want[i] = float32(i), float32(i)
					}
					k.MatMulQ8(got, x, w, bias, s.lo, s.hi)
					ref.MatMulQ8(want, x, w, bias, s.lo, s.hi)
					if i := same(got, want); i >= 0 {
						t.Fatalf("bias %v: y[%d] = %g (%#x), %s gives %g (%#x)", bias != nil, i, got[i], math.Float32bits(got[i]), ref.Name(), want[i], math.Float32bits(want[i]))
					}
				}
			})
		}
	})
	t.Run("Quantize", func(t *testing.T) {
		for _, s := range []struct{ rows, cols int }{{1, 32}, {3, 64}, {2, 576}, {5, 1536}, {2, 33}, {1, 100}, {3, 144}} {
			t.Run(fmt.Sprintf("%dx%d", s.rows, s.cols), func(t *testing.T) {
				x := randF32(rng, s.rows*s.cols)
				for i := range x {
					switch i % 97 {
					case 5: // ties after scaling are rare; exact halves of the scale are not
						x[i] = 0
					case 7:
						x[i] *= 1e-3
					}
				}
				if s.cols >= 64 { // an all-zero block, and a block of tiny values
					clear(x[32:64])
				}
				if s.rows > 1 && s.cols >= 32 {
					for i := range 32 {
						x[s.cols+i] = float32(i) * 1e-39
					}
				}
				got, want := model.NewQ8(s.rows, s.cols), model.NewQ8(s.rows, s.cols)
				for i := range got.Q {
					got.Q[i], want.Q[i] = 5, 5
				}
				k.Quantize(got, x)
				ref.Quantize(want, x)
				for i := range want.Q {
					if got.Q[i] != want.Q[i] {
						t.Fatalf("q[%d] = %d, %s gives %d", i, got.Q[i], ref.Name(), want.Q[i])
					}
				}
				if i := same(got.Scale, want.Scale); i >= 0 {
					t.Fatalf("scale[%d] = %g, %s gives %g", i, got.Scale[i], ref.Name(), want.Scale[i])
				}
			})
		}
	})
	t.Run("SwiGLU", func(t *testing.T) {
		for _, n := range []int{1, 4, 7, 64, 1537} {
			gate, up := randF32(rng, n), randF32(rng, n)
			for i := range gate {
				switch i % 11 {
				case 1:
					gate[i] *= 60 // past the clamps of Exp32
				case 2:
					gate[i] *= 1e-3
				case 3:
					gate[i] = 0
				}
			}
			got, want := make([]float32, n), make([]float32, n)
			k.SwiGLU(got, gate, up)
			ref.SwiGLU(want, gate, up)
			if i := same(got, want); i >= 0 {
				t.Fatalf("n %d: dst[%d] = %g for gate %g, %s gives %g", n, i, got[i], gate[i], ref.Name(), want[i])
			}
		}
	})
	t.Run("Softmax", func(t *testing.T) {
		for _, n := range []int{1, 2, 3, 4, 5, 7, 64, 97, 203} {
			x := randF32(rng, n)
			for i := range x {
				x[i] *= 8
			}
			if n > 3 {
				x[3] = -200 // below Exp32's clamp
			}
			got, want := append([]float32{}, x...), append([]float32{}, x...)
			k.Softmax(got)
			ref.Softmax(want)
			if i := same(got, want); i >= 0 {
				t.Fatalf("n %d: p[%d] = %g, %s gives %g", n, i, got[i], ref.Name(), want[i])
			}
		}
	})
	t.Run("BlockMax", func(t *testing.T) {
		for _, n := range []int{1, 15, 16, 17, 64, 100, 49152} {
			x := randF32(rng, n)
			nb := (n + model.MaxBlock - 1) / model.MaxBlock
			got, want := make([]float32, nb), make([]float32, nb)
			k.BlockMax(got, x)
			ref.BlockMax(want, x)
			if i := same(got, want); i >= 0 {
				t.Fatalf("n %d: block %d max %g, %s gives %g", n, i, got[i], ref.Name(), want[i])
			}
		}
	})
	t.Run("MatMulF32", func(t *testing.T) {
		for _, s := range []struct{ T, in, out, lo, hi int }{
			{1, 1, 1, 0, 1}, {1, 3, 2, 0, 2}, {1, 4, 3, 0, 3}, {2, 7, 5, 1, 4}, {1, 64, 9, 0, 9},
			{3, 65, 6, 0, 6}, {1, 576, 40, 0, 40}, {5, 48, 11, 2, 11}, {16, 64, 8, 0, 8}, {7, 50, 9, 0, 9},
		} {
			t.Run(fmt.Sprintf("T%d_in%d_out%d_%d-%d", s.T, s.in, s.out, s.lo, s.hi), func(t *testing.T) {
				x, w := randF32(rng, s.T*s.in), randF32(rng, s.out*s.in)
				for _, bias := range [][]float32{nil, randF32(rng, s.out)} {
					got, want := make([]float32, s.T*s.out), make([]float32, s.T*s.out)
					for i := range got {
						got[i], want[i] = float32(i), float32(i)
					}
					k.MatMulF32(got, x, w, bias, s.T, s.in, s.out, s.lo, s.hi)
					ref.MatMulF32(want, x, w, bias, s.T, s.in, s.out, s.lo, s.hi)
					if i := same(got, want); i >= 0 {
						t.Fatalf("bias %v: y[%d] = %g, %s gives %g", bias != nil, i, got[i], ref.Name(), want[i])
					}
				}
			})
		}
	})
	t.Run("Attention", func(t *testing.T) {
		for _, s := range []struct{ Dh, n, stride int }{
			{16, 1, 32}, {16, 5, 32}, {64, 17, 192}, {64, 200, 64}, {8, 3, 8}, {7, 4, 21}, {12, 9, 36},
			{48, 6, 96}, {45, 3, 45},
		} {
			t.Run(fmt.Sprintf("Dh%d_n%d_stride%d", s.Dh, s.n, s.stride), func(t *testing.T) {
				q := randF32(rng, s.Dh)
				kc := randF32(rng, (s.n-1)*s.stride+s.Dh)
				got, want := make([]float32, s.n+1), make([]float32, s.n+1)
				got[s.n], want[s.n] = 42, 42
				k.Scores(got, q, kc, s.n, s.stride, 0.125)
				ref.Scores(want, q, kc, s.n, s.stride, 0.125)
				if i := same(got, want); i >= 0 {
					t.Fatalf("Scores: sc[%d] = %g, %s gives %g", i, got[i], ref.Name(), want[i])
				}
				p := randF32(rng, s.n)
				outG, outW := randF32(rng, s.Dh), make([]float32, s.Dh)
				k.Mix(outG, p, kc, s.n, s.stride)
				ref.Mix(outW, p, kc, s.n, s.stride)
				if i := same(outG, outW); i >= 0 {
					t.Fatalf("Mix: out[%d] = %g, %s gives %g", i, outG[i], ref.Name(), outW[i])
				}
			})
		}
	})
}

// Bench times k's kernels on SmolLM2-135M's shapes, one goroutine: the Q8 and f32
// matmuls of an MLP matrix [1536, 576] and of the lm_head [49152, 576] for one token and
// for 64, reporting weights/s (G weights a second read by the matmul: for T rows, each
// weight serves T multiply-adds), and attention over 256 positions of 9 heads.
func Bench(b *testing.B, k model.Kernels) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		name       string
		T, in, out int
	}{
		{"mlp", 1, 576, 1536}, {"mlp", 64, 576, 1536}, {"lmhead", 1, 576, 49152},
	} {
		b.Run(fmt.Sprintf("Q8/%s/T%d", s.name, s.T), func(b *testing.B) {
			x, w := randQ8(rng, s.T, s.in), randQ8(rng, s.out, s.in)
			y := make([]float32, s.T*s.out)
			b.SetBytes(int64(w.Rows * (w.Stride() + 4*w.Blocks())))
			for b.Loop() {
				k.MatMulQ8(y, x, w, nil, 0, s.out)
			}
			b.ReportMetric(float64(s.in*s.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
			b.ReportMetric(float64(s.T*s.in*s.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
		if s.name == "lmhead" && s.T > 1 {
			continue
		}
		b.Run(fmt.Sprintf("F32/%s/T%d", s.name, s.T), func(b *testing.B) {
			x, w := randF32(rng, s.T*s.in), randF32(rng, s.out*s.in)
			y := make([]float32, s.T*s.out)
			b.SetBytes(int64(4 * s.in * s.out))
			for b.Loop() {
				k.MatMulF32(y, x, w, nil, s.T, s.in, s.out, 0, s.out)
			}
			b.ReportMetric(float64(s.in*s.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
			b.ReportMetric(float64(s.T*s.in*s.out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
	b.Run("Quantize/1536", func(b *testing.B) {
		x := randF32(rng, 1536)
		q := model.NewQ8(1, 1536)
		for b.Loop() {
			k.Quantize(q, x)
		}
		b.ReportMetric(1536*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
	})
	b.Run("SwiGLU/1536", func(b *testing.B) {
		gate, up, dst := randF32(rng, 1536), randF32(rng, 1536), make([]float32, 1536)
		for b.Loop() {
			k.SwiGLU(dst, gate, up)
		}
		b.ReportMetric(1536*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
	})
	b.Run("Softmax/256", func(b *testing.B) {
		x, p := randF32(rng, 256), make([]float32, 256)
		for b.Loop() {
			copy(p, x)
			k.Softmax(p)
		}
		b.ReportMetric(256*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
	})
	b.Run("attention/n256", func(b *testing.B) {
		const H, Hkv, Dh, n = 9, 3, 64, 256
		kc, vc := randF32(rng, n*Hkv*Dh), randF32(rng, n*Hkv*Dh)
		q, sc, out := randF32(rng, Dh), make([]float32, n), make([]float32, Dh)
		for b.Loop() {
			for h := range H {
				kv := (h / (H / Hkv)) * Dh
				k.Scores(sc, q, kc[kv:], n, Hkv*Dh, 0.125)
				k.Mix(out, sc, vc[kv:], n, Hkv*Dh)
			}
		}
		b.ReportMetric(float64(2*H*n*Dh)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
	})
}
