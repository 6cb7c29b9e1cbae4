package model

import (
	"fmt"
	"math"
)

// Q8Block is the number of consecutive values of a row that share one scale in the Q8
// format, as in llama.cpp's Q8_0 (whose scales are f16; ours are f32).
const Q8Block = 32

// Q8 is a matrix x[Rows,Cols] in int8 blocks of Q8Block along a row, each block with a
// float32 scale: x[i,j] ≈ Q[i*Stride()+j]·Scale[i*Blocks()+j/32]. A row is stored padded
// with zeros to Blocks()·32 values, so kernels never see a short block.
//
// The CPU engine's int8 path holds weights W[out,in] this way (blocks along in) and
// quantises each activation row x[in] the same way before a matmul, as llama.cpp's Q8_0
// path does: a dot product is then Σ_b xs_b·ws_b·Σ_{k∈b} xq_k·wq_k, integers inside a
// block.
type Q8 struct {
	Q          []int8    // [Rows, Blocks·32]
	Scale      []float32 // [Rows, Blocks]
	Rows, Cols int
}

// Q8Blocks returns the number of blocks, and scales, of a row of cols values.
func Q8Blocks(cols int) int { return (cols + Q8Block - 1) / Q8Block }

// NewQ8 allocates a zero Q8 matrix of rows×cols.
func NewQ8(rows, cols int) *Q8 {
	nb := Q8Blocks(cols)
	return &Q8{Q: make([]int8, rows*nb*Q8Block), Scale: make([]float32, rows*nb), Rows: rows, Cols: cols}
}

// Blocks is the number of blocks of a row.
func (q *Q8) Blocks() int { return Q8Blocks(q.Cols) }

// Stride is the number of int8 values a row takes in Q: Blocks()·32.
func (q *Q8) Stride() int { return q.Blocks() * Q8Block }

// Resize makes q hold rows×cols, keeping its storage when it is large enough; the
// contents are undefined until written.
func (q *Q8) Resize(rows, cols int) {
	nb := Q8Blocks(cols)
	if cap(q.Q) < rows*nb*Q8Block {
		q.Q = make([]int8, rows*nb*Q8Block)
		q.Scale = make([]float32, rows*nb)
	}
	q.Q, q.Scale = q.Q[:rows*nb*Q8Block], q.Scale[:rows*nb]
	q.Rows, q.Cols = rows, cols
}

// QuantizeRows writes x[rows,cols] into q, resized to rows×cols, with Go's kernels
// (QuantizeQ8Row's rule).
func (q *Q8) QuantizeRows(x []float32, rows, cols int) {
	if len(x) < rows*cols {
		panic(fmt.Sprintf("model: Q8.QuantizeRows: x[%d] is not [%d,%d]", len(x), rows, cols))
	}
	q.Resize(rows, cols)
	GoKernels{}.Quantize(q, x)
}

// QuantizeQ8Row quantises one row x[cols] to dst[Blocks·32] (zero past cols) and
// scale[Blocks], llama.cpp's Q8_0 rule in float32: per block, d = absmax/127, id = 1/d,
// q = x·id rounded to the nearest integer, ties to even (an all-zero block, or one so
// small that 1/d overflows, gets q = 0 and its d). Every operation is one float32
// rounding, so the SIMD kernels quantise to the same bits.
func QuantizeQ8Row(dst []int8, scale []float32, x []float32) {
	nb := Q8Blocks(len(x))
	if len(dst) < nb*Q8Block || len(scale) < nb {
		panic(fmt.Sprintf("model: QuantizeQ8Row: dst[%d] scale[%d] do not hold %d values", len(dst), len(scale), len(x)))
	}
	for b := range nb {
		lo, hi := b*Q8Block, min((b+1)*Q8Block, len(x))
		var amax float32
		for _, v := range x[lo:hi] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		scale[b] = d
		out := dst[lo : lo+Q8Block]
		id := 1 / d
		if d == 0 || math.IsInf(float64(id), 0) {
			clear(out)
			continue
		}
		for j, v := range x[lo:hi] {
			p := v * id
			out[j] = int8(max(-127, min(127, math.RoundToEven(float64(p)))))
		}
		clear(out[hi-lo:])
	}
}

// Dequantize writes row i of q to dst[Cols].
func (q *Q8) Dequantize(dst []float32, i int) {
	nb, stride := q.Blocks(), q.Stride()
	row, sc := q.Q[i*stride:i*stride+q.Cols], q.Scale[i*nb:(i+1)*nb]
	for j, v := range row {
		dst[j] = float32(v) * sc[j/Q8Block]
	}
}

// Q8Dense is a Linear held as a Q8 matrix W[Out,In] with an optional bias: the CPU
// engine's int8 path quantises x per block and runs its Kernels' MatMulQ8.
type Q8Dense struct {
	W *Q8       // [Out, In]
	B []float32 // [Out], nil without a bias
	// x is scratch for Apply's quantised input; the engine passes its own to ApplyQ8.
	x Q8
}

// Dims returns (Out, In).
func (d *Q8Dense) Dims() (out, in int) { return d.W.Rows, d.W.Cols }

// Apply writes y[T,Out] = x[T,In]·Wᵀ + B with x quantised per block and Go's kernels.
func (d *Q8Dense) Apply(y, x []float32, T int) {
	d.x.QuantizeRows(x, T, d.W.Cols)
	d.ApplyQ8(GoKernels{}, y, x, &d.x)
}

// ApplyQ8 writes y[T,Out] = xq·Wᵀ + B for xq, x[T,In] quantised, with k's kernels.
func (d *Q8Dense) ApplyQ8(k Kernels, y, _ []float32, xq *Q8) {
	MatMulQ8(k, y, xq, d.W, d.B)
}

// Q8Population is an Adaptable matrix that runs population batches on the int8 kernels
// too: ApplyPopulationQ8 writes what ApplyPopulation writes, for x[T,In] given also
// quantised as xq, row t under candidate cand[t].
type Q8Population interface {
	ApplyPopulationQ8(k Kernels, y, x []float32, xq *Q8, cand []int)
}

// Q8Linear is a Linear the CPU engine runs on quantised input: x[T,In] quantised per
// block once (QuantizeRows) and shared by every matrix that reads it.
type Q8Linear interface {
	Linear
	// ApplyQ8 writes y[T,Out] for x[T,In], given also quantised as xq, with k's
	// kernels (a matrix with f32 parts, such as an exact rank, reads x).
	ApplyQ8(k Kernels, y, x []float32, xq *Q8)
}
