package train

import (
	"fmt"
	"unsafe"

	"github.com/t2web/t2web/model"
)

// matmulForward writes out[N,OC] = inp[N,C]·weight[OC,C]ᵀ + bias[OC], a linear layer
// over every row; bias nil: none. It runs on all of k's workers.
func (k *kernels[E]) matmulForward(out, inp, weight, bias []E, N, C, OC int) {
	if len(out) < N*OC || len(inp) < N*C || len(weight) < OC*C || (bias != nil && len(bias) < OC) {
		panic(fmt.Sprintf("train: matmulForward: out[%d] inp[%d] weight[%d] bias[%d] do not fit N=%d C=%d OC=%d",
			len(out), len(inp), len(weight), len(bias), N, C, OC))
	}
	out = out[:N*OC]
	if k.ext != nil {
		k.ext.k.MatMulF32(f32(out), f32(inp), f32(weight[:OC*C]), f32(bias), N, C, OC, 0, OC)
		return
	}
	add := bias != nil // start from the bias, or write
	if add {
		for n := range N {
			copy(out[n*OC:n*OC+OC], bias[:OC])
		}
	}
	if k.simd {
		// The vector kernel wants the weight as [C,OC]: one transpose, C·OC moves for
		// N·C·OC multiply-adds.
		wT := k.scratch[:C*OC]
		transpose(wT, weight, OC, C)
		k.gemm(out, inp, wT, N, OC, C, gemmNN, add)
		return
	}
	k.gemm(out, inp, weight, N, OC, C, gemmNT, add)
}

// matmulBackward writes dinp[N,C] = dout·weight, the gradient of out = inp·weightᵀ + bias
// w.r.t. its input given dout[N,OC], and adds the weights' to dweight[OC,C] (doutᵀ·inp)
// and dbias[OC] (Σ rows of dout); a nil destination is skipped. (dinp is written, not
// added to: every input in the model feeds one matmul — q, k, v and gate, up are fused.)
func (k *kernels[E]) matmulBackward(dinp, dweight, dbias, dout, inp, weight []E, N, C, OC int) {
	if len(dout) < N*OC || len(inp) < N*C || len(weight) < OC*C ||
		(dinp != nil && len(dinp) < N*C) || (dweight != nil && len(dweight) < OC*C) || (dbias != nil && len(dbias) < OC) {
		panic(fmt.Sprintf("train: matmulBackward: dinp[%d] dweight[%d] dbias[%d] dout[%d] inp[%d] weight[%d] do not fit N=%d C=%d OC=%d",
			len(dinp), len(dweight), len(dbias), len(dout), len(inp), len(weight), N, C, OC))
	}
	if dinp != nil {
		k.gemm(dinp, dout, weight, N, C, OC, gemmNN, false)
	}
	if dweight != nil {
		k.gemm(dweight, dout, inp, OC, C, N, gemmTN, true)
	}
	if dbias != nil {
		dbias = dbias[:OC]
		for n := range N {
			for o, d := range dout[n*OC : n*OC+OC] {
				dbias[o] += d
			}
		}
	}
}

// transpose writes dst[cols,rows] = srcᵀ for src[rows,cols], in tiles that keep both
// sides in cache.
func transpose[E Float](dst, src []E, rows, cols int) {
	const tile = 32
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(r0+tile, rows)
		for c0 := 0; c0 < cols; c0 += tile {
			c1 := min(c0+tile, cols)
			for r := r0; r < r1; r++ {
				row := src[r*cols : r*cols+cols]
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = row[c]
				}
			}
		}
	}
}

// gemmForm says which operands of a gemm are transposed.
type gemmForm int

const (
	gemmNN gemmForm = iota // c[M,N] += a[M,K]·b[K,N]
	gemmTN                 // c[M,N] += a[K,M]ᵀ·b[K,N]
	gemmNT                 // c[M,N] += a[M,K]·b[N,K]ᵀ (scalar kernel only)
)

