package pack

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randMatrix returns a rows×cols matrix of N(0, std²) entries, seeded.
func randMatrix(seed uint64, rows, cols int, std float64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x5f5))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * std)
	}
	return x
}

func TestQuantizeQ8RoundTrip(t *testing.T) {
	for i, sh := range []struct{ rows, cols int }{
		{1, 1}, {1, 31}, {1, 32}, {1, 33}, {7, 1}, {3, 64}, {5, 65}, {17, 100}, {576, 576},
	} {
		t.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(t *testing.T) {
			x := randMatrix(uint64(200+i), sh.rows, sh.cols, 0.05)
			q, scale := QuantizeQ8(x, sh.rows, sh.cols)
			nb := (sh.cols + 31) / 32
			if len(q) != sh.rows*sh.cols || len(scale) != sh.rows*nb {
				t.Fatalf("q[%d] scale[%d], want q[%d] scale[%d]", len(q), len(scale), sh.rows*sh.cols, sh.rows*nb)
			}
			got := make([]float32, len(x))
			DequantizeQ8(got, q, scale, sh.rows, sh.cols)
			for r := range sh.rows {
				for c := range sh.cols {
					i := r*sh.cols + c
					d := scale[r*nb+c/32]
					if q[i] < -127 {
						t.Fatalf("q[%d,%d] = %d < -127", r, c, q[i])
					}
					// ≤ scale/2, plus float32 rounding of q·scale.
					if e := math.Abs(float64(got[i] - x[i])); e > float64(d)/2*(1+1e-6)+1e-12 {
						t.Fatalf("[%d,%d]: x = %g, q·scale = %g, error %g > scale/2 = %g", r, c, x[i], got[i], e, d/2)
					}
				}
			}
			// The largest element of each block is ±127 exactly.
			for r := range sh.rows {
				for b := range nb {
					blk := q[r*sh.cols+b*32 : r*sh.cols+min((b+1)*32, sh.cols)]
					if m := max(slices.Max(blk), -slices.Min(blk)); m != 127 {
						t.Fatalf("row %d block %d: max |q| = %d, want 127", r, b, m)
					}
				}
			}
		})
	}
}

func TestQuantizeQ8Blocks(t *testing.T) {
	// cols = 33: two blocks per row, the second of one element.
	x := make([]float32, 2*33)
	for i := range x {
		x[i] = float32(i%33) - 16 // row values -16 … 16
	}
	x[32] = 254     // row 0, block 1 (one element)
	x[33+32] = -0.5 // row 1, block 1
	for j := range 32 {
		x[33+j] = 0 // row 1, block 0: all zero
	}
	x[5] = 1e6 // row 0, block 0: one huge outlier
	q, scale := QuantizeQ8(x, 2, 33)
	want := []float32{1e6 / 127, 2, 0, 0.5 / 127}
	for i, w := range want {
		if math.Abs(float64(scale[i]-w)) > 1e-6*math.Abs(float64(w)) {
			t.Errorf("scale[%d] = %g, want %g (all: %v)", i, scale[i], w, scale)
		}
	}
	if q[5] != 127 || q[32] != 127 || q[33+32] != -127 {
		t.Errorf("block maxima: q = %d %d %d, want 127 127 -127", q[5], q[32], q[33+32])
	}
	for j := range 32 {
		if q[33+j] != 0 {
			t.Fatalf("all-zero block: q[1,%d] = %d", j, q[33+j])
		}
		// Next to the outlier the other elements of row 0 (|x| ≤ 16) round to 0.
		if j != 5 && q[j] != 0 {
			t.Errorf("outlier block: q[0,%d] = %d, want 0 (x = %g, scale = %g)", j, q[j], x[j], scale[0])
		}
	}
	got := make([]float32, len(x))
	DequantizeQ8(got, q, scale, 2, 33)
	if got[5] != 1e6 || got[32] != 254 {
		t.Errorf("block maxima dequantised to %g %g, want 1e6 254", got[5], got[32])
	}
}

func TestQuantizeQ8Rounding(t *testing.T) {
	// scale = 127/127 = 1: halves round away from zero; nothing reaches -128.
	x := []float32{127, -127, 0.5, -0.5, 1.5, -1.5, 2.4999, -126.5, 126.5, 0}
	q, scale := QuantizeQ8(x, 1, len(x))
	if scale[0] != 1 {
		t.Fatalf("scale = %g, want 1", scale[0])
	}
	want := []int8{127, -127, 1, -1, 2, -2, 2, -127, 127, 0}
	if !slices.Equal(q, want) {
		t.Errorf("q = %v, want %v", q, want)
	}
	// x/scale just above 127 in magnitude, from the rounding of the scale, clamps.
	for _, v := range []float32{-1.0000001, -3.3333333, -0.1, -7e-30, -123456.79} {
		q, _ := QuantizeQ8([]float32{v, v / 3}, 1, 2)
		if q[0] != -127 {
			t.Errorf("x = %g: q = %d, want -127", v, q[0])
		}
	}
}

func TestQ8Panics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"quantise", func() { QuantizeQ8(make([]float32, 5), 2, 3) }, "x[5]"},
		{"dequantise q", func() { DequantizeQ8(make([]float32, 6), make([]int8, 5), make([]float32, 2), 2, 3) }, "q[5]"},
		{"dequantise scale", func() { DequantizeQ8(make([]float32, 66), make([]int8, 66), make([]float32, 2), 2, 33) }, "scale[2]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if msg := fmt.Sprint(recover()); !strings.Contains(msg, tc.want) {
					t.Errorf("panic %q does not say %q", msg, tc.want)
				}
			}()
			tc.f()
		})
	}
}

// BenchmarkQuantize reports input bytes (float32) per second for U of SmolLM2-135M's
// gate projection, [1536,576].
func BenchmarkQuantize(b *testing.B) {
	x := randMatrix(1, 1536, 576, 0.04)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		QuantizeQ8(x, 1536, 576)
	}
}

// BenchmarkDequantize reports output bytes (float32) per second for the same shape.
func BenchmarkDequantize(b *testing.B) {
	x := randMatrix(1, 1536, 576, 0.04)
	q, scale := QuantizeQ8(x, 1536, 576)
	dst := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		DequantizeQ8(dst, q, scale, 1536, 576)
	}
}
