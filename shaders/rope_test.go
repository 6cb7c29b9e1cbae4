package shaders

import (
	"math/rand/v2"
	"testing"

	"github.com/t2web/t2web/model"
)

func TestRope(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(7, 8))
	llama3 := &model.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}
	for _, c := range []struct {
		T, H, Hkv, Dh, S int
		scaling          *model.RopeScaling
	}{
		{1, 3, 1, 64, 40, nil},
		{7, 6, 2, 32, 300, llama3},
		{5, 9, 3, 48, 4096, &model.RopeScaling{Type: "linear", Factor: 4}},
	} {
		cfg := &model.Config{HeadDim: c.Dh, RopeTheta: 10000, RopeScaling: c.scaling}
		q := randVec(rng, c.T*c.H*c.Dh, 1)
		k := randVec(rng, c.T*c.Hkv*c.Dh, 1)
		pos := make([]uint32, c.T)
		for i := range pos {
			pos[i] = uint32(rng.IntN(c.S))
		}
		pos[0] = uint32(c.S - 1)
		wantQ, wantK := append([]float32(nil), q...), append([]float32(nil), k...)
		rope := model.NewRope(cfg, c.S)
		for i, p := range pos {
			rope.Apply(wantQ[i*c.H*c.Dh:(i+1)*c.H*c.Dh], c.H, int(p))
			rope.Apply(wantK[i*c.Hkv*c.Dh:(i+1)*c.Hkv*c.Dh], c.Hkv, int(p))
		}

		bq, bk := must(d.NewBufferF32("q", q)), must(d.NewBufferF32("k", k))
		cs := must(d.NewBufferF32("cs", RopeTable(cfg.InvFreq(), c.S)))
		bp := must(d.NewBufferU32("pos", pos))
		b := d.NewBatch("rope")
		b.Rope(bq, bk, cs, bp, c.T, c.H, c.Hkv, c.Dh, c.S)
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
		gotQ, gotK := make([]float32, len(q)), make([]float32, len(k))
		must(0, d.ReadF32(gotQ, bq, 0))
		must(0, d.ReadF32(gotK, bk, 0))
		eq, ek := relErr(gotQ, f64s(wantQ)), relErr(gotK, f64s(wantK))
		t.Logf("%+v: max rel err q %.2e k %.2e", c, eq, ek)
		if eq > 1e-6 || ek > 1e-6 {
			t.Errorf("%+v: max rel err q %.2e k %.2e > 1e-6", c, eq, ek)
		}
		b.Release()
		for _, x := range []*Buffer{bq, bk, cs, bp} {
			x.Release()
		}
	}
}
