package shaders

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fusedWeight is a random weight [rows, cols] uploaded as f32 or Q8, with at(o, i) its
// exact value (dequantised) for the twins.
type fusedWeight struct {
	lin Linear
	at  func(o, i int) float64
}

func newFusedWeight(t *testing.T, d *Device, rng *rand.Rand, rows, cols int, q8 bool) fusedWeight {
	t.Helper()
	w := randVec(rng, rows*cols, 1)
	if !q8 {
		buf := must(d.NewBufferF32("w", w))
		t.Cleanup(buf.Release)
		return fusedWeight{LinearF32(buf, rows, cols), func(o, i int) float64 { return float64(w[o*cols+i]) }}
	}
	q, scale := quantize(w, rows, cols)
	x := must(d.NewQ8("w", rows, cols))
	t.Cleanup(x.Release)
	must(0, d.WriteQ8(x, q, scale))
	nb := x.Blocks()
	return fusedWeight{LinearQ8(x), func(o, i int) float64 { return float64(q[o*cols+i]) * float64(scale[o*nb+i/32]) }}
}

// fusedX is the twin of a fused kernel's prologue: the rows of x it reads (x[gather[t]]
// or x[t]), RMS-normalised with weight nw when nw is not nil, in float64.
func fusedX(x []float32, gather []uint32, nw []float32, eps float64, T, in int) [][]float64 {
	rows := make([][]float64, T)
	for t := range T {
		r := t
		if gather != nil {
			r = int(gather[t])
		}
		row := f64s(x[r*in : (r+1)*in])
		if nw != nil {
			var ss float64
			for _, v := range row {
				ss += v * v
			}
			inv := 1 / math.Sqrt(ss/float64(in)+eps)
			for i := range row {
				row[i] *= inv * float64(nw[i])
			}
		}
		rows[t] = row
	}
	return rows
}

// fusedDot is row o of the weight times xr, plus bias[o] when bias is not nil.
func fusedDot(w fusedWeight, xr []float64, o int, bias []float32) float64 {
	var s float64
	for i, v := range xr {
		s += v * w.at(o, i)
	}
	if bias != nil {
		s += float64(bias[o])
	}
	return s
}

// fusedLayouts are the layouts the fused kernels are held to on this (CPU) adapter: its
// own, and the GPU one.
var fusedLayouts = []struct {
	name   string
	tuning overrides
}{{"cpu-layout", matvecTuning(true)}, {"gpu-layout", matvecTuning(false)}}

// consts uploads the constants buffer of a test: norm weight at 0 (in values), bias after
// it, RoPE table after that; it returns the buffer and the three offsets.
func fusedConsts(t *testing.T, d *Device, nw, bias, rope []float32) (*Buffer, int, int, int) {
	t.Helper()
	all := append(append(append([]float32{}, nw...), bias...), rope...)
	buf := must(d.NewBufferF32("consts", append(all, 0)))
	t.Cleanup(buf.Release)
	return buf, 0, len(nw), len(nw) + len(bias)
}

