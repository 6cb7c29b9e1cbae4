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
// The int8 dot product of a 32-block is exact in integers every way: SIMD128 extends
// both to i16 and sums pairs with i32x4.dot_i16x8_s; relaxed SIMD's
// i32x4.relaxed_dot_i8x16_i7x16_add_s needs one operand in [0, 127], so it multiplies
// |w| by x with w's sign moved onto x (x and w are in [-127, 127]). Where that operand
// is read as unsigned 8-bit exactly — x86 with AVX-VNNI, whose vpdpbusd V8 uses — the
// third module multiplies w+128 by x and takes 128·Σx off: half the instructions a
// product. The page runs it only where its probe_u8 shows that reading.
package simd

import (
	"fmt"
	"math"
)

// Kernel levels: what the browser validates, best last.
const (
	LevelNone    = 0 // no SIMD128: Go's kernels
	LevelSIMD    = 1 // SIMD128
	LevelRelaxed = 2 // SIMD128 and relaxed SIMD
	// LevelRelaxedU8: relaxed SIMD whose dot product reads its 7-bit operand as
	// unsigned 8-bit, exactly (the u8 module's probe_u8 tells: genProbeU8).
	LevelRelaxedU8 = 3
)

// Files of the kernel modules in the site, by level.
var Files = map[int]string{LevelSIMD: "kernels-simd128.wasm", LevelRelaxed: "kernels-relaxed.wasm", LevelRelaxedU8: "kernels-relaxed-u8.wasm"}

// Module returns the kernel module of a level: the int8 dot products use SIMD128,
// relaxed SIMD (a browser without it refuses the module: WebAssembly.validate says so),
// or relaxed SIMD with its 7-bit operand read as unsigned 8-bit, which only probe_u8,
// which the u8 module also exports, can tell.
//
// Exports (pointers are byte offsets into Go's memory; sizes as model.Kernels names them):
//
//	matmul_q8(y, xq, xs, wq, ws, bias, T, nb, out, lo, hi, sums)
//	                                                         MatMulQ8, bias 0 for none;
//	                                                         sums: i32 [T·nb + 3] scratch (u8 module)
//	matmul_f32(y, x, w, b, T, in, out, lo, hi)               MatMulF32, b 0 for none
//	scores(sc, q, k, n, stride, dh, scale f32)               Scores, stride in floats
//	mix(out, p, v, n, stride, dh)                            Mix
//	quantize_q8(q, s, x, rows, nb)                           Quantize, rows of nb whole blocks
//	swiglu(dst, gate, up, n)                                 SwiGLU of n values, n a multiple of 4
//	softmax(x, n)                                            Softmax of n values in place
//	block_max(dst, x, nb)                                    BlockMax of nb whole blocks of 16
func Module(level int) []byte {
	dot, ok := map[int]dotKind{LevelSIMD: dotI16, LevelRelaxed: dotRelaxed, LevelRelaxedU8: dotRelaxedU8}[level]
	if !ok {
		panic(fmt.Sprintf("simd: no kernel module of level %d", level))
	}
	fns := []*fn{genMatmulQ8(dot), genMatmulF32(), genScores(), genMix(), genQuantize(), genSwiGLU(), genSoftmax(), genBlockMax()}
	if dot == dotRelaxedU8 {
		fns = append(fns, genProbeU8())
	}
	return module(fns)
}

// dotKind is how a kernel module sums the int8 products of a 32-block.
type dotKind int

const (
	dotI16       dotKind = iota // SIMD128: both extended to i16, i32x4.dot_i16x8_s
	dotRelaxed                  // relaxed dot: x·sign(w) by |w|
	dotRelaxedU8                // relaxed dot: x by w+128 read as u8, less 128·Σx
)

// genProbeU8 writes the u8 module's probe_u8(a, b): lane 0 of
// i32x4.relaxed_dot_i8x16_i7x16_add_s(splat a, splat b, 0), four products a·b. Where
// LevelRelaxedU8 is sound it is 4·a·b for b in [128, 255] too — b read as unsigned 8-bit,
// the sums neither saturated nor wrapped; web/goworker.js asks it before it offers the
// module. A browser that answers otherwise (ARM's sdot reads b signed; x86 without
// AVX-VNNI saturates pairs of products to i16) runs the relaxed module. The operands
// come from the caller, so no compiler can fold the product.
func genProbeU8() *fn {
	f := newFn("probe_u8", params(2), i32)
	f.get(0)
	f.simd(simdI8Splat)
	f.get(1)
	f.simd(simdI8Splat)
	f.zero128()
	f.simd(simdRelaxedDotA)
	f.simd(simdI32Extract, 0)
	return f
}

