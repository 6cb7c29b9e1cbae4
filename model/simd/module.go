// Package simd is the page's CPU kernels in WebAssembly SIMD128: Module writes the kernel
// module — Go code generating the wasm binary, so `make site` needs nothing but Go — and,
// under GOOS=js, Kernels calls it through //go:wasmimport. The module imports Go's own
// memory (env.mem) and reads weights and activations where Go keeps them: Go's heap does
// not move, and a pointer passed to an imported function stays valid for the call.
//
// Every kernel keeps model.GoKernels' order of float32 operations (see model.Kernels),
// so the page's logits are the native engine's bit for bit; kerneltest holds the module
// to GoKernels in wazero natively and the page tests in Chromium.
//
// The int8 dot product of a 32-block is exact in integers either way: SIMD128 extends
// both to i16 and sums pairs with i32x4.dot_i16x8_s; relaxed SIMD's
// i32x4.relaxed_dot_i8x16_i7x16_add_s needs one operand in [0, 127], so it multiplies
// |x| by w with x's sign moved onto w (x and w are in [-127, 127]).
package simd

import "math"

// Kernel levels: what the browser validates, best last.
const (
	LevelNone    = 0 // no SIMD128: Go's kernels
	LevelSIMD    = 1 // SIMD128
	LevelRelaxed = 2 // SIMD128 and relaxed SIMD
)

// Files of the kernel modules in the site, by level.
var Files = map[int]string{LevelSIMD: "kernels-simd128.wasm", LevelRelaxed: "kernels-relaxed.wasm"}

// Module returns the kernel module's binary: with relaxed set, the int8 dot products use
// relaxed SIMD (a browser without it refuses the module: WebAssembly.validate says so).
//
// Exports (pointers are byte offsets into Go's memory; sizes as model.Kernels names them):
//
//	matmul_q8(y, xq, xs, wq, ws, bias, T, nb, out, lo, hi)   MatMulQ8, bias 0 for none
//	matmul_f32(y, x, w, b, T, in, out, lo, hi)               MatMulF32, b 0 for none
//	scores(sc, q, k, n, stride, dh, scale f32)               Scores, stride in floats
//	mix(out, p, v, n, stride, dh)                            Mix
//	quantize_q8(q, s, x, rows, nb)                           Quantize, rows of nb whole blocks
//	swiglu(dst, gate, up, n)                                 SwiGLU of n values, n a multiple of 4
func Module(relaxed bool) []byte {
	return module([]*fn{genMatmulQ8(relaxed), genMatmulF32(), genScores(), genMix(), genQuantize(), genSwiGLU()})
}

func params(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = i32
	}
	return p
}

// blockSum leaves on the stack an i32x4 whose lanes add up to Σ_k x_k·w_k over the 32
// int8 values at px+off and pw+off. xt, wt, m are v128 scratch locals.
func blockSum(f *fn, px, pw, xt, wt, m, acc uint32, off uint32, relaxed bool) {
	if relaxed {
		for half := range uint32(2) {
			o := off + 16*half
			// w·sign(x): (w xor m) − m with m = (x < 0) all ones
			f.get(pw)
			f.load(o)
			f.get(px)
			f.load(o)
			f.tee(xt)
			f.zero128()
			f.simd(simdI8LtS)
			f.tee(m)
			f.simd(simdXor)
			f.get(m)
			f.simd(simdI8Sub)
			f.get(xt)
			f.simd(simdI8Abs)
			if half == 0 {
				f.zero128()
			} else {
				f.get(acc)
			}
			f.simd(simdRelaxedDotA)
			if half == 0 {
				f.set(acc)
			}
		}
		return
	}
	for half := range uint32(2) {
		o := off + 16*half
		f.get(px)
		f.load(o)
		f.tee(xt)
		f.simd(simdI16ExtLoS)
		f.get(pw)
		f.load(o)
		f.tee(wt)
		f.simd(simdI16ExtLoS)
		f.simd(simdI32DotI16)
		f.get(xt)
		f.simd(simdI16ExtHiS)
		f.get(wt)
		f.simd(simdI16ExtHiS)
		f.simd(simdI32DotI16)
		f.simd(simdI32Add)
		if half == 1 {
			f.simd(simdI32Add)
		}
	}
}

