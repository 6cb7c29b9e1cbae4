package shaders

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// svfCase is one decomposed matrix W[m,n] of rank r with Q8 and f32 factors, and P
// random experts z [P, r].
type svfCase struct {
	m, n, r, P int
	uf, vf     []float32 // f32 factors [m,r], [n,r]
	uq, vq     []int8
	us, vs     []float32
	sigma, z   []float32
}

func newSVFCase(rng *rand.Rand, m, n, r, P int) *svfCase {
	c := &svfCase{m: m, n: n, r: r, P: P, uf: randVec(rng, m*r, 1), vf: randVec(rng, n*r, 1)}
	c.uq, c.us = quantize(c.uf, m, r)
	c.vq, c.vs = quantize(c.vf, n, r)
	c.sigma = make([]float32, r)
	for k := range c.sigma {
		c.sigma[k] = float32(10 * math.Exp(-float64(k)/float64(r)))
	}
	c.z = make([]float32, P*r)
	for i := range c.z {
		c.z[i] = float32(1 / (1 + math.Exp(-(0.1 + rng.NormFloat64())))) // sigmoid(p)
	}
	return c
}

// scales is the float64 twin of SVFScale: σ⊙z[p]·Σσ/Σ(σ⊙z[p]).
func (c *svfCase) scales() []float64 {
	sc := make([]float64, c.P*c.r)
	for p := range c.P {
		var a, b float64
		for k := range c.r {
			a += float64(c.sigma[k])
			b += float64(c.sigma[k]) * float64(c.z[p*c.r+k])
		}
		for k := range c.r {
			sc[p*c.r+k] = float64(c.sigma[k]) * float64(c.z[p*c.r+k]) * a / b
		}
	}
	return sc
}

func (c *svfCase) u(q bool, i, k int) float64 {
	if q {
		return float64(c.uq[i*c.r+k]) * float64(c.us[i*((c.r+31)/32)+k/32])
	}
	return float64(c.uf[i*c.r+k])
}

func (c *svfCase) v(q bool, j, k int) float64 {
	if q {
		return float64(c.vq[j*c.r+k]) * float64(c.vs[j*((c.r+31)/32)+k/32])
	}
	return float64(c.vf[j*c.r+k])
}

// recompose is the float64 twin: W'[i,j] = Σ_k U[i,k]·s[k]·V[j,k].
func (c *svfCase) recompose(q bool, s []float64) []float64 {
	w := make([]float64, c.m*c.n)
	for i := range c.m {
		for j := range c.n {
			var acc float64
			for k := range c.r {
				acc += c.u(q, i, k) * s[k] * c.v(q, j, k)
			}
			w[i*c.n+j] = acc
		}
	}
	return w
}

// upload puts the factors on d.
func (c *svfCase) upload(d *Device, q bool) Factors {
	f := Factors{M: c.m, N: c.n, R: c.r, Sigma: must(d.NewBufferF32("sigma", c.sigma))}
	if q {
		f.U, f.V = must(d.NewQ8("U", c.m, c.r)), must(d.NewQ8("V", c.n, c.r))
		must(0, d.WriteQ8(f.U, c.uq, c.us))
		must(0, d.WriteQ8(f.V, c.vq, c.vs))
	} else {
		f.UF, f.VF = must(d.NewBufferF32("U", c.uf)), must(d.NewBufferF32("V", c.vf))
	}
	return f
}

func (f Factors) release() {
	for _, b := range []*Buffer{f.UF, f.VF, f.Sigma, f.U.Q, f.U.Scale, f.V.Q, f.V.Scale} {
		b.Release()
	}
}

// svfShapes: ranks off 4 and 32 (element loads), and ranks of 32s (vec4 loads), with
// sizes off the 4×4 blocks.
var svfShapes = []struct{ m, n, r, P int }{
	{130, 97, 75, 3}, {67, 200, 67, 1}, {200, 333, 150, 5}, {97, 70, 64, 2}, {150, 36, 96, 1},
	{77, 132, 100, 4},
}

func TestRecompose(t *testing.T) {
	d := device(t)
	defer func(w bool) { d.rowsWide = w }(d.rowsWide)
	rng := rand.New(rand.NewPCG(17, 18))
	for i, sh := range svfShapes {
		c := newSVFCase(rng, sh.m, sh.n, sh.r, sh.P)
		sc := c.scales()
		for _, q := range []bool{true, false} {
			// SwiftShader's 4×8 blocks (recompose_wide) on every other shape.
			d.rowsWide = i%2 == 1
			name := fmt.Sprintf("m=%d n=%d r=%d q8=%v wide=%v", c.m, c.n, c.r, q, d.rowsWide)
			f := c.upload(d, q)
			z := must(d.NewBufferF32("z", c.z))
			s := must(d.NewBuffer("s", uint64(4*c.P*c.r)))
			w := must(d.NewBuffer("w", uint64(4*c.m*c.n)))
			b := d.NewBatch("recompose")
			b.SVFScale(s, f.Sigma, z, c.P, c.r)
			b.Recompose(w, f, s) // row 0 of s: expert 0
			// W' as Q8, from Q8 or f32 factors, into rows 3… of a buffer stacked behind
			// another matrix's rows.
			const junk = 3
			wq := must(d.NewQ8("wq", junk+c.m, c.n))
			junkB := make([]byte, wq.Q.size)
			for i := range junkB {
				junkB[i] = 0xa5
			}
			must(0, d.Write(wq.Q, 0, junkB))
			b.Clear(wq.Q, 0, 0)
			view := wq
			view.Row0, view.Rows = junk, c.m
			// Scratch for 7 rows: the recomposition goes in chunks.
			scratch := must(d.NewBuffer("scratch", uint64(4*7*c.n)))
			defer scratch.Release()
			b.RecomposeInto(LinearQ8(view), f, s, scratch)
			if err := b.Run(); err != nil {
				t.Fatal(err)
			}
			gotS := make([]float32, c.P*c.r)
			must(0, d.ReadF32(gotS, s, 0))
			es := relErr(gotS, sc)
			got := make([]float32, c.m*c.n)
			must(0, d.ReadF32(got, w, 0))
			ew := relErr(got, c.recompose(q, sc[:c.r]))
			t.Logf("%s: max rel err SVFScale %.2e, Recompose %.2e", name, es, ew)
			if es > 1e-5 || ew > 1e-5 {
				t.Errorf("%s: max rel err SVFScale %.2e Recompose %.2e > 1e-5", name, es, ew)
			}
			checkRecomposeQ8(t, d, name, wq, junk, got)
			wq.Release()
			b.Release()
			f.release()
			z.Release()
			s.Release()
			w.Release()
		}
	}
}