func params(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = i32
	}
	return p
}

// blockSums sets dst[k], for each of the K input rows at px[k]+off, to an i32x4 whose
// lanes add up to Σ x_k·w over the 32 int8 values there and at pw+off: the weights are
// loaded (and extended, or split into |w| and its sign) once for all K rows. wt, wa, m
// are v128 scratch locals. SIMD128 extends both to i16 and sums pairs with
// i32x4.dot_i16x8_s; relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s needs its second
// operand in [0, 127], so it multiplies |w| by x with w's sign moved onto x (x and w are
// in [−127, 127]). With dotRelaxedU8 the lanes add up to Σ x·(w+128) instead (w+128 read
// as u8): the caller takes 128·Σx off. Every way the sums are exact integers.
func blockSums(f *fn, px []uint32, pw, off uint32, dst []uint32, wt, wa, m uint32, dot dotKind) {
	for half := range uint32(2) {
		o := off + 16*half
		f.get(pw)
		f.load(o)
		f.set(wt)
		switch dot {
		case dotRelaxedU8:
			// w+128 as u8: flipping the top bit of a two's complement byte adds 128
			f.get(wt)
			f.i8x16c(-128)
			f.simd(simdXor)
			f.set(wa)
		case dotRelaxed:
			f.get(wt)
			f.simd(simdI8Abs)
			f.set(wa)
			f.get(wt)
			f.zero128()
			f.simd(simdI8LtS)
			f.set(m)
		default:
			f.get(wt)
			f.simd(simdI16ExtLoS)
			f.set(wa)
			f.get(wt)
			f.simd(simdI16ExtHiS)
			f.set(m)
		}
		for k, p := range px {
			if dot != dotI16 {
				f.get(p)
				f.load(o)
				if dot == dotRelaxed {
					// x·sign(w) = (x xor m) − m, then += x·sign(w) · |w|
					f.get(m)
					f.simd(simdXor)
					f.get(m)
					f.simd(simdI8Sub)
				}
				f.get(wa)
				if half == 0 {
					f.zero128()
				} else {
					f.get(dst[k])
				}
				f.simd(simdRelaxedDotA)
				f.set(dst[k])
				continue
			}
			f.get(p)
			f.load(o)
			f.tee(wt) // x, as scratch: w's extensions are in wa and m
			f.simd(simdI16ExtLoS)
			f.get(wa)
			f.simd(simdI32DotI16)
			f.get(wt)
			f.simd(simdI16ExtHiS)
			f.get(m)
			f.simd(simdI32DotI16)
			f.simd(simdI32Add)
			if half == 1 {
				f.get(dst[k])
				f.simd(simdI32Add)
			}
			f.set(dst[k])
		}
	}
}