// genMatmulQ8 writes MatMulQ8: for each output row o in [lo, hi) and input row t, four blocks
// at a time — their integer sums transposed into one i32x4, converted, multiplied by
// xs·ws and added to a 4-lane accumulator — then the 1–3 last blocks into lanes 0–2,
// and (l0+l1)+(l2+l3) + bias.
func genMatmulQ8(relaxed bool) *fn {
	name := "matmul_q8"
	f := newFn(name, params(11))
	const y, xq, xs, wq, ws, bias, T, nb, out, lo, hi = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
	o, t := f.local(i32), f.local(i32)
	wrow, wsrow, xrow, xsrow := f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	g, px, pw, stride := f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	bv := f.local(f32)
	acc := f.local(v128)
	v := [4]uint32{f.local(v128), f.local(v128), f.local(v128), f.local(v128)}
	xt, wt, m, ra := f.local(v128), f.local(v128), f.local(v128), f.local(v128)

	f.get(nb)
	f.i32c(5)
	f.op(opI32Shl)
	f.set(stride)
	f.get(lo)
	f.set(o)
	f.block()
	f.loop()
	{
		f.get(o)
		f.get(hi)
		f.op(opI32GeS)
		f.brIf(1)
		// wrow = wq + o·stride; wsrow = ws + 4·o·nb
		f.get(wq)
		f.get(o)
		f.get(stride)
		f.op(opI32Mul)
		f.op(opI32Add)
		f.set(wrow)
		f.get(ws)
		f.get(o)
		f.get(nb)
		f.op(opI32Mul)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.set(wsrow)
		// bv = bias ? bias[o] : 0
		f.get(bias)
		f.ifThen(f32)
		f.get(bias)
		f.get(o)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.f32load(0)
		f.elseDo()
		f.f32c0()
		f.end()
		f.set(bv)
		f.i32c(0)
		f.set(t)
		f.block()
		f.loop()
		{
			f.get(t)
			f.get(T)
			f.op(opI32GeS)
			f.brIf(1)
			f.get(xq)
			f.get(t)
			f.get(stride)
			f.op(opI32Mul)
			f.op(opI32Add)
			f.set(xrow)
			f.get(xs)
			f.get(t)
			f.get(nb)
			f.op(opI32Mul)
			f.i32c(2)
			f.op(opI32Shl)
			f.op(opI32Add)
			f.set(xsrow)
			f.zero128()
			f.set(acc)
			f.i32c(0)
			f.set(g)
			f.block()
			f.loop()
			{
				// while g+4 ≤ nb
				f.get(g)
				f.i32c(4)
				f.op(opI32Add)
				f.get(nb)
				f.op(opI32GtS)
				f.brIf(1)
				// px, pw = the rows at block g
				f.get(xrow)
				f.get(g)
				f.i32c(5)
				f.op(opI32Shl)
				f.op(opI32Add)
				f.set(px)
				f.get(wrow)
				f.get(g)
				f.i32c(5)
				f.op(opI32Shl)
				f.op(opI32Add)
				f.set(pw)
				for j := range uint32(4) {
					blockSum(f, px, pw, xt, wt, m, ra, 32*j, relaxed)
					f.set(v[j])
				}
				// [Σv0, Σv1, Σv2, Σv3]
				f.get(v[0])
				f.get(v[1])
				f.shuffle32(0, 4, 1, 5)
				f.get(v[0])
				f.get(v[1])
				f.shuffle32(2, 6, 3, 7)
				f.simd(simdI32Add) // s01
				f.set(v[0])
				f.get(v[2])
				f.get(v[3])
				f.shuffle32(0, 4, 1, 5)
				f.get(v[2])
				f.get(v[3])
				f.shuffle32(2, 6, 3, 7)
				f.simd(simdI32Add) // s23
				f.set(v[2])
				f.get(v[0])
				f.get(v[2])
				f.shuffle32(0, 1, 4, 5)
				f.get(v[0])
				f.get(v[2])
				f.shuffle32(2, 3, 6, 7)
				f.simd(simdI32Add)
				f.simd(simdF32CvtI32)
				// × xs·ws of the four blocks, into acc
				f.get(xsrow)
				f.get(g)
				f.i32c(2)
				f.op(opI32Shl)
				f.op(opI32Add)
				f.load(0)
				f.get(wsrow)
				f.get(g)
				f.i32c(2)
				f.op(opI32Shl)
				f.op(opI32Add)
				f.load(0)
				f.simd(simdF32Mul)
				f.simd(simdF32Mul)
				f.get(acc)
				f.simd(simdF32Add)
				f.set(acc)
				f.inc(g, 4)
				f.br(0)
			}
			f.end()
			f.end()
			// the last nb − g < 4 blocks, block g+j into lane j
			f.get(xrow)
			f.get(g)
			f.i32c(5)
			f.op(opI32Shl)
			f.op(opI32Add)
			f.set(px)
			f.get(wrow)
			f.get(g)
			f.i32c(5)
			f.op(opI32Shl)
			f.op(opI32Add)
			f.set(pw)
			for j := range uint32(3) {
				// if g + j < nb
				f.get(g)
				f.i32c(int32(j))
				f.op(opI32Add)
				f.get(nb)
				f.op(opI32LtS)
				f.ifThen()
				f.get(acc)
				f.get(acc)
				f.simd(simdF32Extract, byte(j))
				// Σ of the block's i32x4, as f32
				blockSum(f, px, pw, xt, wt, m, ra, 32*j, relaxed)
				f.tee(v[0])
				f.simd(simdI32Extract, 0)
				f.get(v[0])
				f.simd(simdI32Extract, 1)
				f.op(opI32Add)
				f.get(v[0])
				f.simd(simdI32Extract, 2)
				f.op(opI32Add)
				f.get(v[0])
				f.simd(simdI32Extract, 3)
				f.op(opI32Add)
				f.op(opF32CvtI)
				// × xs[g+j]·ws[g+j]
				f.get(xsrow)
				f.get(g)
				f.i32c(2)
				f.op(opI32Shl)
				f.op(opI32Add)
				f.f32load(4 * j)
				f.get(wsrow)
				f.get(g)
				f.i32c(2)
				f.op(opI32Shl)
				f.op(opI32Add)
				f.f32load(4 * j)
				f.op(opF32Mul)
				f.op(opF32Mul)
				f.op(opF32Add)
				f.simd(simdF32Replace, byte(j))
				f.set(acc)
				f.end()
			}
			// y[t·out + o] = (l0+l1)+(l2+l3) + bv
			f.get(y)
			f.get(t)
			f.get(out)
			f.op(opI32Mul)
			f.get(o)
			f.op(opI32Add)
			f.i32c(2)
			f.op(opI32Shl)
			f.op(opI32Add)
			lanes(f, acc)
			f.get(bv)
			f.op(opF32Add)
			f.f32store(0)
			f.inc(t, 1)
			f.br(0)
		}
		f.end()
		f.end()
		f.inc(o, 1)
		f.br(0)
	}
	f.end()
	f.end()
	return f
}

