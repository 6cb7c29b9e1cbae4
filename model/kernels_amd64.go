package model

import "golang.org/x/sys/cpu"

// AVX2Kernels are GoKernels with the int8 and float32 matmuls, Quantize, SwiGLU, Softmax
// and attention's two loops in AVX2 assembly (kernels_amd64.s): the same results bit for bit
// (kerneltest), so the native engine answers as before, faster.
//
// They are assembly, not simd/archsimd: Go's code for archsimd's vectors spilled and
// bounds-checked in the int8 loop (a 576×1536 matvec ran at 11 G weights/s against
// 36–40 here), and assembly needs no GOEXPERIMENT, so every amd64 build of t2 runs them.
//
// The dot-product kernels take four rows at once — four weight rows for one row of x, or
// four keys for one query — so that x is loaded (and for int8, its |x| taken) once for
// the four.
type AVX2Kernels struct{ GoKernels }

func (AVX2Kernels) Name() string { return "avx2" }

// haveAVX2 says this CPU (and OS) runs AVX2Kernels.
var haveAVX2 = cpu.X86.HasAVX2

// BestKernels returns the fastest kernels this CPU runs: AVX2Kernels with AVX2, else
// GoKernels.
func BestKernels() Kernels {
	if haveAVX2 {
		return AVX2Kernels{}
	}
	return GoKernels{}
}

// dotsQ8 writes out[4g+r] = DotQ8 of x — xq[nb·32], xs[nb] — with row r of group g,
// bit for bit, for g < groups (at least 1): group 0's rows are w[r] with scales ws[r]
// (nb·32 values and nb scales each), and each next group's are 4 rows further on in
// their matrix.
//
//go:noescape
func dotsQ8(xq *int8, xs *float32, nb int, w *[4]*int8, ws *[4]*float32, groups int, out *float32)

// dotsF32x4 writes to out[r] DotF32(a[:n], b[r][:n]), bit for bit.
//
//go:noescape
func dotsF32x4(a *float32, b *[4]*float32, n int, out *[4]float32)

// mixF32 writes out[j] = Σ_{i<n} p[i]·v[i·stride+j] for j < cols, a multiple of 32, as
// GoKernels.Mix adds them.
//
//go:noescape
func mixF32(out, p, v *float32, n, stride, cols int)

// quantizeQ8 writes QuantizeQ8Row's q[nb·32] and scale[nb] of x[nb·32], nb ≥ 1 whole
// blocks, bit for bit.
//
//go:noescape
func quantizeQ8(q *int8, scale *float32, x *float32, nb int)

// swiGLU8 writes dst[i] = swiGLU1(gate[i], up[i]) for i < n, a multiple of 8, bit for
// bit.
//
//go:noescape
func swiGLU8(dst, gate, up *float32, n int)

// expSum8 replaces x[i] by Exp32(x[i] − m) for i < n, a multiple of 8, and adds each to
// acc[i mod 4] in order of i, bit for bit.
//
//go:noescape
func expSum8(x *float32, n int, m float32, acc *[4]float32)

// group4 calls f(o, n, at) for each group of up to four consecutive indexes o…o+n−1 of
// [lo, hi), at = quad(o, hi).
func group4(lo, hi int, f func(o, n int, at [4]int)) {
	for o := lo; o < hi; o += 4 {
		f(o, min(4, hi-o), quad(o, hi))
	}
}

// quad returns the four rows a kernel runs from index o on, below hi: o…o+3, or for a
// short last group its rows with the last one, hi−1, repeated (its results dropped).
func quad(o, hi int) [4]int {
	var at [4]int
	for r := range at {
		at[r] = min(o+r, hi-1)
	}
	return at
}

// q8Tile is the number of weight rows MatMulQ8 runs over every row of x before the next
// rows: 64 rows of 576 int8 values (SmolLM2's width) stay in the L1 or L2 cache while
// the rows of x go by, and a token's matvec takes few calls.
const q8Tile = 64