func TestMatVecFused(t *testing.T) {
	d := device(t)
	defer func(o overrides) { d.matvec = o }(d.matvec)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct {
		T, in, out, ldy, y0      int
		q8, norm, gather, add, b bool
	}{
		{T: 1, in: 576, out: 1536, q8: true, norm: true, b: true},
		{T: 1, in: 67, out: 45, q8: true, add: true},
		{T: 1, in: 48, out: 40, ldy: 50, y0: 7, q8: true, norm: true, add: true, b: true},
		{T: 3, in: 64, out: 70, norm: true, gather: true},
		{T: 9, in: 96, out: 33, q8: true, norm: true, add: true, b: true},
		{T: 2, in: 50, out: 19, b: true},
	} {
		ldy := max(c.ldy, c.out)
		w := newFusedWeight(t, d, rng, c.out, c.in, c.q8)
		nx := c.T
		var gather []uint32
		if c.gather {
			nx = c.T + 4
			for i := range c.T {
				gather = append(gather, uint32((3*i+2)%nx))
			}
		}
		x := randVec(rng, nx*c.in, 1)
		var nw, bias []float32
		if c.norm {
			nw = randVec(rng, c.in, 1)
		}
		if c.b {
			bias = randVec(rng, ldy, 1)
		}
		y0 := randVec(rng, c.T*ldy, 1)
		xr := fusedX(x, gather, nw, 1e-5, c.T, c.in)
		want := f64s(y0)
		for t := range c.T {
			for o := range c.out {
				var bo []float32
				v := fusedDot(w, xr[t], o, nil)
				if bias != nil {
					bo = bias
					v += float64(bo[c.y0+o])
				}
				if c.add {
					v += want[t*ldy+c.y0+o]
				}
				want[t*ldy+c.y0+o] = v
			}
		}
		cs, normOff, biasOff, _ := fusedConsts(t, d, nw, bias, nil)
		m := MV{T: c.T, Norm: c.norm, NormOff: normOff, Eps: 1e-5, Consts: cs, BiasOff: -1}
		if c.b {
			m.BiasOff = biasOff
		}
		xb := must(d.NewBufferF32("x", x))
		if c.gather {
			m.Gather = must(d.NewBufferU32("gather", gather))
		}
		yb := must(d.NewBuffer("y", uint64(4*c.T*ldy)))
		for _, l := range fusedLayouts {
			name := fmt.Sprintf("%s/T%d/%dx%d/q8=%v/norm=%v/gather=%v/add=%v/bias=%v", l.name, c.T, c.out, c.in, c.q8, c.norm, c.gather, c.add, c.b)
			d.matvec = l.tuning
			must(0, d.WriteF32(yb, 0, y0))
			b := d.NewBatch("mv")
			b.MatVecFused(yb, ldy, c.y0, c.add, xb, w.lin, m)
			if err := b.Run(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b.Release()
			got := make([]float32, c.T*ldy)
			must(0, d.ReadF32(got, yb, 0))
			if e := relErr(got, want); e > 2e-5 {
				t.Errorf("%s: relative error %.3g", name, e)
			}
		}
		xb.Release()
		yb.Release()
		m.Gather.Release()
	}
}

func TestSwiGLUFused(t *testing.T) {
	d := device(t)
	defer func(o overrides) { d.matvec = o }(d.matvec)
	rng := rand.New(rand.NewPCG(33, 34))
	for _, c := range []struct {
		T, in, F int
		q8, b    bool
	}{
		{1, 576, 1536, true, false}, {5, 40, 21, false, true}, {1, 64, 37, true, true}, {9, 64, 20, false, false},
	} {
		w := newFusedWeight(t, d, rng, 2*c.F, c.in, c.q8)
		x := randVec(rng, c.T*c.in, 1)
		nw := randVec(rng, c.in, 1)
		var bias []float32
		if c.b {
			bias = randVec(rng, 2*c.F, 1)
		}
		xr := fusedX(x, nil, nw, 1e-6, c.T, c.in)
		want := make([]float64, c.T*c.F)
		for t := range c.T {
			for j := range c.F {
				g, u := fusedDot(w, xr[t], j, bias), fusedDot(w, xr[t], c.F+j, bias)
				want[t*c.F+j] = g / (1 + math.Exp(-g)) * u
			}
		}
		cs, normOff, biasOff, _ := fusedConsts(t, d, nw, bias, nil)
		m := MV{T: c.T, Norm: true, NormOff: normOff, Eps: 1e-6, Consts: cs, BiasOff: -1}
		if c.b {
			m.BiasOff = biasOff
		}
		xb := must(d.NewBufferF32("x", x))
		yb := must(d.NewBuffer("y", uint64(4*c.T*c.F)))
		for _, l := range fusedLayouts {
			name := fmt.Sprintf("%s/T%d/F%d/in%d/q8=%v/bias=%v", l.name, c.T, c.F, c.in, c.q8, c.b)
			d.matvec = l.tuning
			b := d.NewBatch("swiglu")
			b.SwiGLUFused(yb, xb, w.lin, m)
			if err := b.Run(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b.Release()
			got := make([]float32, c.T*c.F)
			must(0, d.ReadF32(got, yb, 0))
			if e := relErr(got, want); e > 2e-5 {
				t.Errorf("%s: relative error %.3g", name, e)
			}
		}
		xb.Release()
		yb.Release()
	}
}

func TestQKVFused(t *testing.T) {
	d := device(t)
	defer func(o overrides) { d.matvec = o }(d.matvec)
	rng := rand.New(rand.NewPCG(35, 36))
	for _, c := range []struct {
		T, in, H, Hkv, Dh, seqs, S int
		q8, b                      bool
	}{
		{1, 576, 9, 3, 64, 1, 40, true, false},
		{4, 64, 4, 2, 16, 2, 12, true, true},
		{3, 30, 2, 1, 6, 2, 5, false, true},
	} {
		rows := (c.H + 2*c.Hkv) * c.Dh
		kvd := c.Hkv * c.Dh
		half := c.Dh / 2
		w := newFusedWeight(t, d, rng, rows, c.in, c.q8)
		x := randVec(rng, c.T*c.in, 1)
		nw := randVec(rng, c.in, 1)
		var bias []float32
		if c.b {
			bias = randVec(rng, rows, 1)
		}
		invFreq := make([]float64, half)
		for i := range invFreq {
			invFreq[i] = math.Pow(10000, -2*float64(i)/float64(c.Dh))
		}
		rope := RopeTable(invFreq, c.S)
		// Rows: distinct (seq, pos) slots; the last row of a multi-row case has a sequence
		// outside the cache and must be skipped.
		meta := make([]uint32, 2*c.T)
		for t := range c.T {
			meta[2*t], meta[2*t+1] = uint32((7*t+3)%c.S), uint32(t%c.seqs)
		}
		if c.T > 1 {
			meta[2*c.T-1] = uint32(c.seqs)
		}
		xr := fusedX(x, nil, nw, 1e-5, c.T, c.in)
		kc0, vc0 := randVec(rng, c.seqs*c.S*kvd, 1), randVec(rng, c.seqs*c.S*kvd, 1)
		wantQ := make([]float64, c.T*c.H*c.Dh)
		wantK, wantV := f64s(kc0), f64s(vc0)
		for t := range c.T {
			pos, seq := int(meta[2*t]), int(meta[2*t+1])
			for hh := range c.H + 2*c.Hkv {
				for i := range half {
					r := hh*c.Dh + i
					a, b := fusedDot(w, xr[t], r, bias), fusedDot(w, xr[t], r+half, bias)
					if hh < c.H+c.Hkv {
						co, si := float64(rope[2*(pos*half+i)]), float64(rope[2*(pos*half+i)+1])
						a, b = a*co-b*si, b*co+a*si
					}
					switch {
					case seq >= c.seqs:
					case hh < c.H:
						wantQ[t*c.H*c.Dh+hh*c.Dh+i], wantQ[t*c.H*c.Dh+hh*c.Dh+i+half] = a, b
					case hh < c.H+c.Hkv:
						o := (seq*c.S+pos)*kvd + (hh-c.H)*c.Dh + i
						wantK[o], wantK[o+half] = a, b
					default:
						o := (seq*c.S+pos)*kvd + (hh-c.H-c.Hkv)*c.Dh + i
						wantV[o], wantV[o+half] = a, b
					}
				}
			}
		}
		cs, normOff, biasOff, ropeOff := fusedConsts(t, d, nw, bias, rope)
		m := MV{T: c.T, Norm: true, NormOff: normOff, Eps: 1e-5, Consts: cs, BiasOff: -1}
		if c.b {
			m.BiasOff = biasOff
		}
		cache := KVCache{Seqs: c.seqs, S: c.S, Hkv: c.Hkv, Dh: c.Dh}
		xb := must(d.NewBufferF32("x", x))
		mb := must(d.NewBufferU32("meta", meta))
		qb := must(d.NewBuffer("q", uint64(4*c.T*c.H*c.Dh)))
		kc, vc := must(d.NewBuffer("kc", uint64(4*len(kc0)))), must(d.NewBuffer("vc", uint64(4*len(vc0))))
		for _, l := range fusedLayouts {
			name := fmt.Sprintf("%s/T%d/H%d/Hkv%d/Dh%d/in%d/q8=%v/bias=%v", l.name, c.T, c.H, c.Hkv, c.Dh, c.in, c.q8, c.b)
			d.matvec = l.tuning
			must(0, d.WriteF32(kc, 0, kc0))
			must(0, d.WriteF32(vc, 0, vc0))
			must(0, d.WriteF32(qb, 0, make([]float32, c.T*c.H*c.Dh)))
			b := d.NewBatch("qkv")
			b.QKVFused(qb, kc, vc, mb, xb, w.lin, cache, c.H, ropeOff, m)
			if err := b.Run(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b.Release()
			for _, o := range []struct {
				what string
				buf  *Buffer
				want []float64
			}{{"q", qb, wantQ}, {"k cache", kc, wantK}, {"v cache", vc, wantV}} {
				got := make([]float32, len(o.want))
				must(0, d.ReadF32(got, o.buf, 0))
				if e := relErr(got, o.want); e > 2e-5 {
					t.Errorf("%s: %s: relative error %.3g", name, o.what, e)
				}
			}
		}
		for _, b := range []*Buffer{xb, mb, qb, kc, vc} {
			b.Release()
		}
	}
}
