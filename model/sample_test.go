package model

import (
	"math"
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
