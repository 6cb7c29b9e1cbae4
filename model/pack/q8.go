package pack

import (
	"fmt"
	"math"
)

// Q8Block is the number of consecutive elements of a row that share one scale in the
// Q8 format (as llama.cpp's Q8_0, but with float32 scales).
const Q8Block = 32

// Q8Blocks returns the number of scales per row of a Q8 matrix with cols columns:
// ceil(cols/Q8Block).
func Q8Blocks(cols int) int { return (cols + Q8Block - 1) / Q8Block }

// QuantizeQ8 quantises x[rows,cols] to q[rows,cols] int8 and scale[rows,ceil(cols/32)]
// float32, one scale per block of Q8Block consecutive elements of a row (the last block
// of a row may be shorter): scale = absmax(block)/127 (0 for an all-zero block),
// q = round-half-away-from-zero(x/scale), clamped to [-127, 127], so x ≈ q·scale with
// |x − q·scale| ≤ scale/2. U[M,R] and V[N,R] are quantised with blocks along R.
//
// A length of x other than rows·cols is a caller bug: QuantizeQ8 panics with both.
func QuantizeQ8(x []float32, rows, cols int) (q []int8, scale []float32) {
	if rows < 0 || cols < 0 || len(x) != rows*cols {
		panic(fmt.Sprintf("pack: QuantizeQ8: x[%d] is not [%d,%d]", len(x), rows, cols))
	}
	nb := Q8Blocks(cols)
	q = make([]int8, rows*cols)
	scale = make([]float32, rows*nb)
	for i := range rows {
		for b := range nb {
			lo, hi := i*cols+b*Q8Block, i*cols+min((b+1)*Q8Block, cols)
			var amax float64
			for _, v := range x[lo:hi] {
				amax = max(amax, math.Abs(float64(v)))
			}
			d := float32(amax / 127)
			scale[i*nb+b] = d
			if d == 0 { // all zero, or so small that the scale underflows: q stays 0
				continue
			}
			inv := 1 / float64(d)
			for j, v := range x[lo:hi] {
				t := math.Round(float64(v) * inv)
				q[lo+j] = int8(max(-127, min(127, t)))
			}
		}
	}
	return q, scale
}

// DequantizeQ8 writes dst[rows,cols] = q[rows,cols]·scale[rows,ceil(cols/32)], the
// inverse of QuantizeQ8 up to its rounding.
//
// Lengths that do not fit the shape are caller bugs: DequantizeQ8 panics with them.
func DequantizeQ8(dst []float32, q []int8, scale []float32, rows, cols int) {
	nb := Q8Blocks(cols)
	if rows < 0 || cols < 0 || len(dst) != rows*cols || len(q) != rows*cols || len(scale) != rows*nb {
		panic(fmt.Sprintf("pack: DequantizeQ8: dst[%d] q[%d] scale[%d] do not fit [%d,%d] with %d blocks per row",
			len(dst), len(q), len(scale), rows, cols, nb))
	}
	for i := range rows {
		for b := range nb {
			lo, hi := i*cols+b*Q8Block, i*cols+min((b+1)*Q8Block, cols)
			d := scale[i*nb+b]
			for j, v := range q[lo:hi] {
				dst[lo+j] = float32(v) * d
			}
		}
	}
}

// JoinColumns returns x[rows, a+b] whose first a columns are hi[rows, a] and the rest
// lo[rows, b]: the f32 and Q8 columns of a factor of a pack with an exact rank.
func JoinColumns(hi, lo []float32, a, b int) ([]float32, error) {
	if a <= 0 || b < 0 || len(hi)%a != 0 || len(hi)/a*b != len(lo) {
		return nil, fmt.Errorf("%d f32 values in columns of %d and %d more in columns of %d do not make the same rows", len(hi), a, len(lo), b)
	}
	rows := len(hi) / a
	x := make([]float32, 0, rows*(a+b))
	for i := range rows {
		x = append(x, hi[i*a:(i+1)*a]...)
		x = append(x, lo[i*b:(i+1)*b]...)
	}
	return x, nil
}
