package shaders

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
)

// sampleTwin is model.Sampler.Sample (without repetition penalty) with its random draw
// replaced by u.
func sampleTwin(logits []float32, s Sampling, u float64) int {
	if s.Temperature <= 0 {
		return model.Argmax(logits)
	}
	order := make([]int, len(logits))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	n := len(order)
	if s.TopK > 0 && s.TopK < n {
		n = s.TopK
	}
	top := float64(logits[order[0]])
	probs := make([]float64, n)
	var sum float64
	for i, id := range order[:n] {
		probs[i] = math.Exp((float64(logits[id]) - top) / float64(s.Temperature))
		sum += probs[i]
	}
	if tp := float64(s.TopP); tp > 0 && tp < 1 {
		var cum float64
		for i, p := range probs {
			cum += p / sum
			if cum >= tp {
				n = i + 1
				break
			}
		}
		sum = 0
		for _, p := range probs[:n] {
			sum += p
		}
	}
	r := u * sum
	for i, p := range probs[:n] {
		r -= p
		if r < 0 {
			return order[i]
		}
	}
	return order[n-1]
}

// TestSampleTwin holds the test's twin to model.Sampler: same parameters, the same
// random stream (model's PCG seeding) → the same tokens.
func TestSampleTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for seed := range uint64(40) {
		logits := randVec(rng, 300, 4)
		p := model.SamplerParams{Temperature: 0.8, TopK: int(seed % 50), TopP: []float32{0, 0.9, 0.5, 1}[seed%4], Seed: seed}
		s := Sampling{Temperature: p.Temperature, TopK: p.TopK, TopP: p.TopP}
		u := rand.New(rand.NewPCG(seed, 0x7432776562)).Float64() // model.NewSampler's stream
		if got, want := sampleTwin(logits, s, u), model.NewSampler(p).Sample(logits); got != want {
			t.Fatalf("seed %d %+v: twin %d, model.Sampler %d (has model's random stream changed?)", seed, p, got, want)
		}
	}
}

func TestArgmaxSample(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(23, 24))
	for _, c := range []struct {
		rows, V int
		s       Sampling
	}{
		{1, 1000, Sampling{}},
		{3, 49157, Sampling{}},
		{4, 777, Sampling{Temperature: 1}},
		{5, 777, Sampling{Temperature: 0.7, TopK: 40}},
		{5, 3001, Sampling{Temperature: 0.7, TopP: 0.9}},
		{6, 3001, Sampling{Temperature: 1.3, TopK: 100, TopP: 0.5}},
		{2, 49157, Sampling{Temperature: 0.8, TopK: 50, TopP: 0.95}},
		{2, 151936, Sampling{Temperature: 0.8, TopK: 40}},
		{2, 151936, Sampling{Temperature: 0.8, TopP: 0.9}},
		{2, 151936, Sampling{Temperature: 0.8}},
		{2, 140000, Sampling{Temperature: 0.8, TopK: 40}},
		{2, 70000, Sampling{Temperature: 0.8, TopK: 40}},
		{2, 128256, Sampling{Temperature: 0.8, TopK: 40}},
		// Large vocabularies (V = 2^17 ± 1, 2^18 + 1, 2^19 + 1, Llama 3's 128256), top-k
		// and top-p together: ~155 passes of ⌈V/WG⌉ strides each went over lavapipe's
		// budget of 65535 loop iterations per invocation (every later pass then counted
		// nothing and the draw came out as 2^(bitlen(V)−1)).
		{2, 131071, Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{2, 131073, Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{2, 128256, Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{2, 151936, Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{2, 262145, Sampling{Temperature: 0.8, TopK: 40}},
		{2, 262145, Sampling{Temperature: 0.8, TopP: 0.9}},
		{2, 262145, Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{1, 524289, Sampling{Temperature: 0.8, TopK: 40, TopP: 0.9}},
	} {
		name := fmt.Sprintf("rows=%d V=%d %+v", c.rows, c.V, c.s)
		logits := randVec(rng, c.rows*c.V, 5)
		// Ties: copies of the row's maximum and of other values, to exercise ids among
		// equal logits.
		for r := range c.rows {
			row := logits[r*c.V : (r+1)*c.V]
			m := row[model.Argmax(row)]
			row[c.V-1], row[c.V/2] = m, m
			for i := 0; i+7 < c.V; i += 7 {
				row[i+3] = row[i]
			}
		}
		u := make([]float32, c.rows)
		for i := range u {
			u[i] = float32(rng.Float64())
		}
		bl, bu := must(d.NewBufferF32("logits", logits)), must(d.NewBufferF32("u", u))
		out := must(d.NewBuffer("out", uint64(4*c.rows)))
		scratch := must(d.NewBuffer("scratch", uint64(4*c.rows*c.V)))
		b := d.NewBatch("sample")
		b.Sample(out, bl, bu, scratch, c.rows, c.V, c.s)
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
		got := make([]uint32, c.rows)
		must(0, d.ReadU32(got, out, 0))
		for r := range c.rows {
			want := sampleTwin(logits[r*c.V:(r+1)*c.V], c.s, float64(u[r]))
			if int(got[r]) != want {
				t.Errorf("%s: row %d (u=%g): got token %d, want %d", name, r, u[r], got[r], want)
			}
		}
		b.Release()
		for _, x := range []*Buffer{bl, bu, out, scratch} {
			x.Release()
		}
	}
}
