package shaders

import (
	"math"
	"math/rand/v2"
	"testing"
)

// attentionTwin is model.KVCache.Attention in float64 over a cache kc, vc
// [seqs, S, Hkv·Dh] laid out as the GPU's: out[T, H·Dh].
func attentionTwin(q, kc, vc []float32, pos, seq []uint32, c KVCache, T, H, window int) []float64 {
	kvd := c.Hkv * c.Dh
	out := make([]float64, T*H*c.Dh)
	scale := float64(float32(1 / math.Sqrt(float64(c.Dh))))
	for t := range T {
		p := int(pos[t])
		start := 0
		if window > 0 {
			start = max(0, p-window+1)
		}
		for h := range H {
			g := h / (H / c.Hkv)
			base := int(seq[t]) * c.S * kvd
			sc := make([]float64, p+1-start)
			m := math.Inf(-1)
			for j := range sc {
				var dot float64
				for e := range c.Dh {
					dot += float64(q[(t*H+h)*c.Dh+e]) * float64(kc[base+(start+j)*kvd+g*c.Dh+e])
				}
				sc[j] = dot * scale
				m = math.Max(m, sc[j])
			}
			var sum float64
			for j := range sc {
				sc[j] = math.Exp(sc[j] - m)
				sum += sc[j]
			}
			for j := range sc {
				for e := range c.Dh {
					out[(t*H+h)*c.Dh+e] += sc[j] / sum * float64(vc[base+(start+j)*kvd+g*c.Dh+e])
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		name               string
		T, H, Hkv, Dh, S   int
		seqs, past, window int
	}{
		{"decode", 1, 9, 3, 64, 200, 1, 150, 0},
		{"prefill", 7, 6, 2, 48, 100, 1, 0, 0},
		{"prefill after past", 7, 9, 3, 64, 300, 1, 130, 0},
		{"window", 5, 6, 2, 32, 64, 1, 40, 16},
		{"two sequences", 6, 6, 3, 32, 90, 2, 70, 0},
		{"head 128", 3, 4, 1, 128, 80, 1, 65, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := KVCache{Seqs: c.seqs, S: c.S, Hkv: c.Hkv, Dh: c.Dh}
			kvd := c.Hkv * c.Dh
			// Past positions [0, past) of every sequence are already in the cache; the
			// batch appends T rows spread over the sequences.
			kc := randVec(rng, c.seqs*c.S*kvd, 1)
			vc := randVec(rng, c.seqs*c.S*kvd, 1)
			q := randVec(rng, c.T*c.H*c.Dh, 2)
			k := randVec(rng, c.T*kvd, 1)
			v := randVec(rng, c.T*kvd, 1)
			pos, seq := make([]uint32, c.T), make([]uint32, c.T)
			next := make([]int, c.seqs)
			for i := range next {
				next[i] = c.past
			}
			for i := range c.T {
				s := i % c.seqs
				pos[i], seq[i] = uint32(next[s]), uint32(s)
				next[s]++
			}
			// The twin's cache after the store.
			wkc, wvc := append([]float32(nil), kc...), append([]float32(nil), vc...)
			for i := range c.T {
				o := (int(seq[i])*c.S + int(pos[i])) * kvd
				copy(wkc[o:o+kvd], k[i*kvd:(i+1)*kvd])
				copy(wvc[o:o+kvd], v[i*kvd:(i+1)*kvd])
			}
			want := attentionTwin(q, wkc, wvc, pos, seq, cache, c.T, c.H, c.window)

			bkc, bvc := must(d.NewBufferF32("kc", kc)), must(d.NewBufferF32("vc", vc))
			bq, bk, bv := must(d.NewBufferF32("q", q)), must(d.NewBufferF32("k", k)), must(d.NewBufferF32("v", v))
			bp, bs := must(d.NewBufferU32("pos", pos)), must(d.NewBufferU32("seq", seq))
			out := must(d.NewBuffer("out", uint64(4*c.T*c.H*c.Dh)))
			b := d.NewBatch("attention")
			b.StoreKV(bkc, bvc, bk, bv, bp, bs, cache, c.T)
			b.Attention(out, bq, bkc, bvc, bp, bs, cache, c.T, c.H, c.window)
			if err := b.Run(); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, c.T*c.H*c.Dh)
			must(0, d.ReadF32(got, out, 0))
			gotKC := make([]float32, len(kc))
			must(0, d.ReadF32(gotKC, bkc, 0))
			for i := range gotKC {
				if gotKC[i] != wkc[i] {
					t.Fatalf("kc[%d] = %g, want %g", i, gotKC[i], wkc[i])
				}
			}
			e := relErr(got, want)
			t.Logf("max rel err %.2e", e)
			if e > 1e-5 {
				t.Errorf("max rel err %.2e > 1e-5", e)
			}
			b.Release()
			// The split kernels, on the cache the batch stored: every position in one chunk
			// (a prompt's rows), chunks of one position or more, chunks left empty.
			for _, chunks := range []int{1, 3, 16, 200} {
				part := must(d.NewBuffer("part", uint64(4*AttentionSplitParts(c.T, c.H, c.Dh, chunks))))
				b := d.NewBatch("attention split")
				b.AttentionSplit(out, bq, bkc, bvc, bp, bs, part, cache, c.T, c.H, c.window, chunks)
				if err := b.Run(); err != nil {
					t.Fatal(err)
				}
				must(0, d.ReadF32(got, out, 0))
				e := relErr(got, want)
				t.Logf("split in %d chunks: max rel err %.2e", chunks, e)
				if e > 1e-5 {
					t.Errorf("split in %d chunks: max rel err %.2e > 1e-5", chunks, e)
				}
				b.Release()
				part.Release()
			}
			for _, x := range []*Buffer{bkc, bvc, bq, bk, bv, bp, bs, out} {
				x.Release()
			}
		})
	}
}
