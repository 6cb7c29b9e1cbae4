package train

import (
	"math"
	"unsafe"
)

// exp is eˣ in E's precision: math.Exp for float64 (the gradient checks), expf for
// float32, which is about ten times faster than going through float64 and within 2 ulp.
func exp[E Float](x E) E {
	if unsafe.Sizeof(x) == 4 {
		return E(expf(float32(x)))
	}
	return E(math.Exp(float64(x)))
}

// expf is eˣ for float32, Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two
// for an exact product), eʳ by a degree-6 polynomial, 2ⁿ put in the exponent bits.
// Results below the normal range flush to 0; above it, +Inf.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	case x != x:
		return x
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	// 2ⁿ in two factors, so that n = 128 (x near the top) and n = −126 stay normal.
	half := int32(n) / 2
	return p * math.Float32frombits(uint32(half+127)<<23) * math.Float32frombits(uint32(int32(n)-half+127)<<23)
}
