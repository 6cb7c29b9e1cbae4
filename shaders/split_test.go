package shaders

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMatMulPart holds the kernels of a weight split by rows to the float64 twin of the
// whole product: three uneven parts, f32 and Q8, each writing its columns of y [T, out]
// (with its slice of the bias), for both matvec layouts and the tiled kernel.
func TestMatMulPart(t *testing.T) {
	d := device(t)
	defer func(o overrides, w bool) { d.matvec, d.rowsWide = o, w }(d.matvec, d.rowsWide)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct{ T, in, out int }{{1, 67, 45}, {7, 131, 250}, {70, 200, 130}, {10, 96, 70}} {
		x, w := randVec(rng, c.T*c.in, 1), randVec(rng, c.out*c.in, 1)
		bias := randVec(rng, c.out, 1)
		q, scale := quantize(w, c.out, c.in)
		nb := (c.in + 31) / 32
		want := matmulTwin(x, func(o, i int) float64 { return float64(w[o*c.in+i]) }, bias, c.T, c.in, c.out)
		wantQ := matmulTwin(x, func(o, i int) float64 { return float64(q[o*c.in+i]) * float64(scale[o*nb+i/32]) }, bias, c.T, c.in, c.out)
		cuts := []int{0, c.out / 3, c.out/3 + c.out/2, c.out}
		bx, bb := must(d.NewBufferF32("x", x)), must(d.NewBufferF32("b", bias))
		var parts []*Buffer
		var partsQ []Q8
		// The same weight as views of rows of one buffer behind 5 rows of another matrix
		// (a stacked weight).
		const junk = 5
		jw := append(randVec(rng, junk*c.in, 1), w...)
		jq, js := quantize(jw, junk+c.out, c.in)
		stacked := must(d.NewBufferF32("stacked", jw))
		stackedQ := must(d.NewQ8("stacked", junk+c.out, c.in))
		must(0, d.WriteQ8(stackedQ, jq, js))
		for k := range 3 {
			r0, r1 := cuts[k], cuts[k+1]
			parts = append(parts, must(d.NewBufferF32("w part", w[r0*c.in:r1*c.in])))
			pq := must(d.NewQ8("w part", r1-r0, c.in))
			must(0, d.WriteQ8(pq, q[r0*c.in:r1*c.in], scale[r0*nb:r1*nb]))
			partsQ = append(partsQ, pq)
		}
		for _, k := range matmulKernels {
			for _, mode := range []int{0, 1, 2, 3} {
				quant, view := mode%2 == 1, mode >= 2
				if k.kind == kernRows && !(quant && rowsQ8(c.in) || !quant && rowsVec4(c.in)) {
					continue
				}
				name := fmt.Sprintf("T=%d in=%d out=%d q8=%v view=%v %s", c.T, c.in, c.out, quant, view, k.name)
				y := must(d.NewBuffer("y", uint64(4*c.T*c.out)))
				d.matvec, d.rowsWide = k.tuning, k.wide
				b := d.NewBatch("matmul parts")
				for p := range 3 {
					r0, rows := cuts[p], cuts[p+1]-cuts[p]
					switch {
					case view && quant:
						v := stackedQ
						v.Row0, v.Rows = junk+r0, rows
						b.matMulQ8At(y, bx, v, bb, c.T, c.out, r0, k.kind)
					case view:
						b.matMulAt(y, bx, stacked, junk+r0, bb, c.T, c.in, rows, c.out, r0, k.kind)
					case quant:
						b.matMulQ8At(y, bx, partsQ[p], bb, c.T, c.out, r0, k.kind)
					default:
						b.matMulAt(y, bx, parts[p], 0, bb, c.T, c.in, rows, c.out, r0, k.kind)
					}
				}
				if err := b.Run(); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, c.T*c.out)
				must(0, d.ReadF32(got, y, 0))
				ref := want
				if quant && view {
					ref = matmulTwin(x, func(o, i int) float64 {
						return float64(jq[(junk+o)*c.in+i]) * float64(js[(junk+o)*nb+i/32])
					}, bias, c.T, c.in, c.out)
				} else if quant {
					ref = wantQ
				}
				if e := relErr(got, ref); e > 1e-5 {
					t.Errorf("%s: max rel err %.2e > 1e-5", name, e)
				}
				b.Release()
				y.Release()
			}
		}
		bx.Release()
		bb.Release()
		stacked.Release()
		stackedQ.Release()
		for p := range 3 {
			parts[p].Release()
			partsQ[p].Release()
		}
	}
}

// TestEmbedPart gathers from a table split into two parts: every token's row comes
// from the part holding it, f32 and Q8, and with keep no part touches the other's rows.
func TestEmbedPart(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(23, 24))
	const T, D, V, cut = 9, 67, 50, 19
	table := randVec(rng, V*D, 1)
	q, scale := quantize(table, V, D)
	nb := (D + 31) / 32
	tokens := make([]uint32, T)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(V))
	}
	tokens[0], tokens[1] = cut-1, cut // both sides of the cut
	tk := must(d.NewBufferU32("tokens", tokens))
	lo, hi := must(d.NewBufferF32("lo", table[:cut*D])), must(d.NewBufferF32("hi", table[cut*D:]))
	loQ, hiQ := must(d.NewQ8("lo", cut, D)), must(d.NewQ8("hi", V-cut, D))
	must(0, d.WriteQ8(loQ, q[:cut*D], scale[:cut*nb]))
	must(0, d.WriteQ8(hiQ, q[cut*D:], scale[cut*nb:]))
	out, outQ := must(d.NewBuffer("out", 4*T*D)), must(d.NewBuffer("outq", 4*T*D))
	b := d.NewBatch("embed parts")
	b.EmbedPart(out, lo, tk, T, D, cut, 0, true)
	b.EmbedPart(out, hi, tk, T, D, V-cut, cut, true)
	b.EmbedQ8Part(outQ, loQ, tk, T, 0, true)
	b.EmbedQ8Part(outQ, hiQ, tk, T, cut, true)
	if err := b.Run(); err != nil {
		t.Fatal(err)
	}
	got, gotQ := make([]float32, T*D), make([]float32, T*D)
	must(0, d.ReadF32(got, out, 0))
	must(0, d.ReadF32(gotQ, outQ, 0))
	for r, tok := range tokens {
		for i := range D {
			want := table[int(tok)*D+i]
			wantQ := float32(q[int(tok)*D+i]) * scale[int(tok)*nb+i/32]
			if got[r*D+i] != want || gotQ[r*D+i] != wantQ {
				t.Fatalf("row %d (token %d) [%d]: f32 %g want %g; q8 %g want %g", r, tok, i, got[r*D+i], want, gotQ[r*D+i], wantQ)
			}
		}
	}
	b.Release()
	for _, x := range []*Buffer{tk, lo, hi, out, outQ} {
		x.Release()
	}
	loQ.Release()
	hiQ.Release()
}
