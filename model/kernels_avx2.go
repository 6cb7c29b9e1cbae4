//go:build goexperiment.simd && amd64

package model

import "simd/archsimd"

// AVX2Kernels are GoKernels with the int8 and float32 matmuls in AVX2 (Go's
// simd/archsimd, built with GOEXPERIMENT=simd on amd64): the same results bit for bit
// (kerneltest), so the native engine answers as before, faster.
//
// An int8 block's dot product is llama.cpp's Q8_0 way on AVX2: |x| as unsigned bytes
// times w with x's sign moved onto it (VPSIGNB), pairs summed to int16 (VPMADDUBSW, at
// most 2·127·127, no saturation: Q8 values are in [−127, 127]), then to int32
// (VPMADDWD by ones). Four blocks' integer sums land in four lanes of one vector, which
// DotQ8's rule — block b into float32 lane b mod 4, its sum times xs·ws rounded before
// it is added — then runs on as a vector.
type AVX2Kernels struct{ GoKernels }

func (AVX2Kernels) Name() string { return "avx2" }

// haveAVX2 says this CPU runs AVX2Kernels.
var haveAVX2 = archsimd.X86.AVX2()

// BestKernels returns the fastest kernels this build and CPU run: AVX2Kernels on a CPU
// with AVX2, else GoKernels.
func BestKernels() Kernels {
	if haveAVX2 {
		return AVX2Kernels{}
	}
	return GoKernels{}
}

func (AVX2Kernels) MatMulQ8(y []float32, x, w *Q8, bias []float32, lo, hi int) {
	nb, stride := w.Blocks(), w.Stride()
	// Output rows two at a time: each block of x is loaded once for both, and the two
	// rows' weights stream together.
	for o := lo; o < hi; o += 2 {
		o1 := min(o+1, hi-1) // an odd last row runs twice
		wq0, ws0 := w.Q[o*stride:(o+1)*stride], w.Scale[o*nb:(o+1)*nb]
		wq1, ws1 := w.Q[o1*stride:(o1+1)*stride], w.Scale[o1*nb:(o1+1)*nb]
		var b0, b1 float32
		if bias != nil {
			b0, b1 = bias[o], bias[o1]
		}
		for t := range x.Rows {
			v0, v1 := dotsQ8AVX2(x.Q[t*stride:(t+1)*stride], x.Scale[t*nb:(t+1)*nb], wq0, ws0, wq1, ws1)
			y[t*w.Rows+o] = v0 + b0
			y[t*w.Rows+o1] = v1 + b1
		}
	}
}

// blockSums returns, for the 32-value blocks at x, w0 and w1, eight int32 partial sums
// of Σ x_k·w0_k and eight of Σ x_k·w1_k.
func blockSums(x, w0, w1 *[Q8Block]int8, ones archsimd.Int16x16) (archsimd.Int32x8, archsimd.Int32x8) {
	xv := archsimd.LoadInt8x32(x)
	ax := xv.Abs().AsUint8x32()
	p0 := ax.DotProductPairsSaturated(archsimd.LoadInt8x32(w0).CopySign(xv)).DotProductPairs(ones)
	p1 := ax.DotProductPairsSaturated(archsimd.LoadInt8x32(w1).CopySign(xv)).DotProductPairs(ones)
	return p0, p1
}

// halvesSum adds h's two 128-bit halves, [s0 s1 s2 s3 s0 s1 s2 s3], exactly in int32,
// and converts them to float32, exactly too (|s| < 2^24).
func halvesSum(h archsimd.Int32x8) archsimd.Float32x8 {
	return h.Add(h.Select128FromPair(1, 0, h)).ConvertToFloat32()
}

