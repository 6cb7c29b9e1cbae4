package model

import "fmt"

// Kernels are the inner loops of the CPU engine: the matmuls and attention's two loops.
// GoKernels is the reference and the fallback; the page's SIMD128 module (package wasm)
// implements them too. Every method fixes the order of its float32 operations — the
// four lanes of DotF32 and DotQ8, no fused multiply-add — so every implementation gives
// the same bits, and the page's logits are the native engine's.
type Kernels interface {
	// Name says which kernels these are (benchmarks and the page's status line).
	Name() string
	// Quantize writes x[q.Rows, q.Cols] into q by QuantizeQ8Row's rule: the activations
	// of the int8 matmuls, and W' when a merged matrix is recomposed.
	Quantize(q *Q8, x []float32)
	// MatMulQ8 writes y[t*w.Rows+o] = DotQ8(x, t, w, o) + bias[o] (0 when bias is nil)
	// for every row t of x and lo ≤ o < hi; x.Cols = w.Cols.
	MatMulQ8(y []float32, x, w *Q8, bias []float32, lo, hi int)
	// MatMulF32 writes y[t*out+o] = DotF32(x[t*in:], w[o*in:], in) + b[o] (0 when b is
	// nil) for t < T and lo ≤ o < hi.
	MatMulF32(y, x, w, b []float32, T, in, out, lo, hi int)
	// Scores writes sc[i] = DotF32(q, k[i*stride:], len(q))·scale for i < n: one query
	// head q[Dh] against n cached keys.
	Scores(sc, q, k []float32, n, stride int, scale float32)
	// SwiGLU writes dst[i] = swiGLU1(gate[i], up[i]) = gate/(1+Exp32(−gate))·up over
	// the whole slices (same length; dst may be gate).
	SwiGLU(dst, gate, up []float32)
	// Softmax replaces x by softmax(x): e_i = Exp32(x_i − max x), added into lane
	// i mod 4 of four float32 sums that end as (l0+l1)+(l2+l3), then x_i = e_i·(1/sum).
	Softmax(x []float32)
	// BlockMax writes dst[b] = max(x[16b : 16b+16]) for every block of 16 values of x
	// (the last one may be shorter): the sampler skips whole blocks with it.
	BlockMax(dst, x []float32)
	// Mix writes out[Dh] = Σ_i p[i]·v[i*stride : i*stride+Dh], accumulated for
	// i = 0, 1, … in order from zero: attention's weighted sum of n cached values.
	Mix(out, p, v []float32, n, stride int)
}

// GoKernels are the kernels in plain Go: the reference every other implementation is
// held to, and the fallback where there is no other.
type GoKernels struct{}

func (GoKernels) Name() string { return "go" }

func (GoKernels) Quantize(q *Q8, x []float32) {
	nb, stride, cols := q.Blocks(), q.Stride(), q.Cols
	for i := range q.Rows {
		QuantizeQ8Row(q.Q[i*stride:(i+1)*stride], q.Scale[i*nb:(i+1)*nb], x[i*cols:(i+1)*cols])
	}
}

func (GoKernels) SwiGLU(dst, gate, up []float32) {
	up, dst = up[:len(gate)], dst[:len(gate)]
	for i, g := range gate {
		dst[i] = swiGLU1(g, up[i])
	}
}

func (GoKernels) Softmax(x []float32) { softmax(x, nil) }

// softmax is Softmax's rule. head, when not nil, takes a first part of x: it replaces
// x[i] by Exp32(x[i] − m) and adds it to acc[i mod 4] for i < n, in order of i, and
// returns n (a multiple of 4); the rest is Go's.
func softmax(x []float32, head func(x []float32, m float32, acc *[4]float32) int) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	var acc [4]float32
	n := 0
	if head != nil {
		n = head(x, m, &acc)
	}
	for i := n; i < len(x); i++ {
		e := Exp32(x[i] - m)
		x[i] = e
		acc[i%4] += e
	}
	inv := 1 / ((acc[0] + acc[1]) + (acc[2] + acc[3]))
	for i := range x {
		x[i] *= inv
	}
}

func (GoKernels) BlockMax(dst, x []float32) {
	for b := range dst {
		blk := x[b*MaxBlock : min((b+1)*MaxBlock, len(x))]
		m := blk[0]
		for _, v := range blk {
			m = max(m, v)
		}
		dst[b] = m
	}
}

// MaxBlock is the number of values of a block of BlockMax.
const MaxBlock = 16

func (GoKernels) MatMulQ8(y []float32, x, w *Q8, bias []float32, lo, hi int) {
	nb, stride := w.Blocks(), w.Stride()
	for o := lo; o < hi; o++ {
		wq, ws := w.Q[o*stride:(o+1)*stride], w.Scale[o*nb:(o+1)*nb]
		var b float32
		if bias != nil {
			b = bias[o]
		}
		for t := range x.Rows {
			y[t*w.Rows+o] = DotQ8(x.Q[t*stride:(t+1)*stride], x.Scale[t*nb:(t+1)*nb], wq, ws) + b
		}
	}
}