func (AVX2Kernels) MatMulQ8(y []float32, x, w *Q8, bias []float32, lo, hi int) {
	nb, stride := w.Blocks(), w.Stride()
	if nb == 0 || x.Rows == 0 || hi <= lo {
		GoKernels{}.MatMulQ8(y, x, w, bias, lo, hi)
		return
	}
	xq, xs := x.Q[:x.Rows*stride], x.Scale[:x.Rows*nb] // x is [T, w.Cols]
	var rows [4]*int8
	var scales [4]*float32
	// point sets the group's rows to w's rows at[r].
	point := func(at [4]int) {
		for r, i := range at {
			rows[r], scales[r] = &w.Q[i*stride : (i+1)*stride][0], &w.Scale[i*nb : (i+1)*nb][0]
		}
	}
	full := lo + (hi-lo)&^3 // rows lo…full−1 run in groups of four
	for o := lo; o < full; o += q8Tile {
		n := min(q8Tile, full-o)
		point(quad(o, hi))
		_, _ = w.Q[(o+n)*stride-1], w.Scale[(o+n)*nb-1] // the rows dotsQ8 reads
		for t := range x.Rows {
			yt := y[t*w.Rows+o : t*w.Rows+o+n]
			dotsQ8(&xq[t*stride], &xs[t*nb], nb, &rows, &scales, n/4, &yt[0])
		}
	}
	if full < hi { // the last 1–3 rows
		point(quad(full, hi))
		var out [4]float32
		for t := range x.Rows {
			dotsQ8(&xq[t*stride], &xs[t*nb], nb, &rows, &scales, 1, &out[0])
			copy(y[t*w.Rows+full:t*w.Rows+hi], out[:])
		}
	}
	if bias != nil {
		for t := range x.Rows {
			for o := lo; o < hi; o++ {
				y[t*w.Rows+o] += bias[o]
			}
		}
	}
}

func (AVX2Kernels) Quantize(q *Q8, x []float32) {
	nb, stride, cols := q.Blocks(), q.Stride(), q.Cols
	whole := cols / Q8Block // the blocks quantizeQ8 takes; a short last one is Go's
	for i := range q.Rows {
		row, sc, xi := q.Q[i*stride:(i+1)*stride], q.Scale[i*nb:(i+1)*nb], x[i*cols:(i+1)*cols]
		if whole > 0 {
			quantizeQ8(&row[0], &sc[0], &xi[0], whole)
		}
		if whole < nb {
			QuantizeQ8Row(row[whole*Q8Block:], sc[whole:], xi[whole*Q8Block:])
		}
	}
}

func (AVX2Kernels) SwiGLU(dst, gate, up []float32) {
	n := len(gate) &^ 7
	up, dst = up[:len(gate)], dst[:len(gate)]
	if n > 0 {
		swiGLU8(&dst[0], &gate[0], &up[0], n)
	}
	for i := n; i < len(gate); i++ {
		dst[i] = swiGLU1(gate[i], up[i])
	}
}

func (AVX2Kernels) Softmax(x []float32) {
	softmax(x, func(x []float32, m float32, acc *[4]float32) int {
		n := len(x) &^ 7
		if n > 0 {
			expSum8(&x[0], n, m, acc)
		}
		return n
	})
}

func (AVX2Kernels) MatMulF32(y, x, w, b []float32, T, in, out, lo, hi int) {
	if in == 0 || T == 0 {
		GoKernels{}.MatMulF32(y, x, w, b, T, in, out, lo, hi)
		return
	}
	x = x[:T*in]
	var rows [4]*float32
	var dots [4]float32
	group4(lo, hi, func(o, n int, at [4]int) {
		for r, i := range at {
			rows[r] = &w[i*in : (i+1)*in][0]
		}
		for t := range T {
			dotsF32x4(&x[t*in], &rows, in, &dots)
			for r := range n {
				var bias float32
				if b != nil {
					bias = b[o+r]
				}
				y[t*out+o+r] = dots[r] + bias
			}
		}
	})
}

func (AVX2Kernels) Scores(sc, q, k []float32, n, stride int, scale float32) {
	if len(q) == 0 || n == 0 {
		GoKernels{}.Scores(sc, q, k, n, stride, scale)
		return
	}
	var keys [4]*float32
	var dots [4]float32
	group4(0, n, func(o, m int, at [4]int) {
		for r, i := range at {
			keys[r] = &k[i*stride : i*stride+len(q)][0]
		}
		dotsF32x4(&q[0], &keys, len(q), &dots)
		for r := range m {
			sc[o+r] = dots[r] * scale
		}
	})
}

func (AVX2Kernels) Mix(out, p, v []float32, n, stride int) {
	cols := len(out) &^ 31 // heads of 32, 64, 128: all of it
	if cols == 0 || n == 0 {
		GoKernels{}.Mix(out, p, v, n, stride)
		return
	}
	_, _ = p[n-1], v[(n-1)*stride+len(out)-1] // the rows mixF32 reads
	mixF32(&out[0], &p[0], &v[0], n, stride, cols)
	if cols < len(out) { // the last len(out) mod 32 columns, each summed in the same order
		rest := out[cols:]
		clear(rest)
		for i := range n {
			axpy(rest, p[i], v[i*stride+cols:i*stride+len(out)])
		}
	}
}
