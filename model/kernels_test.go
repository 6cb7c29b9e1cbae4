package model_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/kerneltest"
)

// TestGoKernels holds GoKernels to itself through the suite (it checks that rows outside
// the range stay untouched), and DotQ8 to the float64 dot product of the dequantised rows.
func TestGoKernels(t *testing.T) {
	kerneltest.Run(t, model.GoKernels{})
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cols := range []int{32, 33, 96, 576, 1536} {
		x, w := make([]float32, cols), make([]float32, cols)
		for i := range x {
			x[i], w[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		var xq, wq model.Q8
		xq.QuantizeRows(x, 1, cols)
		wq.QuantizeRows(w, 1, cols)
		xd, wd := make([]float32, cols), make([]float32, cols)
		xq.Dequantize(xd, 0)
		wq.Dequantize(wd, 0)
		var exact, ref float64
		for i := range xd {
			exact += float64(xd[i]) * float64(wd[i])
			ref += float64(x[i]) * float64(w[i])
		}
		got := float64(model.DotQ8(xq.Q, xq.Scale, wq.Q, wq.Scale))
		if d := math.Abs(got - exact); d > 1e-5*math.Sqrt(float64(cols)) {
			t.Errorf("cols %d: DotQ8 %g, float64 dot of the dequantised rows %g", cols, got, exact)
		}
		// Quantising both sides costs about 1/127 of each |value| per element.
		if d := math.Abs(got - ref); d > 0.05*math.Sqrt(float64(cols)) {
			t.Errorf("cols %d: DotQ8 %g, float64 dot of the f32 rows %g", cols, got, ref)
		}
	}
}

// TestQuantizeQ8Row: llama.cpp's Q8_0 rule in float32 — absmax/127 scales, x/scale
// rounded with ties to even, a short last block padded with zeros, an all-zero block
// with scale 0.
func TestQuantizeQ8Row(t *testing.T) {
	x := make([]float32, 40)
	x[0], x[1], x[2], x[3], x[4], x[5] = 127, -63.5, 0.5, -1.49, 2.5, -1.5
	x[32], x[33] = 2, -1
	dst, scale := make([]int8, 64), make([]float32, 2)
	for i := range dst {
		dst[i] = 9 // must be overwritten, padding too
	}
	model.QuantizeQ8Row(dst, scale, x)
	if scale[0] != 1 || scale[1] != float32(2.0/127) {
		t.Errorf("scales %v, want [1 %g]", scale, 2.0/127)
	}
	want := map[int]int8{0: 127, 1: -64, 2: 0, 3: -1, 4: 2, 5: -2, 32: 127, 33: -64}
	for i, v := range dst {
		if v != want[i] {
			t.Errorf("q[%d] = %d, want %d", i, v, want[i])
		}
	}
	model.QuantizeQ8Row(dst, scale, make([]float32, 40))
	if scale[0] != 0 || dst[0] != 0 {
		t.Errorf("an all-zero row: scale %g, q[0] %d", scale[0], dst[0])
	}
}

func BenchmarkGoKernels(b *testing.B) { kerneltest.Bench(b, model.GoKernels{}) }

// TestExp32 holds Exp32 to math.Exp within 2 ulp over [−87, 88], and to its clamps
// outside.
func TestExp32(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x <= 88; x += 0.0137 {
		got, want := float64(model.Exp32(x)), math.Exp(float64(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want))
		worst = max(worst, math.Abs(got-want)/ulp)
	}
	t.Logf("worst error %.2f ulp", worst)
	if worst > 2 {
		t.Errorf("Exp32 is %.2f ulp off math.Exp, want ≤ 2", worst)
	}
	if model.Exp32(-1000) != model.Exp32(-87) || model.Exp32(1000) != model.Exp32(88) {
		t.Error("Exp32 does not clamp to [−87, 88]")
	}
}
