//go:build goexperiment.simd && amd64

package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"simd/archsimd"
)

// The vector kernels against their scalar twins; the gemm kernel is in TestGemm.

func TestExp8(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	var x, got [8]float32
	worst := 0.0
	for range 100_000 {
		for i := range x {
			x[i] = float32(rng.Float64()*175 - 87.3)
		}
		exp8(archsimd.LoadFloat32x8(&x)).Store(&got)
		for i, v := range x {
			want := math.Exp(float64(v))
			if want < 1.2e-38 || want > 2.1e38 {
				continue
			}
			w32 := float32(want)
			ulp := float64(math.Nextafter32(w32, float32(math.Inf(1))) - w32)
			worst = max(worst, math.Abs(float64(got[i])-want)/ulp)
		}
	}
	t.Logf("worst error %.2f ulp", worst)
	if worst > 2 {
		t.Errorf("exp8 is off by %.2f ulp, want ≤ 2", worst)
	}
}

func TestSoftmaxSwiGLUVector(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 7, 8, 9, 33, 128} {
		x := randVec(rng, n, 0, 3)
		want := slices.Clone(x)
		softmax(want, 0.7, false)
		got := narrow(x)
		softmax(got, 0.7, true)
		if e := relErr(widen(got), want); e > 1e-6 {
			t.Errorf("softmax of %d: vector off by %.3g", n, e)
		}
	}
	const N, F = 3, 37
	fc, dy := randVec(rng, N*2*F, 0, 3), randVec(rng, N*F, 0, 1)
	out64, dfc64 := make([]float64, N*F), make([]float64, N*2*F)
	swigluForwardRows(out64, fc, N, F)
	swigluBackwardRows(dfc64, dy, fc, N, F)
	out32, dfc32 := make([]float32, N*F), make([]float32, N*2*F)
	swigluForwardRows(out32, narrow(fc), N, F)
	swigluBackwardRows(dfc32, narrow(dy), narrow(fc), N, F)
	if e := relErr(widen(out32), out64); e > 1e-6 {
		t.Errorf("swigluForwardRows: vector off by %.3g", e)
	}
	if e := relErr(widen(dfc32), dfc64); e > 1e-6 {
		t.Errorf("swigluBackwardRows: vector off by %.3g", e)
	}
}

// TestAdamVector checks that the vector AdamW update is the scalar one bit for bit.
func TestAdamVector(t *testing.T) {
	const n = 1003
	rng := rand.New(rand.NewPCG(4, 4))
	c := &adamStep{lr: 1e-3, b1: 0.9, b2: 0.95, eps: 1e-8, scale: 0.7, bc1: 0.19, bc2: 0.0975}
	p, g, m, v := narrow(randVec(rng, n, 0, 1)), narrow(randVec(rng, n, 0, 1e-3)), narrow(randVec(rng, n, 0, 1e-3)), narrow(randVec(rng, n, 0, 1e-6))
	for i := range v {
		v[i] = float32(math.Abs(float64(v[i])))
	}
	p2, m2, v2 := slices.Clone(p), slices.Clone(m), slices.Clone(v)
	if k := adamVector(c, p, g, m, v, 0, n, 0.1); k != n-n%8 {
		t.Fatalf("adamVector stopped at %d", k)
	}
	for i := range n - n%8 {
		gi := g[i] * c.scale
		m2[i] = c.b1*m2[i] + (1-c.b1)*gi
		v2[i] = c.b2*v2[i] + (1-c.b2)*gi*gi
		mhat, vhat := m2[i]/c.bc1, v2[i]/c.bc2
		p2[i] -= c.lr * (mhat/(float32(math.Sqrt(float64(vhat)))+c.eps) + 0.1*p2[i])
	}
	if !slices.Equal(p, p2) || !slices.Equal(m, m2) || !slices.Equal(v, v2) {
		t.Error("vector AdamW differs from the scalar loop")
	}
}
