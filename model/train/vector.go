//go:build goexperiment.simd && amd64

package train

import (
	"math"
	"simd/archsimd"
)

// haveVector says the AVX2+FMA kernels (gemm, exp, SwiGLU, softmax, AdamW) run; built with
// GOEXPERIMENT=simd on amd64, on a CPU that has both.
var haveVector = archsimd.X86.AVX2() && archsimd.X86.FMA()

// gemmRowsVector adds a·b to rows [i0, i1) of c[M,N] (or, with add false, writes it),
// with b[K,N] and a's element (i, p) at a[i*ai + p*ap]. Blocks of 32 columns run on
// AVX-512 where the CPU has it (register tiles of 4 rows × 32 columns), then blocks of 16
// and 8 on AVX2 (4 × 16), the last columns in scalar code. Each step over K broadcasts
// a value of a per row, loads the block's row of b and does one fused multiply-add per
// vector; every output is summed in the same order whichever kernel computes it, so
// results do not depend on the CPU. A column block is done for all rows of the range
// before the next, so its panel of b stays in cache. E is float32 here: Model[float32]
// is the only one that sets kernels.simd.
func gemmRowsVector[E Float](c, a, b []E, i0, i1, N, K, ai, ap int, add bool) {
	c32, a32, b32 := f32(c), f32(a), f32(b)
	j := 0
	if haveAVX512 {
		j = gemm512(c32, a32, b32, i0, i1, N, K, ai, ap, add)
	}
	gemm256(c32, a32, b32, i0, i1, N, K, ai, ap, add, j)
}

// haveAVX512 says gemm runs its 32-column blocks on AVX-512.
var haveAVX512 = archsimd.X86.AVX512()

// load16 is c[:16] as a vector, or zeros when the gemm writes rather than adds.
func load16(c []float32, add bool) archsimd.Float32x16 {
	if add {
		return archsimd.LoadFloat32x16Slice(c)
	}
	return archsimd.Float32x16{}
}

func load8(c []float32, add bool) archsimd.Float32x8 {
	if add {
		return archsimd.LoadFloat32x8Slice(c)
	}
	return archsimd.Float32x8{}
}

// gemm512 does the blocks of 32 columns and returns the first column it left.
func gemm512(c, a, b []float32, i0, i1, N, K, ai, ap int, add bool) int {
	j := 0
	for ; j+32 <= N; j += 32 {
		i := i0
		for ; i+4 <= i1; i += 4 {
			c0, c1, c2, c3 := c[i*N+j:i*N+j+32], c[(i+1)*N+j:(i+1)*N+j+32], c[(i+2)*N+j:(i+2)*N+j+32], c[(i+3)*N+j:(i+3)*N+j+32]
			s00, s01 := load16(c0, add), load16(c0[16:], add)
			s10, s11 := load16(c1, add), load16(c1[16:], add)
			s20, s21 := load16(c2, add), load16(c2[16:], add)
			s30, s31 := load16(c3, add), load16(c3[16:], add)
			o := i * ai
			for p := range K {
				bp := b[p*N+j : p*N+j+32]
				y0, y1 := archsimd.LoadFloat32x16Slice(bp), archsimd.LoadFloat32x16Slice(bp[16:])
				x := archsimd.BroadcastFloat32x16(a[o])
				s00, s01 = x.MulAdd(y0, s00), x.MulAdd(y1, s01)
				x = archsimd.BroadcastFloat32x16(a[o+ai])
				s10, s11 = x.MulAdd(y0, s10), x.MulAdd(y1, s11)
				x = archsimd.BroadcastFloat32x16(a[o+2*ai])
				s20, s21 = x.MulAdd(y0, s20), x.MulAdd(y1, s21)
				x = archsimd.BroadcastFloat32x16(a[o+3*ai])
				s30, s31 = x.MulAdd(y0, s30), x.MulAdd(y1, s31)
				o += ap
			}
			s00.StoreSlice(c0)
			s01.StoreSlice(c0[16:])
			s10.StoreSlice(c1)
			s11.StoreSlice(c1[16:])
			s20.StoreSlice(c2)
			s21.StoreSlice(c2[16:])
			s30.StoreSlice(c3)
			s31.StoreSlice(c3[16:])
		}
		for ; i < i1; i++ {
			ci := c[i*N+j : i*N+j+32]
			s0, s1 := load16(ci, add), load16(ci[16:], add)
			o := i * ai
			for p := range K {
				bp := b[p*N+j : p*N+j+32]
				x := archsimd.BroadcastFloat32x16(a[o])
				s0, s1 = archsimd.LoadFloat32x16Slice(bp).MulAdd(x, s0), archsimd.LoadFloat32x16Slice(bp[16:]).MulAdd(x, s1)
				o += ap
			}
			s0.StoreSlice(ci)
			s1.StoreSlice(ci[16:])
		}
	}
	return j
}

