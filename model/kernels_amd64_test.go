package model_test

import (
	"math"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/kerneltest"
)

// TestAVX2Kernels holds AVX2Kernels to GoKernels bit for bit (the CPU must have AVX2).
func TestAVX2Kernels(t *testing.T) {
	if _, ok := model.BestKernels().(model.AVX2Kernels); !ok {
		t.Skip("this CPU has no AVX2")
	}
	kerneltest.Run(t, model.AVX2Kernels{})
}

// BenchmarkAVX2Kernels: compare with BenchmarkGoKernels.
//
//	go test -run '^$' -bench 'Kernels' ./model/
func BenchmarkAVX2Kernels(b *testing.B) { kerneltest.Bench(b, model.AVX2Kernels{}) }

// TestAVX2QuantizeSpecial: blocks holding a NaN or an infinity quantise as Go's do (q = 0;
// the scale NaN or +Inf), and their neighbours as usual.
func TestAVX2QuantizeSpecial(t *testing.T) {
	if _, ok := model.BestKernels().(model.AVX2Kernels); !ok {
		t.Skip("this CPU has no AVX2")
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		name string
		at   int
		v    float32
	}{{"nan", 37, nan}, {"inf", 70, inf}, {"-inf", 64, -inf}, {"max", 100, math.MaxFloat32}} {
		t.Run(c.name, func(t *testing.T) {
			x := make([]float32, 128)
			for i := range x {
				x[i] = float32(i%13) - 6.5
			}
			x[c.at] = c.v
			got, want := model.NewQ8(1, len(x)), model.NewQ8(1, len(x))
			model.AVX2Kernels{}.Quantize(got, x)
			model.GoKernels{}.Quantize(want, x)
			if !slices.Equal(got.Q, want.Q) {
				t.Errorf("q = %v, Go's %v", got.Q, want.Q)
			}
			for b := range want.Scale {
				g, w := got.Scale[b], want.Scale[b]
				if g != w && !(g != g && w != w) {
					t.Errorf("scale[%d] = %g, Go's %g", b, g, w)
				}
			}
		})
	}
}
