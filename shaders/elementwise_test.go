package shaders

import (
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
)

func TestSwiGLUAdd(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 1537, 7 * 1536} {
		g, u, x := randVec(rng, n, 12), randVec(rng, n, 2), randVec(rng, n, 2)
		want := make([]float32, n)
		model.SwiGLU(want, g, u)
		wantAdd := make([]float64, n)
		for i := range x {
			wantAdd[i] = float64(x[i] + want[i])
		}
		bg, bu, bx := must(d.NewBufferF32("g", g)), must(d.NewBufferF32("u", u)), must(d.NewBufferF32("x", x))
		out := must(d.NewBuffer("out", uint64(4*n)))
		b := d.NewBatch("swiglu")
		b.SwiGLU(out, bg, bu, n)
		b.Add(bx, out, n)
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
		got, gotAdd := make([]float32, n), make([]float32, n)
		must(0, d.ReadF32(got, out, 0))
		must(0, d.ReadF32(gotAdd, bx, 0))
		e, ea := relErr(got, f64s(want)), relErr(gotAdd, wantAdd)
		t.Logf("n=%d: max rel err swiglu %.2e add %.2e", n, e, ea)
		if e > 1e-5 || ea > 1e-5 {
			t.Errorf("n=%d: max rel err swiglu %.2e add %.2e > 1e-5", n, e, ea)
		}
		b.Release()
		for _, x := range []*Buffer{bg, bu, bx, out} {
			x.Release()
		}
	}
}