// gemm256 does the columns from j on: blocks of 16 and 8 on AVX2, then scalar.
func gemm256(c, a, b []float32, i0, i1, N, K, ai, ap int, add bool, j int) {
	for ; j+16 <= N; j += 16 {
		i := i0
		for ; i+4 <= i1; i += 4 {
			c0, c1, c2, c3 := c[i*N+j:i*N+j+16], c[(i+1)*N+j:(i+1)*N+j+16], c[(i+2)*N+j:(i+2)*N+j+16], c[(i+3)*N+j:(i+3)*N+j+16]
			s00, s01 := load8(c0, add), load8(c0[8:], add)
			s10, s11 := load8(c1, add), load8(c1[8:], add)
			s20, s21 := load8(c2, add), load8(c2[8:], add)
			s30, s31 := load8(c3, add), load8(c3[8:], add)
			o := i * ai
			for p := range K {
				bp := b[p*N+j : p*N+j+16]
				y0, y1 := archsimd.LoadFloat32x8Slice(bp), archsimd.LoadFloat32x8Slice(bp[8:])
				x := archsimd.BroadcastFloat32x8(a[o])
				s00, s01 = x.MulAdd(y0, s00), x.MulAdd(y1, s01)
				x = archsimd.BroadcastFloat32x8(a[o+ai])
				s10, s11 = x.MulAdd(y0, s10), x.MulAdd(y1, s11)
				x = archsimd.BroadcastFloat32x8(a[o+2*ai])
				s20, s21 = x.MulAdd(y0, s20), x.MulAdd(y1, s21)
				x = archsimd.BroadcastFloat32x8(a[o+3*ai])
				s30, s31 = x.MulAdd(y0, s30), x.MulAdd(y1, s31)
				o += ap
			}
			s00.StoreSlice(c0)
			s01.StoreSlice(c0[8:])
			s10.StoreSlice(c1)
			s11.StoreSlice(c1[8:])
			s20.StoreSlice(c2)
			s21.StoreSlice(c2[8:])
			s30.StoreSlice(c3)
			s31.StoreSlice(c3[8:])
		}
		for ; i < i1; i++ {
			ci := c[i*N+j : i*N+j+16]
			s0, s1 := load8(ci, add), load8(ci[8:], add)
			o := i * ai
			for p := range K {
				bp := b[p*N+j : p*N+j+16]
				x := archsimd.BroadcastFloat32x8(a[o])
				s0, s1 = archsimd.LoadFloat32x8Slice(bp).MulAdd(x, s0), archsimd.LoadFloat32x8Slice(bp[8:]).MulAdd(x, s1)
				o += ap
			}
			s0.StoreSlice(ci)
			s1.StoreSlice(ci[8:])
		}
	}
	for ; j+8 <= N; j += 8 {
		for i := i0; i < i1; i++ {
			ci := c[i*N+j : i*N+j+8]
			s := load8(ci, add)
			o := i * ai
			for p := range K {
				s = archsimd.LoadFloat32x8Slice(b[p*N+j:p*N+j+8]).MulAdd(archsimd.BroadcastFloat32x8(a[o]), s)
				o += ap
			}
			s.StoreSlice(ci)
		}
	}
	for ; j < N; j++ {
		for i := i0; i < i1; i++ {
			var s float32
			if add {
				s = c[i*N+j]
			}
			o := i * ai
			for p := range K {
				s += a[o] * b[p*N+j]
				o += ap
			}
			c[i*N+j] = s
		}
	}
}

