package svf

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestRelFrobenius(t *testing.T) {
	for _, tc := range []struct {
		a, b []float32
		want float64
	}{
		{[]float32{3, 4}, []float32{3, 4}, 0},
		{[]float32{3, 5}, []float32{3, 4}, 0.2},
		{[]float32{0, 0}, []float32{0, 0}, 0},
		{[]float32{1, 0}, []float32{0, 0}, math.Inf(1)},
	} {
		if got := RelFrobenius(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 && got != tc.want {
			t.Errorf("RelFrobenius(%v, %v) = %g, want %g", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRelFrobeniusPanics(t *testing.T) {
	defer func() {
		if msg := fmt.Sprint(recover()); !strings.Contains(msg, "a[2]") {
			t.Errorf("panic %q does not say a[2]", msg)
		}
	}()
	RelFrobenius(make([]float32, 2), make([]float32, 3))
}
