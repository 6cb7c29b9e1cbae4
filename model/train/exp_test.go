package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpf holds expf to math.Exp over the float32 range, in ulps of the result.
func TestExpf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	worst := 0.0
	check := func(x float32) {
		got, want := expf(x), math.Exp(float64(x))
		if want < 1.2e-38 || want > 3.4e38 {
			return
		}
		w32 := float32(want)
		ulp := float64(math.Nextafter32(w32, float32(math.Inf(1))) - w32)
		if e := math.Abs(float64(got)-want) / ulp; e > worst {
			worst = e
		}
	}
	for range 1_000_000 {
		check(float32(rng.Float64()*175 - 87.3))
	}
	for _, x := range []float32{0, -0, 1, -1, 1e-8, -1e-8, 88.7, -87.3, 0.5, -0.3465736, 0.3465736} {
		check(x)
	}
	t.Logf("worst error %.2f ulp", worst)
	if worst > 2 {
		t.Errorf("expf is off by %.2f ulp, want ≤ 2", worst)
	}
	if expf(100) != float32(math.Inf(1)) || expf(-100) != 0 || expf(0) != 1 {
		t.Errorf("expf(100) = %g, expf(-100) = %g, expf(0) = %g", expf(100), expf(-100), expf(0))
	}
}

func BenchmarkExpf(b *testing.B) {
	x := float32(0)
	for i := range b.N {
		x += expf(float32(i%64) * -0.1)
	}
	_ = x
}

func BenchmarkMathExp(b *testing.B) {
	x := float32(0)
	for i := range b.N {
		x += float32(math.Exp(float64(float32(i%64) * -0.1)))
	}
	_ = x
}