// exp8 is expf on 8 lanes, for x in [−87.3, 88.3] (inputs outside are clamped there):
// the same reduction and polynomial as expf.
func exp8(x archsimd.Float32x8) archsimd.Float32x8 {
	bc := archsimd.BroadcastFloat32x8
	x = x.Max(bc(-87.33654)).Min(bc(88.3))
	n := x.MulAdd(bc(1.44269504088896341), bc(0.5)).Floor()
	r := n.MulAdd(bc(-0.693359375), x)
	r = n.MulAdd(bc(2.12194440e-4), r)
	p := bc(1.9875691500e-4)
	p = p.MulAdd(r, bc(1.3981999507e-3))
	p = p.MulAdd(r, bc(8.3334519073e-3))
	p = p.MulAdd(r, bc(4.1665795894e-2))
	p = p.MulAdd(r, bc(1.6666665459e-1))
	p = p.MulAdd(r, bc(5.0000001201e-1))
	p = p.Mul(r).MulAdd(r, r).Add(bc(1))
	pow2n := n.ConvertToInt32().Add(archsimd.BroadcastInt32x8(127)).ShiftAllLeft(23).AsFloat32x8()
	return p.Mul(pow2n)
}

// swigluForwardVector is swigluForwardRows for float32 on 8 lanes.
func swigluForwardVector[E Float](out, fc []E, N, F int) {
	o32, fc32 := f32(out), f32(fc)
	one := archsimd.BroadcastFloat32x8(1)
	zero := archsimd.BroadcastFloat32x8(0)
	for n := range N {
		gate, up, o := fc32[n*2*F:n*2*F+F], fc32[n*2*F+F:n*2*F+2*F], o32[n*F:n*F+F]
		i := 0
		for ; i+8 <= F; i += 8 {
			g, u := archsimd.LoadFloat32x8Slice(gate[i:]), archsimd.LoadFloat32x8Slice(up[i:])
			s := one.Div(one.Add(exp8(zero.Sub(g))))
			g.Mul(s).Mul(u).StoreSlice(o[i:])
		}
		for ; i < F; i++ {
			g := gate[i]
			o[i] = g / (1 + expf(-g)) * up[i]
		}
	}
}

// swigluBackwardVector is swigluBackwardRows for float32 on 8 lanes.
func swigluBackwardVector[E Float](dfc, dout, fc []E, N, F int) {
	dfc32, dout32, fc32 := f32(dfc), f32(dout), f32(fc)
	one := archsimd.BroadcastFloat32x8(1)
	zero := archsimd.BroadcastFloat32x8(0)
	for n := range N {
		gate, up := fc32[n*2*F:n*2*F+F], fc32[n*2*F+F:n*2*F+2*F]
		dgate, dup := dfc32[n*2*F:n*2*F+F], dfc32[n*2*F+F:n*2*F+2*F]
		dy := dout32[n*F : n*F+F]
		i := 0
		for ; i+8 <= F; i += 8 {
			g, u, d := archsimd.LoadFloat32x8Slice(gate[i:]), archsimd.LoadFloat32x8Slice(up[i:]), archsimd.LoadFloat32x8Slice(dy[i:])
			s := one.Div(one.Add(exp8(zero.Sub(g))))
			// dgate = dy·up·s·(1 + g·(1−s)), dup = dy·g·s
			d.Mul(u).Mul(s).Mul(g.Mul(one.Sub(s)).Add(one)).StoreSlice(dgate[i:])
			d.Mul(g).Mul(s).StoreSlice(dup[i:])
		}
		for ; i < F; i++ {
			g := gate[i]
			s := 1 / (1 + expf(-g))
			dgate[i] = dy[i] * up[i] * s * (1 + g*(1-s))
			dup[i] = dy[i] * g * s
		}
	}
}