// lanes leaves (l0+l1)+(l2+l3) of the f32x4 local acc on the stack.
func lanes(f *fn, acc uint32) {
	f.get(acc)
	f.simd(simdF32Extract, 0)
	f.get(acc)
	f.simd(simdF32Extract, 1)
	f.op(opF32Add)
	f.get(acc)
	f.simd(simdF32Extract, 2)
	f.get(acc)
	f.simd(simdF32Extract, 3)
	f.op(opF32Add)
	f.op(opF32Add)
}

// dotF32 leaves DotF32 of the n floats at a and b on the stack: whole groups of four
// into the lanes of acc, the rest into lane 0. i is an i32 scratch local.
func dotF32(f *fn, a, b, n, i, acc uint32) {
	f.zero128()
	f.set(acc)
	f.i32c(0)
	f.set(i)
	f.block()
	f.loop()
	f.get(i)
	f.i32c(4)
	f.op(opI32Add)
	f.get(n)
	f.op(opI32GtS)
	f.brIf(1)
	f.get(a)
	f.get(i)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.load(0)
	f.get(b)
	f.get(i)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.load(0)
	f.simd(simdF32Mul)
	f.get(acc)
	f.simd(simdF32Add)
	f.set(acc)
	f.inc(i, 4)
	f.br(0)
	f.end()
	f.end()
	// tail into lane 0
	f.block()
	f.loop()
	f.get(i)
	f.get(n)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(acc)
	f.get(acc)
	f.simd(simdF32Extract, 0)
	f.get(a)
	f.get(i)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.f32load(0)
	f.get(b)
	f.get(i)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.f32load(0)
	f.op(opF32Mul)
	f.op(opF32Add)
	f.simd(simdF32Replace, 0)
	f.set(acc)
	f.inc(i, 1)
	f.br(0)
	f.end()
	f.end()
	lanes(f, acc)
}