// gemm adds a·b to c[M,N] (or, with add false, writes it) on all workers, with a and b in
// the given form. Rows of c are split between workers in tiles of 4, each computed the
// same way whoever takes it.
func (k *kernels[E]) gemm(c, a, b []E, M, N, K int, form gemmForm, add bool) {
	if k.ext != nil {
		k.ext.gemm(f32(c), f32(a), f32(b), M, N, K, form, add)
		return
	}
	if form == gemmNT && k.simd {
		panic("train: gemm: the vector kernel has no NT form")
	}
	g := &k.gemmTask
	g.c, g.a, g.b, g.M, g.N, g.K, g.form, g.simd, g.add = c, a, b, M, N, K, form, k.simd, add
	k.pool.For((M+3)/4, 4*N*K, g)
	g.c, g.a, g.b = nil, nil, nil
}

// gemmTask is one gemm call, run over tiles of 4 rows of c.
type gemmTask[E Float] struct {
	c, a, b []E
	M, N, K int
	form    gemmForm
	simd    bool // the vector kernel (float32 only)
	add     bool // add to c, or write it
}

func (g *gemmTask[E]) run(lo, hi int) {
	i0, i1 := 4*lo, min(4*hi, g.M)
	gemmRows(g.c, g.a, g.b, i0, i1, g.M, g.N, g.K, g.form, g.simd, g.add)
}

// gemmRows adds rows [i0, i1) of a·b to c[M,N] (or, with add false, writes them) on the
// calling goroutine.
func gemmRows[E Float](c, a, b []E, i0, i1, M, N, K int, form gemmForm, simd, add bool) {
	// a's element (i, p) is a[i*ai + p*ap]
	ai, ap := K, 1
	if form == gemmTN {
		ai, ap = 1, M
	}
	if simd && form != gemmNT {
		gemmRowsVector(c, a, b, i0, i1, N, K, ai, ap, add)
		return
	}
	if !add {
		clear(c[i0*N : i1*N])
	}
	if form == gemmNT {
		gemmRowsNT(c, a, b, i0, i1, N, K)
		return
	}
	gemmRowsNN(c, a, b, i0, i1, N, K, ai, ap)
}

// gemmRowsNT adds a·bᵀ to rows [i0, i1) of c[M,N], with a[M,K] and b[N,K]: dot
// products of rows, in register tiles of 2×4 outputs (larger tiles spill: amd64 has 16
// float registers).
func gemmRowsNT[E Float](c, a, b []E, i0, i1, N, K int) {
	i := i0
	for ; i+2 <= i1; i += 2 {
		a0, a1 := a[i*K:i*K+K], a[(i+1)*K:(i+1)*K+K]
		c0, c1 := c[i*N:i*N+N], c[(i+1)*N:(i+1)*N+N]
		j := 0
		for ; j+4 <= N; j += 4 {
			b0, b1, b2, b3 := b[j*K:j*K+K], b[(j+1)*K:(j+1)*K+K], b[(j+2)*K:(j+2)*K+K], b[(j+3)*K:(j+3)*K+K]
			var s00, s01, s02, s03, s10, s11, s12, s13 E
			for p := range K {
				x0, x1 := a0[p], a1[p]
				y0, y1, y2, y3 := b0[p], b1[p], b2[p], b3[p]
				s00 += x0 * y0
				s01 += x0 * y1
				s02 += x0 * y2
				s03 += x0 * y3
				s10 += x1 * y0
				s11 += x1 * y1
				s12 += x1 * y2
				s13 += x1 * y3
			}
			c0[j] += s00
			c0[j+1] += s01
			c0[j+2] += s02
			c0[j+3] += s03
			c1[j] += s10
			c1[j+1] += s11
			c1[j+2] += s12
			c1[j+3] += s13
		}
		for ; j < N; j++ {
			bj := b[j*K : j*K+K]
			c0[j] += dot(a0, bj)
			c1[j] += dot(a1, bj)
		}
	}
	for ; i < i1; i++ {
		ai, ci := a[i*K:i*K+K], c[i*N:i*N+N]
		for j := range N {
			ci[j] += dot(ai, b[j*K:j*K+K])
		}
	}
}

