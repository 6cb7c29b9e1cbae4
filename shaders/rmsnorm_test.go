package shaders

import (
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
)

// TestRMSNorm holds the kernel to model.RMSNorm in the layouts of a GPU (a workgroup's
// reduction a row) and of a CPU adapter (a thread a row).
func TestRMSNorm(t *testing.T) {
	d := device(t)
	defer func(o overrides) { d.matvec = o }(d.matvec)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		T, D int
		cpu  bool
	}{{1, 576, false}, {7, 333, false}, {3, 1000, false}, {1, 576, true}, {7, 333, true}, {50, 192, true}} {
		d.matvec = matvecTuning(c.cpu)
		x := randVec(rng, c.T*c.D, 3)
		w := randVec(rng, c.D, 1)
		want := make([]float32, c.T*c.D)
		model.RMSNorm(want, x, w, c.T, c.D, 1e-5)

		bx, bw := must(d.NewBufferF32("x", x)), must(d.NewBufferF32("w", w))
		out := must(d.NewBuffer("out", uint64(4*c.T*c.D)))
		b := d.NewBatch("rmsnorm")
		b.RMSNorm(out, bx, bw, c.T, c.D, 1e-5)
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, c.T*c.D)
		must(0, d.ReadF32(got, out, 0))
		e := relErr(got, f64s(want))
		t.Logf("T=%d D=%d cpu layout=%v: max rel err %.2e", c.T, c.D, c.cpu, e)
		if e > 1e-5 {
			t.Errorf("T=%d D=%d cpu layout=%v: max rel err %.2e > 1e-5", c.T, c.D, c.cpu, e)
		}
		b.Release()
		bx.Release()
		bw.Release()
		out.Release()
	}
}
