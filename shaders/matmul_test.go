package shaders

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
)

// matmulTwin is y[T,out] = x·wᵀ + b in float64, w given by at(o, i).
func matmulTwin(x []float32, at func(o, i int) float64, bias []float32, T, in, out int) []float64 {
	y := make([]float64, T*out)
	for t := range T {
		for o := range out {
			var s float64
			for i := range in {
				s += float64(x[t*in+i]) * at(o, i)
			}
			if bias != nil {
				s += float64(bias[o])
			}
			y[t*out+o] = s
		}
	}
	return y
}

var matmulShapes = []struct {
	T, in, out int
	bias       bool
}{
	{1, 576, 1536, false}, {1, 67, 45, true}, {7, 131, 250, true}, {13, 96, 77, false},
	{70, 200, 130, true}, {7, 1536, 576, false},
}

// matmulKernels are the kernels and layouts under test: both matvec layouts (the GPU
// one too, though the adapter is a CPU), the tiled kernel and the CPU adapters' blocks,
// 4×4 and SwiftShader's 4×8 for Q8 (shapes whose in is a multiple of 4; 32 for Q8).
var matmulKernels = []struct {
	name   string
	kind   matKernel
	tuning overrides
	wide   bool // Device.rowsWide
}{
	{"matvec/cpu-layout", kernMatVec, matvecTuning(true), false},
	{"matvec/gpu-layout", kernMatVec, matvecTuning(false), false},
	{"tiled", kernTiled, matvecTuning(false), false},
	{"rows", kernRows, matvecTuning(true), false},
	{"rows-wide", kernRows, matvecTuning(true), true},
}

func TestMatMul(t *testing.T) {
	d := device(t)
	defer func(o overrides, w bool) { d.matvec, d.rowsWide = o, w }(d.matvec, d.rowsWide)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, c := range matmulShapes {
		x, w := randVec(rng, c.T*c.in, 1), randVec(rng, c.out*c.in, 1)
		var bias []float32
		if c.bias {
			bias = randVec(rng, c.out, 1)
		}
		want := make([]float32, c.T*c.out)
		model.MatMul(want, x, w, bias, c.T, c.in, c.out)
		want64 := matmulTwin(x, func(o, i int) float64 { return float64(w[o*c.in+i]) }, bias, c.T, c.in, c.out)
		bx, bw := must(d.NewBufferF32("x", x)), must(d.NewBufferF32("w", w))
		var bb *Buffer
		if c.bias {
			bb = must(d.NewBufferF32("b", bias))
		}
		for _, k := range matmulKernels {
			if k.kind == kernRows && !rowsVec4(c.in) {
				continue
			}
			name := fmt.Sprintf("T=%d in=%d out=%d bias=%v %s", c.T, c.in, c.out, c.bias, k.name)
			y := must(d.NewBuffer("y", uint64(4*c.T*c.out)))
			d.matvec, d.rowsWide = k.tuning, k.wide
			b := d.NewBatch("matmul")
			b.matMul(y, bx, bw, bb, c.T, c.in, c.out, k.kind)
			if err := b.Run(); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, c.T*c.out)
			must(0, d.ReadF32(got, y, 0))
			e, e64 := relErr(got, f64s(want)), relErr(got, want64)
			t.Logf("%s: max rel err vs model.MatMul %.2e, vs float64 %.2e", name, e, e64)
			if e > 1e-5 {
				t.Errorf("%s: max rel err %.2e > 1e-5", name, e)
			}
			b.Release()
			y.Release()
		}
		bx.Release()
		bw.Release()
		bb.Release()
	}
}

func TestMatMulQ8(t *testing.T) {
	d := device(t)
	defer func(o overrides, w bool) { d.matvec, d.rowsWide = o, w }(d.matvec, d.rowsWide)
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range matmulShapes {
		x, wf := randVec(rng, c.T*c.in, 1), randVec(rng, c.out*c.in, 1)
		q, scale := quantize(wf, c.out, c.in)
		var bias []float32
		if c.bias {
			bias = randVec(rng, c.out, 1)
		}
		nb := (c.in + 31) / 32
		want := matmulTwin(x, func(o, i int) float64 {
			return float64(q[o*c.in+i]) * float64(scale[o*nb+i/32])
		}, bias, c.T, c.in, c.out)
		bx := must(d.NewBufferF32("x", x))
		w := must(d.NewQ8("w", c.out, c.in))
		must(0, d.WriteQ8(w, q, scale))
		var bb *Buffer
		if c.bias {
			bb = must(d.NewBufferF32("b", bias))
		}
		for _, k := range matmulKernels {
			if k.kind == kernRows && !rowsQ8(c.in) {
				continue
			}
			name := fmt.Sprintf("T=%d in=%d out=%d bias=%v %s", c.T, c.in, c.out, c.bias, k.name)
			y := must(d.NewBuffer("y", uint64(4*c.T*c.out)))
			d.matvec, d.rowsWide = k.tuning, k.wide
			b := d.NewBatch("matmulq8")
			b.matMulQ8(y, bx, w, bb, c.T, k.kind)
			if err := b.Run(); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, c.T*c.out)
			must(0, d.ReadF32(got, y, 0))
			e := relErr(got, want)
			t.Logf("%s: max rel err %.2e", name, e)
			if e > 1e-5 {
				t.Errorf("%s: max rel err %.2e > 1e-5", name, e)
			}
			b.Release()
			y.Release()
		}
		bx.Release()
		w.Release()
		bb.Release()
	}
}
