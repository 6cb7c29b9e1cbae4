package svf

import (
	"fmt"
	"math"
)

// RelFrobenius returns ‖a − b‖_F / ‖b‖_F in float64: the relative error of a with
// respect to the reference b. When b is zero it returns 0 if a is zero too, +Inf
// otherwise. Different lengths are a caller bug: it panics with both.
func RelFrobenius(a, b []float32) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("svf: RelFrobenius: a[%d] and b[%d] differ in length", len(a), len(b)))
	}
	var num, den float64
	for i, x := range b {
		d := float64(a[i]) - float64(x)
		num += d * d
		den += float64(x) * float64(x)
	}
	if den == 0 {
		if num == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Sqrt(num / den)
}
