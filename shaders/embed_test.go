package shaders

import (
	"math/rand/v2"
	"testing"
)

func TestEmbed(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ T, D, V int }{{1, 67, 13}, {7, 131, 50}} {
		table := randVec(rng, c.V*c.D, 1)
		tokens := make([]uint32, c.T)
		for i := range tokens {
			tokens[i] = uint32(rng.IntN(c.V))
		}
		tokens[c.T-1] = uint32(c.V + 5) // out of range: zero row
		q, scale := quantize(table, c.V, c.D)

		tb := must(d.NewBufferF32("table", table))
		tk := must(d.NewBufferU32("tokens", tokens))
		tq := must(d.NewQ8("tableq", c.V, c.D))
		if err := d.WriteQ8(tq, q, scale); err != nil {
			t.Fatal(err)
		}
		out := must(d.NewBuffer("out", uint64(4*c.T*c.D)))
		outq := must(d.NewBuffer("outq", uint64(4*c.T*c.D)))
		b := d.NewBatch("embed")
		b.Embed(out, tb, tk, c.T, c.D, c.V)
		b.EmbedQ8(outq, tq, tk, c.T)
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, c.T*c.D)
		gotq := make([]float32, c.T*c.D)
		must(0, d.ReadF32(got, out, 0))
		must(0, d.ReadF32(gotq, outq, 0))
		for r, tok := range tokens {
			for i := range c.D {
				var want, wantq float32
				if int(tok) < c.V {
					want = table[int(tok)*c.D+i]
					wantq = float32(q[int(tok)*c.D+i]) * scale[int(tok)*((c.D+31)/32)+i/32]
				}
				if got[r*c.D+i] != want || gotq[r*c.D+i] != wantq {
					t.Fatalf("%+v: row %d (token %d) [%d]: f32 %g want %g; q8 %g want %g", c, r, tok, i, got[r*c.D+i], want, gotq[r*c.D+i], wantq)
				}
			}
		}
		b.Release()
		tb.Release()
		tk.Release()
		tq.Release()
		out.Release()
		outq.Release()
	}
}
