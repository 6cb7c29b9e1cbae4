package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestArgmaxTies(t *testing.T) {
	if got := Argmax([]float32{1, 3, 3, 2}); got != 1 {
		t.Errorf("Argmax = %d, want 1 (lowest index among ties)", got)
	}
}

func TestSampler(t *testing.T) {
	logits := []float32{1, 2, 4, 3.5, -1}
	tests := []struct {
		name string
		p    SamplerParams
		want int
	}{
		{"greedy", SamplerParams{}, 2},
		{"top-k 1 is greedy", SamplerParams{Temperature: 2, TopK: 1, Seed: 3}, 2},
		{"tiny top-p is greedy", SamplerParams{Temperature: 1, TopP: 0.01, Seed: 3}, 2},
		{"repetition penalty moves the argmax", SamplerParams{RepeatPenalty: 2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSampler(tt.p)
			s.Accept(2)
			for range 20 {
				if got := s.Sample(logits); got != tt.want {
					t.Fatalf("Sample = %d, want %d", got, tt.want)
				}
			}
		})
	}
}

// TestSamplerDistribution draws many tokens at temperature 1 and compares the counts
// with the softmax probabilities; top-k 2 must never leave the two best.
func TestSamplerDistribution(t *testing.T) {
	logits := []float32{0, 1, 2, 0.5}
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l))
	}
	const n = 40000
	s := NewSampler(SamplerParams{Temperature: 1, Seed: 11})
	counts := make([]int, len(logits))
	for range n {
		counts[s.Sample(logits)]++
	}
	for i, l := range logits {
		p := math.Exp(float64(l)) / z
		sd := math.Sqrt(p * (1 - p) / n)
		if got := float64(counts[i]) / n; math.Abs(got-p) > 5*sd {
			t.Errorf("token %d drawn %.4f of the time, softmax %.4f", i, got, p)
		}
	}
	k := NewSampler(SamplerParams{Temperature: 1, TopK: 2, Seed: 11})
	for range 2000 {
		if id := k.Sample(logits); id != 2 && id != 1 {
			t.Fatalf("top-k 2 drew token %d", id)
		}
	}
}

func TestSamplerSeed(t *testing.T) {
	logits := make([]float32, 50)
	for i := range logits {
		logits[i] = float32(i%7) * 0.3
	}
	draw := func(seed uint64) []int {
		s := NewSampler(SamplerParams{Temperature: 1, TopP: 0.9, Seed: seed})
		var ids []int
		for range 30 {
			ids = append(ids, s.Sample(logits))
		}
		return ids
	}
	a, b, c := draw(1), draw(1), draw(2)
	if !slices.Equal(a, b) {
		t.Error("the same seed drew different tokens")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds drew the same 30 tokens")
	}
}

// sampleSorted is Sample as it was before top-k selection: every candidate sorted.
// TestSampleTopK holds Sample to it.
func sampleSorted(s *Sampler, logits []float32) int {
	saved := s.p.TopK
	defer func() { s.p.TopK = saved }()
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
	if k := s.p.TopK; k > 0 && k < n {
		n = k
	}
	var probs []float64
	top := float64(logits[order[0]])
	var sum float64
	for _, id := range order[:n] {
		p := math.Exp((float64(logits[id]) - top) / float64(s.p.Temperature))
		probs = append(probs, p)
		sum += p
	}
	if tp := float64(s.p.TopP); tp > 0 && tp < 1 {
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
	r := s.Uniform() * sum
	for i, p := range probs[:n] {
		r -= p
		if r < 0 {
			return order[i]
		}
	}
	return order[n-1]
}

// TestSampleTopK: top-k selection draws exactly the tokens of a full sort for the same
// seed — logits with many ties, k from 1 to past the vocabulary, with and without top-p.
func TestSampleTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, V := range []int{2, 7, 16, 17, 50, 1000} {
		logits := make([]float32, V)
		for i := range logits {
			logits[i] = float32(rng.IntN(12)) * 0.25 // ties everywhere
		}
		if got, want := Greedy().Sample(logits), Argmax(logits); got != want {
			t.Fatalf("V %d: greedy Sample %d, Argmax %d", V, got, want)
		}
		for _, k := range []int{1, 2, 5, 40, V - 1, V, V + 3} {
			for _, p := range []SamplerParams{
				{Temperature: 1, TopK: k, Seed: 9},
				{Temperature: 0.7, TopK: k, TopP: 0.9, Seed: 10},
				{Temperature: 3, TopK: k, TopP: 0.5, Seed: 11},
			} {
				a, b := NewSampler(p), NewSampler(p)
				for step := range 200 {
					if got, want := a.Sample(logits), sampleSorted(b, logits); got != want {
						t.Fatalf("V %d %+v step %d: Sample %d, a full sort %d", V, p, step, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkSample draws from SmolLM2's vocabulary (49152) with the page's settings
// (temperature 0.7, top-k 40, top-p 0.95), and with every candidate kept (top-k 0: a
// full sort).
func BenchmarkSample(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 49152)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	for _, k := range []int{40, 0} {
		b.Run(fmt.Sprintf("topk%d", k), func(b *testing.B) {
			s := NewSampler(SamplerParams{Temperature: 0.7, TopK: k, TopP: 0.95, Seed: 1})
			for b.Loop() {
				s.Sample(logits)
			}
		})
	}
}
