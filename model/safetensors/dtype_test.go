package safetensors

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDTypeSize(t *testing.T) {
	for _, tc := range []struct {
		d    DType
		want int
	}{
		{BF16, 2}, {F16, 2}, {F32, 4}, {F64, 8},
		{I8, 1}, {U8, 1}, {I32, 4}, {I64, 8},
		{"BOOL", 0}, {"F8_E4M3", 0}, {"bf16", 0}, {"", 0},
	} {
		if got := tc.d.Size(); got != tc.want {
			t.Errorf("DType(%q).Size() = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// isNaN32 reports whether x is a NaN; NaN != NaN, so comparisons below go through bits
// or through this.
func isNaN32(x float32) bool { return x != x }

// sameFloat32 reports whether a and b are the same value: equal bits, or both NaN.
func sameFloat32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || isNaN32(a) && isNaN32(b)
}

var (
	inf32    = float32(math.Inf(1))
	negZero  = float32(math.Copysign(0, -1))
	nan32    = float32(math.NaN())
	minSub16 = float32(math.Ldexp(1, -24)) // smallest positive binary16 subnormal
	minNorm  = float32(math.Ldexp(1, -14)) // smallest positive binary16 normal
)

// TestF16Known pins binary16 encodings both ways: every class of value, from IEEE 754
// tables, and where narrowing rounds.
func TestF16Known(t *testing.T) {
	for _, tc := range []struct {
		name string
		bits uint16
		val  float32
	}{
		{"zero", 0x0000, 0},
		{"negative zero", 0x8000, negZero},
		{"one", 0x3c00, 1},
		{"minus two", 0xc000, -2},
		{"one third", 0x3555, 0.333251953125},
		{"max finite", 0x7bff, 65504},
		{"min normal", 0x0400, minNorm},
		{"max subnormal", 0x03ff, float32(math.Ldexp(1023, -24))},
		{"min subnormal", 0x0001, minSub16},
		{"negative subnormal", 0x8200, -float32(math.Ldexp(1, -15))},
		{"inf", 0x7c00, inf32},
		{"negative inf", 0xfc00, -inf32},
		{"nan", 0x7e00, nan32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := F16ToFloat32(tc.bits); !sameFloat32(got, tc.val) {
				t.Errorf("F16ToFloat32(%#04x) = %v (%#08x), want %v (%#08x)", tc.bits, got, math.Float32bits(got), tc.val, math.Float32bits(tc.val))
			}
			if got := Float32ToF16(tc.val); got != tc.bits && !(isNaN32(tc.val) && got&0x7c00 == 0x7c00 && got&0x3ff != 0) {
				t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", tc.val, got, tc.bits)
			}
		})
	}
	for _, tc := range []struct {
		name string
		val  float32
		want uint16
	}{
		{"1+2^-11 ties to even 1", 1 + float32(math.Ldexp(1, -11)), 0x3c00},
		{"1+3·2^-11 ties to even 1+2^-9", 1 + float32(math.Ldexp(3, -11)), 0x3c02},
		{"just above a tie rounds up", math.Nextafter32(1+float32(math.Ldexp(1, -11)), 2), 0x3c01},
		{"65519 rounds to max", 65519, 0x7bff},
		{"65520 ties to inf", 65520, 0x7c00},
		{"huge to inf", 1e30, 0x7c00},
		{"negative huge to -inf", -1e30, 0xfc00},
		{"half min subnormal ties to zero", float32(math.Ldexp(1, -25)), 0x0000},
		{"above half min subnormal rounds up", math.Nextafter32(float32(math.Ldexp(1, -25)), 1), 0x0001},
		{"1.5 min subnormal ties to 2", float32(math.Ldexp(3, -25)), 0x0002},
		{"max subnormal + half ulp ties to min normal", float32(math.Ldexp(2047, -25)), 0x0400},
		{"float32 subnormal to signed zero", -float32(math.Ldexp(1, -140)), 0x8000},
		{"tiny to zero", 1e-30, 0x0000},
	} {
		if got := Float32ToF16(tc.val); got != tc.want {
			t.Errorf("%s: Float32ToF16(%v) = %#04x, want %#04x", tc.name, tc.val, got, tc.want)
		}
	}
}

// TestBF16Known pins bfloat16 encodings both ways and where narrowing rounds.
func TestBF16Known(t *testing.T) {
	for _, tc := range []struct {
		name string
		bits uint16
		val  float32
	}{
		{"zero", 0x0000, 0},
		{"negative zero", 0x8000, negZero},
		{"one", 0x3f80, 1},
		{"minus two", 0xc000, -2},
		{"one plus 2^-7", 0x3f81, 1 + 1.0/128},
		{"max finite", 0x7f7f, float32(math.Ldexp(255, 120))},
		{"min normal", 0x0080, float32(math.Ldexp(1, -126))},
		{"min subnormal", 0x0001, float32(math.Ldexp(1, -133))},
		{"inf", 0x7f80, inf32},
		{"negative inf", 0xff80, -inf32},
		{"nan", 0x7fc0, nan32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BF16ToFloat32(tc.bits); !sameFloat32(got, tc.val) {
				t.Errorf("BF16ToFloat32(%#04x) = %v, want %v", tc.bits, got, tc.val)
			}
			if got := Float32ToBF16(tc.val); got != tc.bits {
				t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", tc.val, got, tc.bits)
			}
		})
	}
	for _, tc := range []struct {
		name string
		val  float32
		want uint16
	}{
		{"1+2^-8 ties to even 1", 1 + 1.0/256, 0x3f80},
		{"1+3·2^-8 ties to even 1+2^-6", 1 + 3.0/256, 0x3f82},
		{"just above a tie rounds up", math.Nextafter32(1+1.0/256, 2), 0x3f81},
		{"max float32 to inf", math.MaxFloat32, 0x7f80},
		{"nan with only low payload bits stays nan", math.Float32frombits(0x7f800001), 0x7fc0},
		{"negative nan keeps sign", math.Float32frombits(0xff800001), 0xffc0},
	} {
		if got := Float32ToBF16(tc.val); got != tc.want {
			t.Errorf("%s: Float32ToBF16(%v) = %#04x, want %#04x", tc.name, tc.val, got, tc.want)
		}
	}
}

// TestHalfRoundTripAll widens every one of the 65536 encodings and narrows it back:
// widening is exact, so each must come back unchanged (NaNs as some NaN).
func TestHalfRoundTripAll(t *testing.T) {
	for _, tc := range []struct {
		name   string
		widen  func(uint16) float32
		narrow func(float32) uint16
	}{
		{"F16", F16ToFloat32, Float32ToF16},
		{"BF16", BF16ToFloat32, Float32ToBF16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for u := range 1 << 16 {
				x := tc.widen(uint16(u))
				got := tc.narrow(x)
				if isNaN32(x) {
					if !isNaN32(tc.widen(got)) {
						t.Fatalf("%#04x widens to NaN, narrows to %#04x, not a NaN", u, got)
					}
					continue
				}
				if got != uint16(u) {
					t.Fatalf("%#04x widens to %v, narrows to %#04x", u, x, got)
				}
			}
		})
	}
}