// softmaxVector is softmax for float32 on 8 lanes.
func softmaxVector[E Float](x []E, scale E) {
	v := f32(x)
	sc := archsimd.BroadcastFloat32x8(float32(scale))
	maxs := float32(math.Inf(-1))
	i := 0
	if len(v) >= 8 {
		m := archsimd.BroadcastFloat32x8(maxs)
		for ; i+8 <= len(v); i += 8 {
			y := archsimd.LoadFloat32x8Slice(v[i:]).Mul(sc)
			y.StoreSlice(v[i:])
			m = m.Max(y)
		}
		var lanes [8]float32
		m.Store(&lanes)
		for _, l := range lanes {
			maxs = max(maxs, l)
		}
	}
	for ; i < len(v); i++ {
		v[i] *= float32(scale)
		maxs = max(maxs, v[i])
	}
	var sum float64
	mx := archsimd.BroadcastFloat32x8(maxs)
	i = 0
	if len(v) >= 8 {
		acc := archsimd.BroadcastFloat32x8(0)
		for ; i+8 <= len(v); i += 8 {
			e := exp8(archsimd.LoadFloat32x8Slice(v[i:]).Sub(mx))
			e.StoreSlice(v[i:])
			acc = acc.Add(e)
		}
		var lanes [8]float32
		acc.Store(&lanes)
		for _, l := range lanes {
			sum += float64(l)
		}
	}
	for ; i < len(v); i++ {
		v[i] = expf(v[i] - maxs)
		sum += float64(v[i])
	}
	inv := float32(1 / sum)
	iv := archsimd.BroadcastFloat32x8(inv)
	i = 0
	for ; i+8 <= len(v); i += 8 {
		archsimd.LoadFloat32x8Slice(v[i:]).Mul(iv).StoreSlice(v[i:])
	}
	for ; i < len(v); i++ {
		v[i] *= inv
	}
}

// adamVector runs adamStep.update on params[lo:hi] 8 at a time and returns where it
// stopped (the scalar loop does the rest). It does the same IEEE operations in the same
// order as the scalar loop (no fused multiply-add; a float32 square root is what the
// scalar float64 one rounds to), so the result is the same bit for bit.
func adamVector(c *adamStep, params, grads, m, v []float32, lo, hi int, wd float32) int {
	bc := archsimd.BroadcastFloat32x8
	scale, b1, b2 := bc(c.scale), bc(c.b1), bc(c.b2)
	nb1, nb2 := bc(1-c.b1), bc(1-c.b2)
	bc1, bc2, lr, eps, w := bc(c.bc1), bc(c.bc2), bc(c.lr), bc(c.eps), bc(wd)
	i := lo
	for ; i+8 <= hi; i += 8 {
		g := archsimd.LoadFloat32x8Slice(grads[i:]).Mul(scale)
		mi := b1.Mul(archsimd.LoadFloat32x8Slice(m[i:])).Add(nb1.Mul(g))
		vi := b2.Mul(archsimd.LoadFloat32x8Slice(v[i:])).Add(nb2.Mul(g).Mul(g))
		mi.StoreSlice(m[i:])
		vi.StoreSlice(v[i:])
		mhat, vhat := mi.Div(bc1), vi.Div(bc2)
		p := archsimd.LoadFloat32x8Slice(params[i:])
		p.Sub(lr.Mul(mhat.Div(vhat.Sqrt().Add(eps)).Add(w.Mul(p)))).StoreSlice(params[i:])
	}
	return i
}