// dotsQ8AVX2 is DotQ8 of x with two weight rows on AVX2, bit for bit. It stays in 256-bit registers: four blocks' sums go to lanes
// 0–3 (and again 4–7) of one vector, whose float32 lanes 0–3 are DotQ8's accumulators;
// lanes 4–7 carry the next blocks' scales and are dropped. The last 1–3 blocks run as a
// group of four whose missing blocks add +0 (a scale is never negative, so no lane is
// −0 and +0 changes none). It takes and returns no vector and clears the registers'
// upper halves before its scalar code: Go's scalar float code is SSE, which after 256-bit
// AVX waits on them (5–10× slower here), as did extracting 128-bit halves in the loop.
func dotsQ8AVX2(xq []int8, xs []float32, wq0 []int8, ws0 []float32, wq1 []int8, ws1 []float32) (float32, float32) {
	nb := len(xs)
	ones := archsimd.BroadcastInt16x16(1)
	xq, wq0, ws0, wq1, ws1 = xq[:nb*Q8Block], wq0[:nb*Q8Block], ws0[:nb], wq1[:nb*Q8Block], ws1[:nb]
	block := func(b int) (archsimd.Int32x8, archsimd.Int32x8) {
		if b >= nb {
			return archsimd.Int32x8{}, archsimd.Int32x8{}
		}
		o := b * Q8Block
		return blockSums((*[Q8Block]int8)(xq[o:]), (*[Q8Block]int8)(wq0[o:]), (*[Q8Block]int8)(wq1[o:]), ones)
	}
	var acc0, acc1 archsimd.Float32x8
	for b := 0; b < nb; b += 4 {
		// h0, h1: per 128-bit half, [Σp0, Σp1, Σp2, Σp3] of that half's lanes for the
		// four blocks' partial sums p of each row, reduced a pair of blocks at a time so
		// that few vectors are live.
		var h0, h1 archsimd.Int32x8
		if b+4 <= nb {
			o := b * Q8Block
			x := (*[4 * Q8Block]int8)(xq[o:])
			w0, w1 := (*[4 * Q8Block]int8)(wq0[o:]), (*[4 * Q8Block]int8)(wq1[o:])
			a0, a1 := blockSums((*[Q8Block]int8)(x[:]), (*[Q8Block]int8)(w0[:]), (*[Q8Block]int8)(w1[:]), ones)
			c0, c1 := blockSums((*[Q8Block]int8)(x[Q8Block:]), (*[Q8Block]int8)(w0[Q8Block:]), (*[Q8Block]int8)(w1[Q8Block:]), ones)
			h0, h1 = a0.AddPairsGrouped(c0), a1.AddPairsGrouped(c1)
			a0, a1 = blockSums((*[Q8Block]int8)(x[2*Q8Block:]), (*[Q8Block]int8)(w0[2*Q8Block:]), (*[Q8Block]int8)(w1[2*Q8Block:]), ones)
			c0, c1 = blockSums((*[Q8Block]int8)(x[3*Q8Block:]), (*[Q8Block]int8)(w0[3*Q8Block:]), (*[Q8Block]int8)(w1[3*Q8Block:]), ones)
			h0, h1 = h0.AddPairsGrouped(a0.AddPairsGrouped(c0)), h1.AddPairsGrouped(a1.AddPairsGrouped(c1))
		} else {
			a0, a1 := block(b)
			c0, c1 := block(b + 1)
			h0, h1 = a0.AddPairsGrouped(c0), a1.AddPairsGrouped(c1)
			a0, a1 = block(b + 2)
			c0, c1 = block(b + 3)
			h0, h1 = h0.AddPairsGrouped(a0.AddPairsGrouped(c0)), h1.AddPairsGrouped(a1.AddPairsGrouped(c1))
		}
		var d0, d1 archsimd.Float32x8
		if b+8 <= nb {
			x := archsimd.LoadFloat32x8Slice(xs[b:])
			d0, d1 = x.Mul(archsimd.LoadFloat32x8Slice(ws0[b:])), x.Mul(archsimd.LoadFloat32x8Slice(ws1[b:]))
		} else {
			x := archsimd.LoadFloat32x8SlicePart(xs[b:])
			d0, d1 = x.Mul(archsimd.LoadFloat32x8SlicePart(ws0[b:])), x.Mul(archsimd.LoadFloat32x8SlicePart(ws1[b:]))
		}
		acc0 = acc0.Add(halvesSum(h0).Mul(d0))
		acc1 = acc1.Add(halvesSum(h1).Mul(d1))
	}
	var l0, l1 [8]float32
	acc0.StoreSlice(l0[:])
	acc1.StoreSlice(l1[:])
	archsimd.ClearAVXUpperBits()
	return (l0[0] + l0[1]) + (l0[2] + l0[3]), (l1[0] + l1[1]) + (l1[2] + l1[3])
}

func (AVX2Kernels) MatMulF32(y, x, w, b []float32, T, in, out, lo, hi int) {
	matMulF32(dotF32AVX2, y, x, w, b, T, in, out, lo, hi)
}

// dotF32AVX2 is DotF32 bit for bit: element i of the whole groups of four into lane
// i mod 4 of one Float32x4 (a product rounded before it is added, as DotF32's), the
// rest into lane 0, and (l0+l1)+(l2+l3).
func dotF32AVX2(a, b []float32) float32 {
	b = b[:len(a)]
	var acc archsimd.Float32x4
	i := 0
	for ; i+4 <= len(a); i += 4 {
		acc = acc.Add(archsimd.LoadFloat32x4Slice(a[i:]).Mul(archsimd.LoadFloat32x4Slice(b[i:])))
	}
	var l [4]float32
	acc.StoreSlice(l[:])
	for ; i < len(a); i++ {
		l[0] += float32(a[i] * b[i])
	}
	return (l[0] + l[1]) + (l[2] + l[3])
}