// genMatmulF32 writes MatMulF32.
func genMatmulF32() *fn {
	f := newFn("matmul_f32", params(9))
	const y, x, w, b, T, in, out, lo, hi = 0, 1, 2, 3, 4, 5, 6, 7, 8
	o, t, wrow, xrow, i := f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	bv := f.local(f32)
	acc := f.local(v128)
	f.get(lo)
	f.set(o)
	f.block()
	f.loop()
	f.get(o)
	f.get(hi)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(w)
	f.get(o)
	f.get(in)
	f.op(opI32Mul)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.set(wrow)
	f.get(b)
	f.ifThen(f32)
	f.get(b)
	f.get(o)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.f32load(0)
	f.elseDo()
	f.f32c0()
	f.end()
	f.set(bv)
	f.i32c(0)
	f.set(t)
	f.block()
	f.loop()
	f.get(t)
	f.get(T)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(x)
	f.get(t)
	f.get(in)
	f.op(opI32Mul)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.set(xrow)
	// address of y[t·out + o]
	f.get(y)
	f.get(t)
	f.get(out)
	f.op(opI32Mul)
	f.get(o)
	f.op(opI32Add)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	dotF32(f, xrow, wrow, in, i, acc)
	f.get(bv)
	f.op(opF32Add)
	f.f32store(0)
	f.inc(t, 1)
	f.br(0)
	f.end()
	f.end()
	f.inc(o, 1)
	f.br(0)
	f.end()
	f.end()
	return f
}

// genScores writes Scores: sc[i] = DotF32(q, k + 4·i·stride, dh)·scale.
func genScores() *fn {
	f := newFn("scores", append(params(6), f32))
	const sc, q, k, n, stride, dh, scale = 0, 1, 2, 3, 4, 5, 6
	i, krow, j := f.local(i32), f.local(i32), f.local(i32)
	acc := f.local(v128)
	f.i32c(0)
	f.set(i)
	f.block()
	f.loop()
	f.get(i)
	f.get(n)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(k)
	f.get(i)
	f.get(stride)
	f.op(opI32Mul)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.set(krow)
	f.get(sc)
	f.get(i)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	dotF32(f, q, krow, dh, j, acc)
	f.get(scale)
	f.op(opF32Mul)
	f.f32store(0)
	f.inc(i, 1)
	f.br(0)
	f.end()
	f.end()
	return f
}