// genMatmulQ8 writes MatMulQ8: for each output row o in [lo, hi), the input rows two at
// a time (then the last one alone), sharing each block of weights: four blocks at a
// time, each row's integer sums transposed into one i32x4, converted, multiplied by
// xs·ws and added to its 4-lane accumulator; then the 1–3 last blocks into lanes 0–2,
// and (l0+l1)+(l2+l3) + bias.
//
// The u8 module first writes sums[t·nb + b] = 128·Σ x of row t's block b, for every row of
// x, and takes it off each block's sum before the conversion.
func genMatmulQ8(dot dotKind) *fn {
	f := newFn("matmul_q8", params(12))
	const y, xq, xs, wq, ws, bias, T, nb, out, lo, hi, sums = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
	u8 := dot == dotRelaxedU8
	o, t, g, pw, stride, wrow, wsrow := f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	bv := f.local(f32)
	const K = 2
	var xrow, xsrow, px, srow [4]uint32
	var acc [4]uint32
	var v [4][4]uint32
	for k := range K {
		xrow[k], xsrow[k], px[k], srow[k] = f.local(i32), f.local(i32), f.local(i32), f.local(i32)
		acc[k] = f.local(v128)
		for j := range 4 {
			v[k][j] = f.local(v128)
		}
	}
	wt, wa, m := f.local(v128), f.local(v128), f.local(v128)
	addShl := func(base, idx uint32, shift int32) { // base + idx<<shift
		f.get(base)
		f.get(idx)
		f.i32c(shift)
		f.op(opI32Shl)
		f.op(opI32Add)
	}
	// ifBlock opens an if whose body runs when block g+j is one of the row's (g+j < nb).
	ifBlock := func(j uint32) {
		f.get(g)
		f.i32c(int32(j))
		f.op(opI32Add)
		f.get(nb)
		f.op(opI32LtS)
		f.ifThen()
	}
	// blockRow leaves base + 4·(t+k)·nb on the stack: row t+k of an array of one 4-byte
	// value a block of x (its scales, the u8 module's sums).
	blockRow := func(base uint32, k int) {
		f.get(base)
		f.get(t)
		f.i32c(int32(k))
		f.op(opI32Add)
		f.get(nb)
		f.op(opI32Mul)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
	}
	// pairSum leaves the i32x4 sum of a and b's lanes shuffled by sh[0] and by sh[1].
	pairSum := func(a, b uint32, sh [2][4]byte) {
		for _, l := range sh {
			f.get(a)
			f.get(b)
			f.shuffle32(l[0], l[1], l[2], l[3])
		}
		f.simd(simdI32Add)
	}
	// laneLoads sets vec to the f32 values at base + 4·(g+j) for the row's blocks g+j
	// of the three from g on (lane by lane: a vector load could pass the end of
	// memory), 0 in the other lanes.
	laneLoads := func(vec, base uint32) {
		f.zero128()
		f.set(vec)
		for j := range uint32(3) {
			ifBlock(j)
			f.get(vec)
			addShl(base, g, 2)
			f.f32load(4 * j)
			f.simd(simdF32Replace, byte(j))
			f.set(vec)
			f.end()
		}
	}
	// sums4 leaves row k's four block sums [Σv0, Σv1, Σv2, Σv3] on the stack, less
	// 128·Σx of each block in the u8 module.
	sums4 := func(k int) {
		vk := v[k]
		interleaved := [2][4]byte{{0, 4, 1, 5}, {2, 6, 3, 7}} // [a0+a2, b0+b2, a1+a3, b1+b3]
		halves := [2][4]byte{{0, 1, 4, 5}, {2, 3, 6, 7}}      // [a0+a2, a1+a3, b0+b2, b1+b3]
		pairSum(vk[0], vk[1], interleaved)
		f.set(vk[0])
		pairSum(vk[2], vk[3], interleaved)
		f.set(vk[2])
		pairSum(vk[0], vk[2], halves)
		if u8 {
			addShl(srow[k], g, 2)
			f.load(0)
			f.simd(simdI32Sub)
		}
	}
	// tokens emits the outputs of input rows t … t+n−1 for row o.
	tokens := func(n int) {
		for k := range n {
			// xrow = xq + (t+k)·stride; xsrow = xs + 4·(t+k)·nb
			f.get(xq)
			f.get(t)
			f.i32c(int32(k))
			f.op(opI32Add)
			f.get(stride)
			f.op(opI32Mul)
			f.op(opI32Add)
			f.set(xrow[k])
			blockRow(xs, k)
			f.set(xsrow[k])
			if u8 { // srow = sums + 4·(t+k)·nb
				blockRow(sums, k)
				f.set(srow[k])
			}
			f.zero128()
			f.set(acc[k])
		}
		f.i32c(0)
		f.set(g)
		f.block()
		f.loop()
		{
			f.get(g)
			f.i32c(4)
			f.op(opI32Add)
			f.get(nb)
			f.op(opI32GtS)
			f.brIf(1)
			addShl(wrow, g, 5)
			f.set(pw)
			for k := range n {
				addShl(xrow[k], g, 5)
				f.set(px[k])
			}
			for j := range 4 {
				dst := make([]uint32, n)
				for k := range n {
					dst[k] = v[k][j]
				}
				blockSums(f, px[:n], pw, uint32(32*j), dst, wt, wa, m, dot)
			}
			for k := range n {
				sums4(k)
				f.simd(simdF32CvtI32)
				// × xs·ws of the four blocks, into acc
				addShl(xsrow[k], g, 2)
				f.load(0)
				addShl(wsrow, g, 2)
				f.load(0)
				f.simd(simdF32Mul)
				f.simd(simdF32Mul)
				f.get(acc[k])
				f.simd(simdF32Add)
				f.set(acc[k])
			}
			f.inc(g, 4)
			f.br(0)
		}
		f.end()
		f.end()
		// the last nb − g < 4 blocks, block g+j into lane j as in the loop, the lanes of
		// no block with sums and scales 0: they add +0 or −0 to acc, which leaves it as
		// it is (acc is never −0: it starts at +0, and +0 + −0 is +0)
		f.get(g)
		f.get(nb)
		f.op(opI32LtS)
		f.ifThen()
		addShl(wrow, g, 5)
		f.set(pw)
		for k := range n {
			addShl(xrow[k], g, 5)
			f.set(px[k])
		}
		for j := range uint32(4) {
			if j < 3 {
				ifBlock(j)
				dst := make([]uint32, n)
				for k := range n {
					dst[k] = v[k][j]
				}
				blockSums(f, px[:n], pw, 32*j, dst, wt, wa, m, dot)
				f.elseDo()
			}
			for k := range n {
				f.zero128()
				f.set(v[k][j])
			}
			if j < 3 {
				f.end()
			}
		}
		laneLoads(wt, wsrow) // the blocks' ws
		for k := range n {
			sums4(k)
			f.simd(simdF32CvtI32)
			laneLoads(wa, xsrow[k]) // × xs·ws
			f.get(wa)
			f.get(wt)
			f.simd(simdF32Mul)
			f.simd(simdF32Mul)
			f.get(acc[k])
			f.simd(simdF32Add)
			f.set(acc[k])
		}
		f.end()
		for k := range n {
			storeOut(f, y, t, k, out, o, acc[k], bv)
		}
	}

	if u8 {
		// sums[i] = 128·Σ x of block i of x's T·nb blocks (they follow one another):
		// the relaxed dot by ones, read as u8 like the weights.
		f.i32c(0)
		f.set(g)
		f.block()
		f.loop()
		f.get(g)
		f.get(T)
		f.get(nb)
		f.op(opI32Mul)
		f.op(opI32GeS)
		f.brIf(1)
		f.get(sums)
		f.get(g)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add) // the address of sums[g], for the store
		addShl(xq, g, 5)
		f.load(16)
		f.i8x16c(1)
		addShl(xq, g, 5)
		f.load(0)
		f.i8x16c(1)
		f.zero128()
		f.simd(simdRelaxedDotA)
		f.simd(simdRelaxedDotA)
		f.set(wt)
		fold4(f, wt, simdI32Extract, opI32Add)
		f.i32c(7)
		f.op(opI32Shl)
		f.i32store(0)
		f.inc(g, 1)
		f.br(0)
		f.end()
		f.end()
	}
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
		addShl(bias, o, 2)
		f.f32load(0)
		f.elseDo()
		f.f32c0()
		f.end()
		f.set(bv)
		f.i32c(0)
		f.set(t)
		// input rows in pairs, then the last one
		for _, n := range []int{K, 1} {
			f.block()
			f.loop()
			f.get(t)
			f.i32c(int32(n))
			f.op(opI32Add)
			f.get(T)
			f.op(opI32GtS)
			f.brIf(1)
			tokens(n)
			f.inc(t, int32(n))
			f.br(0)
			f.end()
			f.end()
		}
		f.inc(o, 1)
		f.br(0)
	}
	f.end()
	f.end()
	return f
}