// TestHalfTiesAll checks rounding at every midpoint between two adjacent finite values
// of the same sign: the midpoint goes to the even encoding, the float32 just below it
// to the lower value and just above it to the upper. Midpoints need one bit more than
// the half format has, so they are exact float32s.
func TestHalfTiesAll(t *testing.T) {
	for _, tc := range []struct {
		name      string
		widen     func(uint16) float32
		narrow    func(float32) uint16
		maxFinite uint16
	}{
		{"F16", F16ToFloat32, Float32ToF16, 0x7bff},
		{"BF16", BF16ToFloat32, Float32ToBF16, 0x7f7f},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, sign := range []uint16{0, 0x8000} {
				for m := uint16(0); m < tc.maxFinite; m++ {
					lo, hi := sign|m, sign|(m+1)
					a, b := float64(tc.widen(lo)), float64(tc.widen(hi))
					mid := float32((a + b) / 2)
					if float64(mid) != (a+b)/2 {
						t.Fatalf("midpoint of %#04x and %#04x is not a float32", lo, hi)
					}
					even := lo
					if m&1 == 1 {
						even = hi
					}
					toward := float32(math.Inf(1))
					if sign != 0 {
						toward = -toward
					}
					below := math.Nextafter32(mid, 0)
					above := math.Nextafter32(mid, toward)
					if got := tc.narrow(mid); got != even {
						t.Fatalf("narrow(%g), midway between %#04x and %#04x, = %#04x, want %#04x", mid, lo, hi, got, even)
					}
					if got := tc.narrow(below); got != lo {
						t.Fatalf("narrow(%g), just nearer %#04x, = %#04x", below, lo, got)
					}
					if got := tc.narrow(above); got != hi {
						t.Fatalf("narrow(%g), just nearer %#04x, = %#04x", above, hi, got)
					}
				}
			}
		})
	}
}