// genMix writes Mix: out[dh] = 0, then out += p[i]·v[i·stride:] for i = 0, 1, … in order.
func genMix() *fn {
	f := newFn("mix", params(6))
	const out, p, v, n, stride, dh = 0, 1, 2, 3, 4, 5
	i, d, vrow, a := f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	pi := f.local(f32)
	ps := f.local(v128)
	// out = 0
	f.i32c(0)
	f.set(d)
	f.block()
	f.loop()
	f.get(d)
	f.get(dh)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(out)
	f.get(d)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.f32c0()
	f.f32store(0)
	f.inc(d, 1)
	f.br(0)
	f.end()
	f.end()
	f.i32c(0)
	f.set(i)
	f.block()
	f.loop()
	{
		f.get(i)
		f.get(n)
		f.op(opI32GeS)
		f.brIf(1)
		f.get(p)
		f.get(i)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.f32load(0)
		f.tee(pi)
		f.simd(simdF32Splat)
		f.set(ps)
		f.get(v)
		f.get(i)
		f.get(stride)
		f.op(opI32Mul)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.set(vrow)
		f.i32c(0)
		f.set(d)
		// groups of four: out[d:d+4] += ps·v[d:d+4]
		f.block()
		f.loop()
		f.get(d)
		f.i32c(4)
		f.op(opI32Add)
		f.get(dh)
		f.op(opI32GtS)
		f.brIf(1)
		f.get(out)
		f.get(d)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.tee(a)
		f.get(a)
		f.load(0)
		f.get(ps)
		f.get(vrow)
		f.get(d)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.load(0)
		f.simd(simdF32Mul)
		f.simd(simdF32Add)
		f.store(0)
		f.inc(d, 4)
		f.br(0)
		f.end()
		f.end()
		// the rest one by one
		f.block()
		f.loop()
		f.get(d)
		f.get(dh)
		f.op(opI32GeS)
		f.brIf(1)
		f.get(out)
		f.get(d)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.tee(a)
		f.get(a)
		f.f32load(0)
		f.get(pi)
		f.get(vrow)
		f.get(d)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.f32load(0)
		f.op(opF32Mul)
		f.op(opF32Add)
		f.f32store(0)
		f.inc(d, 1)
		f.br(0)
		f.end()
		f.end()
		f.inc(i, 1)
		f.br(0)
	}
	f.end()
	f.end()
	return f
}

// genQuantize writes Quantize for rows of nb whole blocks (x[rows, nb·32]): per block,
// amax of the eight f32x4 of |x| (lanes folded by f32.max, exact in any order),
// d = amax/127, id = 1/d, then q = nearest(x·id) narrowed with saturation to int8 (the
// values are within ±127 already).
func genQuantize() *fn {
	f := newFn("quantize_q8", params(5))
	const q, s, x, rows, nb = 0, 1, 2, 3, 4
	blk, n, px, pq := f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	d, id := f.local(f32), f.local(f32)
	var v [8]uint32
	for i := range v {
		v[i] = f.local(v128)
	}
	m, ids := f.local(v128), f.local(v128)
	// n = rows·nb blocks, one after the other in x, q and s
	f.get(rows)
	f.get(nb)
	f.op(opI32Mul)
	f.set(n)
	f.i32c(0)
	f.set(blk)
	f.block()
	f.loop()
	{
		f.get(blk)
		f.get(n)
		f.op(opI32GeS)
		f.brIf(1)
		f.get(x)
		f.get(blk)
		f.i32c(7)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.set(px)
		f.get(q)
		f.get(blk)
		f.i32c(5)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.set(pq)
		for i := range uint32(8) {
			f.get(px)
			f.load(16 * i)
			f.tee(v[i])
			f.simd(simdF32Abs)
			if i > 0 {
				f.get(m)
				f.simd(simdF32Max)
			}
			f.set(m)
		}
		f.get(m)
		f.simd(simdF32Extract, 0)
		f.get(m)
		f.simd(simdF32Extract, 1)
		f.op(opF32Max)
		f.get(m)
		f.simd(simdF32Extract, 2)
		f.get(m)
		f.simd(simdF32Extract, 3)
		f.op(opF32Max)
		f.op(opF32Max)
		f.f32c(127)
		f.op(opF32Div)
		f.tee(d)
		// s[blk] = d
		f.set(d)
		f.get(s)
		f.get(blk)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.get(d)
		f.f32store(0)
		f.f32c(1)
		f.get(d)
		f.op(opF32Div)
		f.set(id)
		// d == 0 or id not finite (≥ +inf): zeros
		f.get(d)
		f.f32c0()
		f.op(opF32Eq)
		f.get(id)
		f.f32c(float32(math.Inf(1)))
		f.op(opF32Lt)
		f.op(opI32Eqz)
		f.op(opI32Or)
		f.ifThen()
		f.get(pq)
		f.zero128()
		f.store(0)
		f.get(pq)
		f.zero128()
		f.store(16)
		f.elseDo()
		f.get(id)
		f.simd(simdF32Splat)
		f.set(ids)
		for half := range uint32(2) {
			f.get(pq)
			for pair := range uint32(2) {
				for k := range uint32(2) {
					f.get(v[4*half+2*pair+k])
					f.get(ids)
					f.simd(simdF32Mul)
					f.simd(simdF32Nearest)
					f.simd(simdI32TruncS)
				}
				f.simd(simdI16NarrowS)
			}
			f.simd(simdI8NarrowS)
			f.store(16 * half)
		}
		f.end()
		f.inc(blk, 1)
		f.br(0)
	}
	f.end()
	f.end()
	return f
}