// lanes leaves (l0+l1)+(l2+l3) of the f32x4 local acc on the stack.
func lanes(f *fn, acc uint32) { fold4(f, acc, simdF32Extract, opF32Add) }

// fold4 leaves (l0 op l1) op (l2 op l3) of the lanes of the v128 local v on the stack,
// each taken out with the extract instruction (simdF32Extract, simdI32Extract).
func fold4(f *fn, v uint32, extract uint32, op byte) {
	for _, pair := range [2][2]byte{{0, 1}, {2, 3}} {
		f.get(v)
		f.simd(extract, pair[0])
		f.get(v)
		f.simd(extract, pair[1])
		f.op(op)
	}
	f.op(op)
}

// dotF32 leaves DotF32 of the n floats at a and b on the stack: whole groups of four
// into the lanes of acc, the rest into lane 0. i is an i32 scratch local.
func dotF32(f *fn, a, b, n, i, acc uint32) {
	dotsF32(f, []uint32{a}, b, n, i, []uint32{acc})
	lanes(f, acc)
}

// dotsF32 sums DotF32 of the n floats at a[k] and b into the lanes of acc[k] for every
// k, as dotF32 does before its lanes are added: b is loaded once for all the rows, and
// the rows' sums are independent chains, each in DotF32's order.
func dotsF32(f *fn, a []uint32, b, n, i uint32, acc []uint32) {
	for k := range a {
		f.zero128()
		f.set(acc[k])
	}
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
	for k := range a {
		f.get(a[k])
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
		f.get(acc[k])
		f.simd(simdF32Add)
		f.set(acc[k])
	}
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
	for k := range a {
		f.get(acc[k])
		f.get(acc[k])
		f.simd(simdF32Extract, 0)
		f.get(a[k])
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
		f.set(acc[k])
	}
	f.inc(i, 1)
	f.br(0)
	f.end()
	f.end()
}