// checkRecomposeQ8 holds rows row0… of the Q8 w to the quantisation of the f32 W' got
// (rows before row0 must be zero): per block of 32 along n, scale = max|W'|/127,
// q = round(W'/scale). The GPU divides with its own
// rounding, so q may differ by one where W'/scale is within an ulp of a half.
func checkRecomposeQ8(t *testing.T, d *Device, name string, w Q8, row0 int, wf []float32) {
	t.Helper()
	q := make([]int8, w.Rows*w.Cols)
	scale := make([]float32, w.Rows*w.Blocks())
	must(0, d.ReadQ8(q, scale, w))
	for i := range row0 * w.Cols {
		if q[i] != 0 {
			t.Errorf("%s: RecomposeQ8 into rows %d…: byte %d before them is %d, want 0 (cleared)", name, row0, i, q[i])
			return
		}
	}
	q, scale = q[row0*w.Cols:], scale[row0*w.Blocks():]
	wantQ, wantS := quantize(wf, w.Rows-row0, w.Cols)
	var maxS float64
	for i := range scale {
		maxS = math.Max(maxS, math.Abs(float64(scale[i])-float64(wantS[i]))/float64(wantS[i]))
	}
	off := 0
	for i := range q {
		if dq := int(q[i]) - int(wantQ[i]); dq != 0 {
			off++
			if dq > 1 || dq < -1 {
				t.Errorf("%s: W'q[%d] = %d, want %d", name, i, q[i], wantQ[i])
				return
			}
		}
	}
	t.Logf("%s: RecomposeQ8: scales max rel err %.2e, %d of %d values off by one", name, maxS, off, len(q))
	if maxS > 1e-6 || off > len(q)/1000 {
		t.Errorf("%s: RecomposeQ8: scales max rel err %.2e, %d values off by one", name, maxS, off)
	}
}

// TestFactored holds the factored apply to its float64 twin, in the layouts of a GPU
// (factored.wgsl's tiles) and of a CPU adapter (factored_rows.wgsl where n and r are
// multiples of 4).
func TestFactored(t *testing.T) {
	d := device(t)
	defer func(o overrides) { d.matvec = o }(d.matvec)
	rng := rand.New(rand.NewPCG(19, 20))
	for _, sh := range svfShapes {
		c := newSVFCase(rng, sh.m, sh.n, sh.r, sh.P)
		sc := c.scales()
		for _, T := range []int{1, 7, 70} {
			for _, layout := range []string{"gpu", "cpu"} {
				d.matvec = matvecTuning(layout == "cpu")
				for _, q := range []bool{true, false} {
					name := fmt.Sprintf("m=%d n=%d r=%d P=%d T=%d q8=%v layout=%s", c.m, c.n, c.r, c.P, T, q, layout)
					x := randVec(rng, T*c.n, 1)
					cand := make([]uint32, T)
					for i := range cand {
						cand[i] = uint32(rng.IntN(c.P))
					}
					if T > 1 {
						cand[T-1] = uint32(c.P) // no candidate: zeros
					}
					// Twin: y[t] = U (s_cand ⊙ Vᵀ x[t]).
					want := make([]float64, T*c.m)
					for t := range T {
						if int(cand[t]) >= c.P {
							continue
						}
						h := make([]float64, c.r)
						for k := range c.r {
							for j := range c.n {
								h[k] += float64(x[t*c.n+j]) * c.v(q, j, k)
							}
							h[k] *= sc[int(cand[t])*c.r+k]
						}
						for i := range c.m {
							for k := range c.r {
								want[t*c.m+i] += c.u(q, i, k) * h[k]
							}
						}
					}
					f := c.upload(d, q)
					z := must(d.NewBufferF32("z", c.z))
					s := must(d.NewBuffer("s", uint64(4*c.P*c.r)))
					bx, bc := must(d.NewBufferF32("x", x)), must(d.NewBufferU32("cand", cand))
					h := must(d.NewBuffer("h", uint64(4*T*c.r)))
					y := must(d.NewBuffer("y", uint64(4*T*c.m)))
					b := d.NewBatch("factored")
					b.SVFScale(s, f.Sigma, z, c.P, c.r)
					b.Factored(y, bx, f, s, bc, h, T, c.P)
					if err := b.Run(); err != nil {
						t.Fatal(err)
					}
					got := make([]float32, T*c.m)
					must(0, d.ReadF32(got, y, 0))
					e := relErr(got, want)
					t.Logf("%s: max rel err %.2e", name, e)
					if e > 1e-5 {
						t.Errorf("%s: max rel err %.2e > 1e-5", name, e)
					}
					b.Release()
					f.release()
					for _, x := range []*Buffer{z, s, bx, bc, h, y} {
						x.Release()
					}
				}
			}
		}
	}
}