// TestHalfNearestRandom checks on seeded random float32 bit patterns that narrowing
// gives a nearest value: no neighbour of the result is closer to the input.
func TestHalfNearestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name      string
		widen     func(uint16) float32
		narrow    func(float32) uint16
		maxFinite uint16
	}{
		{"F16", F16ToFloat32, Float32ToF16, 0x7bff},
		{"BF16", BF16ToFloat32, Float32ToBF16, 0x7f7f},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 200_000 {
				x := math.Float32frombits(rng.Uint32())
				if tc.name == "F16" && rng.IntN(2) == 0 {
					x = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-25)) // around the F16 range
				}
				if isNaN32(x) || math.IsInf(float64(x), 0) {
					continue
				}
				got := tc.narrow(x)
				if got&0x8000 != uint16(math.Float32bits(x)>>16)&0x8000 {
					t.Fatalf("narrow(%g) = %#04x: sign lost", x, got)
				}
				mag := got & 0x7fff
				ax := math.Abs(float64(x))
				if mag > tc.maxFinite {
					// Inf: x must be at least the midpoint between the largest finite
					// value and the next power of two up.
					top := float64(tc.widen(tc.maxFinite))
					ulp := top - float64(tc.widen(tc.maxFinite-1))
					if ax < top+ulp/2 {
						t.Fatalf("narrow(%g) = Inf, but it is below the overflow threshold %g", x, top+ulp/2)
					}
					continue
				}
				d := math.Abs(ax - float64(tc.widen(mag)))
				for _, n := range []int{int(mag) - 1, int(mag) + 1} {
					if n < 0 || n > int(tc.maxFinite) {
						continue
					}
					dn := math.Abs(ax - float64(tc.widen(uint16(n))))
					if dn < d || dn == d && mag&1 == 1 {
						t.Fatalf("narrow(%g) = %#04x (%g), but %#04x (%g) is nearer or the even tie", x, got, tc.widen(got), n, tc.widen(uint16(n)))
					}
				}
			}
		})
	}
}

func TestFloat32Bytes(t *testing.T) {
	x := []float32{0, negZero, 1, -2.5, inf32, math.SmallestNonzeroFloat32, math.MaxFloat32}
	b := Float32Bytes(x)
	if want := []byte{0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0x80, 0x3f}; string(b[:12]) != string(want) {
		t.Errorf("Float32Bytes(%v)[:12] = % x, want % x (little-endian)", x, b[:12], want)
	}
	y := BytesFloat32(b)
	if len(y) != len(x) {
		t.Fatalf("BytesFloat32 gave %d values, want %d", len(y), len(x))
	}
	for i := range x {
		if !sameFloat32(x[i], y[i]) {
			t.Errorf("round trip [%d]: %v became %v", i, x[i], y[i])
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("BytesFloat32 of 3 bytes did not panic")
		}
	}()
	BytesFloat32(make([]byte, 3))
}

// TestBytesInt8: every byte reads as its two's-complement int8, in place.
func TestBytesInt8(t *testing.T) {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	q := BytesInt8(b)
	if len(q) != len(b) {
		t.Fatalf("BytesInt8 gave %d values, want %d", len(q), len(b))
	}
	for i, v := range q {
		if v != int8(b[i]) {
			t.Errorf("byte %#02x read as %d, want %d", b[i], v, int8(b[i]))
		}
	}
	if q[0] = -1; b[0] != 0xff {
		t.Errorf("BytesInt8 is a copy, want the same memory")
	}
	if len(BytesInt8(nil)) != 0 {
		t.Errorf("BytesInt8(nil) is not empty")
	}
}

// TestFloat32Tensor: the tensor holds x's bytes and its own copy of the shape.
func TestFloat32Tensor(t *testing.T) {
	x, shape := []float32{1, -2.5, 3, 4, 5, 6}, []int{2, 3}
	tt := Float32Tensor("w", x, shape)
	shape[0] = 7
	if tt.Name != "w" || tt.DType != F32 || len(tt.Shape) != 2 || tt.Shape[0] != 2 || tt.Shape[1] != 3 {
		t.Fatalf("Float32Tensor = %s %v %v, want w F32 [2 3]", tt.Name, tt.DType, tt.Shape)
	}
	if string(tt.Data) != string(Float32Bytes(x)) {
		t.Errorf("data % x, want Float32Bytes's % x", tt.Data, Float32Bytes(x))
	}
}