// genSwiGLU writes SwiGLU four values at a time: model.Exp32 of −g step by step (clamp,
// n = nearest(x·log2 e), r = x − n·C1 − n·C2, the polynomial, ×2^n from n's bits), then
// g/(1+e)·up.
func genSwiGLU() *fn {
	f := newFn("swiglu", params(4))
	const dst, gate, up, n = 0, 1, 2, 3
	i, off := f.local(i32), f.local(i32)
	g, x, nn, r, p := f.local(v128), f.local(v128), f.local(v128), f.local(v128), f.local(v128)
	f.i32c(0)
	f.set(i)
	f.block()
	f.loop()
	f.get(i)
	f.get(n)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(i)
	f.i32c(2)
	f.op(opI32Shl)
	f.set(off)
	// x = max(−87, min(88, −g))
	f.f32x4c(-87)
	f.f32x4c(88)
	f.get(gate)
	f.get(off)
	f.op(opI32Add)
	f.load(0)
	f.tee(g)
	f.simd(simdF32Neg)
	f.simd(simdF32Min)
	f.simd(simdF32Max)
	f.tee(x)
	// n = nearest(x·log2 e)
	f.f32x4c(1.44269504088896341)
	f.simd(simdF32Mul)
	f.simd(simdF32Nearest)
	f.set(nn)
	// r = (x − n·C1) − n·C2
	f.get(x)
	f.get(nn)
	f.f32x4c(0.693359375)
	f.simd(simdF32Mul)
	f.simd(simdF32Sub)
	f.get(nn)
	f.f32x4c(-2.12194440e-4)
	f.simd(simdF32Mul)
	f.simd(simdF32Sub)
	f.set(r)
	// p = ((((c0·r + c1)·r + c2)·r + c3)·r + c4)·r + c5
	f.f32x4c(1.9875691500e-4)
	f.get(r)
	f.simd(simdF32Mul)
	f.f32x4c(1.3981999507e-3)
	f.simd(simdF32Add)
	for _, c := range []float32{8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
		f.get(r)
		f.simd(simdF32Mul)
		f.f32x4c(c)
		f.simd(simdF32Add)
	}
	// p = (p·r² + r) + 1
	f.get(r)
	f.get(r)
	f.simd(simdF32Mul)
	f.simd(simdF32Mul)
	f.get(r)
	f.simd(simdF32Add)
	f.f32x4c(1)
	f.simd(simdF32Add)
	// e = p·2^n
	f.get(nn)
	f.simd(simdI32TruncS)
	f.i32x4c(127)
	f.simd(simdI32Add)
	f.i32c(23)
	f.simd(simdI32Shl)
	f.simd(simdF32Mul)
	f.set(p)
	// dst = g/(1+e)·up
	f.get(dst)
	f.get(off)
	f.op(opI32Add)
	f.get(g)
	f.f32x4c(1)
	f.get(p)
	f.simd(simdF32Add)
	f.simd(simdF32Div)
	f.get(up)
	f.get(off)
	f.op(opI32Add)
	f.load(0)
	f.simd(simdF32Mul)
	f.store(0)
	f.inc(i, 4)
	f.br(0)
	f.end()
	f.end()
	return f
}