func (GoKernels) MatMulF32(y, x, w, b []float32, T, in, out, lo, hi int) {
	matMulF32(DotF32, y, x, w, b, T, in, out, lo, hi)
}

// matMulF32 is MatMulF32 with dot as DotF32 (kernels that only change the dot product).
func matMulF32(dot func(a, b []float32) float32, y, x, w, b []float32, T, in, out, lo, hi int) {
	for o := lo; o < hi; o++ {
		row := w[o*in : o*in+in]
		var bias float32
		if b != nil {
			bias = b[o]
		}
		for t := range T {
			y[t*out+o] = dot(x[t*in:t*in+in], row) + bias
		}
	}
}

func (GoKernels) Scores(sc, q, k []float32, n, stride int, scale float32) {
	for i := range n {
		sc[i] = DotF32(q, k[i*stride:i*stride+len(q)]) * scale
	}
}

func (GoKernels) Mix(out, p, v []float32, n, stride int) {
	clear(out)
	for i := range n {
		axpy(out, p[i], v[i*stride:i*stride+len(out)])
	}
}

// DotQ8 is the dot product of two quantised rows of nb = len(xs) blocks,
// xq, wq [nb·32] and xs, ws [nb]: Σ_b (xs_b·ws_b)·Σ_{k∈b} xq_k·wq_k, the integer sum of
// block b multiplied by its scales and added into lane b mod 4 of four float32
// accumulators, which end as (l0+l1)+(l2+l3).
func DotQ8(xq []int8, xs []float32, wq []int8, ws []float32) float32 {
	nb := len(xs)
	xq, wq, ws = xq[:nb*Q8Block], wq[:nb*Q8Block], ws[:nb]
	var acc [4]float32
	for b := range nb {
		xb, wb := (*[Q8Block]int8)(xq[b*Q8Block:]), (*[Q8Block]int8)(wq[b*Q8Block:])
		var s0, s1, s2, s3 int32
		for k := 0; k < Q8Block; k += 4 {
			s0 += int32(xb[k]) * int32(wb[k])
			s1 += int32(xb[k+1]) * int32(wb[k+1])
			s2 += int32(xb[k+2]) * int32(wb[k+2])
			s3 += int32(xb[k+3]) * int32(wb[k+3])
		}
		s := (s0 + s1) + (s2 + s3)
		d := xs[b] * ws[b]
		// The conversions round each product to float32: no fused multiply-add.
		acc[b%4] += float32(float32(s) * d)
	}
	return (acc[0] + acc[1]) + (acc[2] + acc[3])
}

// DotF32 is the inner product of a and b (same length), with four accumulators: element
// i goes to lane i mod 4 for the whole groups of four, the rest to lane 0, and the
// lanes end as (l0+l1)+(l2+l3). Neighbouring additions do not wait on each other, and a
// SIMD kernel with one 4-lane accumulator gives the same bits.
func DotF32(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float32(a[i] * b[i])
		s1 += float32(a[i+1] * b[i+1])
		s2 += float32(a[i+2] * b[i+2])
		s3 += float32(a[i+3] * b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float32(a[i] * b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// MatMulQ8 writes y[T,Out] = x·Wᵀ + bias for x[T,In] and w[Out,In] quantised, with k's
// kernels, the output rows shared among k's Threads (WithThreads), or new
// goroutines without.
func MatMulQ8(k Kernels, y []float32, x, w *Q8, bias []float32) {
	if x.Cols != w.Cols || len(y) < x.Rows*w.Rows || (bias != nil && len(bias) < w.Rows) {
		panic(fmt.Sprintf("model: MatMulQ8: y[%d] x[%d,%d] w[%d,%d] bias[%d] do not fit",
			len(y), x.Rows, x.Cols, w.Rows, w.Cols, len(bias)))
	}
	threadsOf(k).parallelFor(w.Rows, x.Rows*w.Cols, func(lo, hi int) { k.MatMulQ8(y, x, w, bias, lo, hi) })
}

// Quantize writes x[rows,cols] into q, resized to rows×cols, with k's kernels.
func Quantize(k Kernels, q *Q8, x []float32, rows, cols int) {
	if len(x) < rows*cols {
		panic(fmt.Sprintf("model: Quantize: x[%d] is not [%d,%d]", len(x), rows, cols))
	}
	q.Resize(rows, cols)
	k.Quantize(q, x)
}

// MatMulF32 writes y[T,out] = x[T,in]·w[out,in]ᵀ + b with k's kernels, the output
// features shared among k's Threads (WithThreads), or new goroutines without.
func MatMulF32(k Kernels, y, x, w, b []float32, T, in, out int) {
	if len(y) < T*out || len(x) < T*in || len(w) < out*in || (b != nil && len(b) < out) {
		panic(fmt.Sprintf("model: MatMul: y[%d] x[%d] w[%d] b[%d] do not fit T=%d in=%d out=%d",
			len(y), len(x), len(w), len(b), T, in, out))
	}
	threadsOf(k).parallelFor(out, T*in, func(lo, hi int) { k.MatMulF32(y, x, w, b, T, in, out, lo, hi) })
}