// storeOut writes a matmul's output y[(t+k)·out + o] = (l0+l1)+(l2+l3) + bv, the lanes
// l of acc: y, t, out, o and bv are locals, k a constant row offset.
func storeOut(f *fn, y, t uint32, k int, out, o, acc, bv uint32) {
	f.get(y)
	f.get(t)
	f.i32c(int32(k))
	f.op(opI32Add)
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
}

// genMatmulF32 writes MatMulF32: for each output row o in [lo, hi), the input rows
// four at a time sharing each load of w's row (four independent sums, each in DotF32's
// order), then the last 0–3 alone.
func genMatmulF32() *fn {
	f := newFn("matmul_f32", params(9))
	const y, x, w, b, T, in, out, lo, hi = 0, 1, 2, 3, 4, 5, 6, 7, 8
	const K = 4
	o, t, wrow, i := f.local(i32), f.local(i32), f.local(i32), f.local(i32)
	bv := f.local(f32)
	var xrow, acc [K]uint32
	for k := range K {
		xrow[k], acc[k] = f.local(i32), f.local(v128)
	}
	// rows emits y[t+k, o] for k < n, then t += n, while t+n ≤ T.
	rows := func(n int) {
		f.block()
		f.loop()
		f.get(t)
		f.i32c(int32(n))
		f.op(opI32Add)
		f.get(T)
		f.op(opI32GtS)
		f.brIf(1)
		for k := range n { // xrow[k] = x + 4·(t+k)·in
			f.get(x)
			f.get(t)
			f.i32c(int32(k))
			f.op(opI32Add)
			f.get(in)
			f.op(opI32Mul)
			f.i32c(2)
			f.op(opI32Shl)
			f.op(opI32Add)
			f.set(xrow[k])
		}
		dotsF32(f, xrow[:n], wrow, in, i, acc[:n])
		for k := range n {
			storeOut(f, y, t, k, out, o, acc[k], bv)
		}
		f.inc(t, int32(n))
		f.br(0)
		f.end()
		f.end()
	}
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
	rows(K)
	rows(1)
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
	f.get(gate)
	f.get(off)
	f.op(opI32Add)
	f.load(0)
	f.tee(g)
	f.simd(simdF32Neg)
	exp32(f, x, nn, r)
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

// exp32 replaces the f32x4 on the stack by model.Exp32 of each lane, step by step:
// clamp, n = nearest(x·log2 e), r = (x − n·C1) − n·C2, the polynomial, ×2^n from n's
// bits. x, nn, r are v128 scratch locals.
func exp32(f *fn, x, nn, r uint32) {
	// x = max(−87, min(88, x))
	f.set(x)
	f.f32x4c(-87)
	f.f32x4c(88)
	f.get(x)
	f.simd(simdF32Min)
	f.simd(simdF32Max)
	f.tee(x)
	f.f32x4c(1.44269504088896341)
	f.simd(simdF32Mul)
	f.simd(simdF32Nearest)
	f.set(nn)
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
	f.get(r)
	f.get(r)
	f.simd(simdF32Mul)
	f.simd(simdF32Mul)
	f.get(r)
	f.simd(simdF32Add)
	f.f32x4c(1)
	f.simd(simdF32Add)
	f.get(nn)
	f.simd(simdI32TruncS)
	f.i32x4c(127)
	f.simd(simdI32Add)
	f.i32c(23)
	f.simd(simdI32Shl)
	f.simd(simdF32Mul)
}

// genSoftmax writes Softmax of n values in place: the max (exact in any order), then
// e = Exp32(x − max) four at a time, each added into lane i mod 4 of the sum (the last
// 1–3 values loaded and stored lane by lane, the other lanes adding +0), sum =
// (l0+l1)+(l2+l3), and x = e·(1/sum).
func genSoftmax() *fn {
	f := newFn("softmax", params(2))
	const x, n = 0, 1
	i, a, rest := f.local(i32), f.local(i32), f.local(i32)
	mx, inv := f.local(f32), f.local(f32)
	v, acc, t0, t1, t2, ms := f.local(v128), f.local(v128), f.local(v128), f.local(v128), f.local(v128), f.local(v128)
	addr := func() { // a = x + 4·i
		f.get(x)
		f.get(i)
		f.i32c(2)
		f.op(opI32Shl)
		f.op(opI32Add)
		f.set(a)
	}
	loopGroups := func(body func()) { // for i = 0; i+4 ≤ n; i += 4
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
		addr()
		body()
		f.inc(i, 4)
		f.br(0)
		f.end()
		f.end()
	}
	// max
	f.get(x)
	f.f32load(0)
	f.set(mx)
	f.i32c(0)
	f.set(i)
	f.block()
	f.loop()
	f.get(i)
	f.get(n)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(mx)
	addr()
	f.get(a)
	f.f32load(0)
	f.op(opF32Max)
	f.set(mx)
	f.inc(i, 1)
	f.br(0)
	f.end()
	f.end()
	f.get(mx)
	f.simd(simdF32Splat)
	f.set(ms)
	// e = Exp32(x − max), summed by lanes
	f.zero128()
	f.set(acc)
	loopGroups(func() {
		f.get(a)
		f.get(a)
		f.load(0)
		f.get(ms)
		f.simd(simdF32Sub)
		exp32(f, t0, t1, t2)
		f.tee(v)
		f.store(0)
		f.get(acc)
		f.get(v)
		f.simd(simdF32Add)
		f.set(acc)
	})
	// the last n − i < 4 values, lane by lane
	f.get(n)
	f.get(i)
	f.op(opI32Sub)
	f.tee(rest)
	f.ifThen()
	addr()
	f.zero128()
	f.set(v)
	for j := range uint32(3) {
		f.get(rest)
		f.i32c(int32(j))
		f.op(opI32GtS)
		f.ifThen()
		f.get(v)
		f.get(a)
		f.f32load(4 * j)
		f.get(mx)
		f.op(opF32Sub)
		f.simd(simdF32Replace, byte(j))
		f.set(v)
		f.end()
	}
	f.get(v)
	exp32(f, t0, t1, t2)
	f.set(v)
	for j := range uint32(3) {
		f.get(rest)
		f.i32c(int32(j))
		f.op(opI32GtS)
		f.ifThen(v128)
		f.get(a)
		f.get(v)
		f.simd(simdF32Extract, byte(j))
		f.f32store(4 * j)
		f.get(acc)
		f.get(acc)
		f.simd(simdF32Extract, byte(j))
		f.get(v)
		f.simd(simdF32Extract, byte(j))
		f.op(opF32Add)
		f.simd(simdF32Replace, byte(j))
		f.elseDo()
		f.get(acc)
		f.end()
		f.set(acc)
	}
	f.end()
	// inv = 1/((l0+l1)+(l2+l3))
	f.f32c(1)
	lanes(f, acc)
	f.op(opF32Div)
	f.tee(inv)
	f.simd(simdF32Splat)
	f.set(ms)
	loopGroups(func() {
		f.get(a)
		f.get(a)
		f.load(0)
		f.get(ms)
		f.simd(simdF32Mul)
		f.store(0)
	})
	f.block()
	f.loop()
	f.get(i)
	f.get(n)
	f.op(opI32GeS)
	f.brIf(1)
	addr()
	f.get(a)
	f.get(a)
	f.f32load(0)
	f.get(inv)
	f.op(opF32Mul)
	f.f32store(0)
	f.inc(i, 1)
	f.br(0)
	f.end()
	f.end()
	return f
}

// genBlockMax writes BlockMax of nb whole blocks: four f32x4 folded by f32x4.max, the
// lanes by f32.max (exact in any order).
func genBlockMax() *fn {
	f := newFn("block_max", params(3))
	const dst, x, nb = 0, 1, 2
	b, p := f.local(i32), f.local(i32)
	m := f.local(v128)
	f.i32c(0)
	f.set(b)
	f.block()
	f.loop()
	f.get(b)
	f.get(nb)
	f.op(opI32GeS)
	f.brIf(1)
	f.get(x)
	f.get(b)
	f.i32c(6)
	f.op(opI32Shl)
	f.op(opI32Add)
	f.tee(p)
	f.load(0)
	for i := range uint32(3) {
		f.get(p)
		f.load(16 * (i + 1))
		f.simd(simdF32Max)
	}
	f.set(m)
	f.get(dst)
	f.get(b)
	f.i32c(2)
	f.op(opI32Shl)
	f.op(opI32Add)
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
	f.f32store(0)
	f.inc(b, 1)
	f.br(0)
	f.end()
	f.end()
	return f
}