// gemmRowsNN adds a·b to rows [i0, i1) of c[M,N], with b[K,N] and a's element (i, p)
// at a[i*ai + p*ap] (a[M,K]: ai = K, ap = 1; a[K,M] used as aᵀ: ai = 1, ap = M), in
// register tiles of 2×4 outputs.
func gemmRowsNN[E Float](c, a, b []E, i0, i1, N, K, ai, ap int) {
	i := i0
	for ; i+2 <= i1; i += 2 {
		c0, c1 := c[i*N:i*N+N], c[(i+1)*N:(i+1)*N+N]
		j := 0
		for ; j+4 <= N; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 E
			bj := b[j:]
			o := i * ai
			for p := range K {
				x0, x1 := a[o], a[o+ai]
				o += ap
				y := bj[p*N : p*N+4]
				y0, y1, y2, y3 := y[0], y[1], y[2], y[3]
				s00 += x0 * y0
				s01 += x0 * y1
				s02 += x0 * y2
				s03 += x0 * y3
				s10 += x1 * y0
				s11 += x1 * y1
				s12 += x1 * y2
				s13 += x1 * y3
			}
			c0[j] += s00
			c0[j+1] += s01
			c0[j+2] += s02
			c0[j+3] += s03
			c1[j] += s10
			c1[j+1] += s11
			c1[j+2] += s12
			c1[j+3] += s13
		}
		for ; j < N; j++ {
			var s0, s1 E
			o := i * ai
			for p := range K {
				y := b[p*N+j]
				s0 += a[o] * y
				s1 += a[o+ai] * y
				o += ap
			}
			c0[j] += s0
			c1[j] += s1
		}
	}
	for ; i < i1; i++ {
		ci := c[i*N : i*N+N]
		for j := range N {
			var s E
			o := i * ai
			for p := range K {
				s += a[o] * b[p*N+j]
				o += ap
			}
			ci[j] += s
		}
	}
}

// dot is the inner product of a and b (same length), with four accumulators as
// model's dot.
func dot[E Float](a, b []E) E {
	b = b[:len(a)]
	var s0, s1, s2, s3 E
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds a·x to y (same length).
func axpy[E Float](y []E, a E, x []E) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// extMatMul runs gemms as one model.Kernels' MatMulF32 (c = a·bᵀ, row by row): the
// other forms transpose their operands into a and b first, O(M·K + N·K) moves for
// M·N·K multiply-adds, and an add goes through c.
type extMatMul struct {
	k       model.Kernels
	a, b, c []float32 // scratch, grown by the first step's gemms
}

// scratch returns buf[:n], growing it first if it is shorter.
func scratch(buf *[]float32, n int) []float32 {
	if len(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

func (x *extMatMul) gemm(c, a, b []float32, M, N, K int, form gemmForm, add bool) {
	switch form {
	case gemmNN: // b[K,N] → bᵀ[N,K]
		bT := scratch(&x.b, N*K)
		transpose(bT, b[:K*N], K, N)
		b = bT
	case gemmTN: // a[K,M] → aᵀ[M,K], b[K,N] → bᵀ[N,K]
		aT, bT := scratch(&x.a, M*K), scratch(&x.b, N*K)
		transpose(aT, a[:K*M], K, M)
		transpose(bT, b[:K*N], K, N)
		a, b = aT, bT
	}
	if !add {
		x.k.MatMulF32(c[:M*N], a[:M*K], b[:N*K], nil, M, K, N, 0, N)
		return
	}
	out := scratch(&x.c, M*N)
	x.k.MatMulF32(out, a[:M*K], b[:N*K], nil, M, K, N, 0, N)
	for i, v := range out {
		c[i] += v
	}
}

// f32 views a float32 model's slice as []float32 (E is float32 wherever it is called).
func f32[E Float](x []E) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}
