package svf

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestCEMFindsOptimum: on objectives with a known optimum the search ends near it, inside
// [0, 1] (an optimum outside is met at the bound), with member 0 carrying the best so far
// and its score, so that it is never scored twice.
func TestCEMFindsOptimum(t *testing.T) {
	tests := []struct {
		name   string
		target []float64
		want   []float64
	}{
		{"inside", []float64{0.2, 0.7, 0.45}, []float64{0.2, 0.7, 0.45}},
		{"at the bounds", []float64{1.4, -0.3, 0.5}, []float64{1, 0, 0.5}},
		{"one coordinate", []float64{0.9}, []float64{0.9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := DefaultCEM()
			opt.InitMean = 1 / float64(len(tt.target))
			var lastBest []float64
			var lastScore Score
			iter, scored := 0, 0
			res, err := CEM(context.Background(), len(tt.target), opt, func(pop [][]float64) ([]Score, error) {
				iter++
				scores := make([]Score, len(pop))
				for i, a := range pop {
					var d float64
					for j, x := range a {
						if x < 0 || x > 1 {
							t.Fatalf("iteration %d: candidate %d has α %v outside [0, 1]", iter, i, a)
						}
						d += (x - tt.target[j]) * (x - tt.target[j])
					}
					scores[i] = Score{Value: -d}
				}
				// The best so far is carried as member 0 with its score: it is not asked again.
				if want := opt.Population - min(iter-1, 1); len(pop) != want {
					t.Fatalf("iteration %d: %d candidates to score, want %d", iter, len(pop), want)
				}
				for _, a := range pop {
					if iter > 1 && slices.Equal(a, lastBest) {
						t.Fatalf("iteration %d: the best so far %v is scored again", iter, lastBest)
					}
				}
				scored += len(pop)
				for i, s := range scores {
					if lastBest == nil || s.Better(lastScore) {
						lastBest, lastScore = slices.Clone(pop[i]), s
					}
				}
				return scores, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for j, w := range tt.want {
				if math.Abs(res.Alpha[j]-w) > 0.02 {
					t.Errorf("α = %v, want %v within 0.02", res.Alpha, tt.want)
					break
				}
			}
			if res.Scored != scored || res.Best != lastScore {
				t.Errorf("scored %d candidates, the result says %d; best %v, the result says %v", scored, res.Scored, lastScore, res.Best)
			}
			if len(res.History) != iter || res.History[len(res.History)-1].Best != res.Best {
				t.Errorf("history of %d steps for %d iterations, last best %v, result %v", len(res.History), iter, res.History[len(res.History)-1].Best, res.Best)
			}
			for i := 1; i < len(res.History); i++ {
				if res.History[i-1].Best.Better(res.History[i].Best) {
					t.Errorf("the best got worse at iteration %d: %v → %v", i+1, res.History[i-1].Best, res.History[i].Best)
				}
			}
		})
	}
}

// TestCEMSeeded: the same seed gives the same search; another seed another one; the tie
// score decides between equal values.
func TestCEMSeeded(t *testing.T) {
	// Value is coarse (as an accuracy on a few examples is): many candidates tie on it,
	// and Tie, a smooth score, must pick among them.
	objective := func(pop [][]float64) ([]Score, error) {
		out := make([]Score, len(pop))
		for i, a := range pop {
			d := math.Abs(a[0]-0.3) + math.Abs(a[1]-0.6)
			out[i] = Score{Value: math.Floor(-d * 2), Tie: -d}
		}
		return out, nil
	}
	run := func(seed uint64) *CEMResult {
		opt := DefaultCEM()
		opt.Seed, opt.InitMean = seed, 0.5
		res, err := CEM(context.Background(), 2, opt, objective)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a.Alpha, b.Alpha) || len(a.History) != len(b.History) {
		t.Errorf("seed 7 twice: %v and %v", a.Alpha, b.Alpha)
	}
	if slices.Equal(a.Alpha, c.Alpha) {
		t.Errorf("seeds 7 and 8 found the same α %v", a.Alpha)
	}
	if math.Abs(a.Alpha[0]-0.3) > 0.02 || math.Abs(a.Alpha[1]-0.6) > 0.02 {
		t.Errorf("α = %v, want (0.3, 0.6) within 0.02: ties on Value were not broken by Tie", a.Alpha)
	}
	if a.Stopped != "converged" {
		t.Errorf("stopped by %s, want converged (the elites collapse well within 50 iterations)", a.Stopped)
	}
}

func TestCEMOptionsRefused(t *testing.T) {
	ok := func([][]float64) ([]Score, error) { return nil, nil }
	for _, mut := range []func(*CEMOptions){
		func(o *CEMOptions) { o.Population = 1 },
		func(o *CEMOptions) { o.Elites = 0 },
		func(o *CEMOptions) { o.Elites = 33 },
		func(o *CEMOptions) { o.Iters = 0 },
		func(o *CEMOptions) { o.InitStd = -1 },
		func(o *CEMOptions) { o.InitMean = 2 },
	} {
		opt := DefaultCEM()
		mut(&opt)
		if _, err := CEM(context.Background(), 3, opt, ok); err == nil {
			t.Errorf("options %+v accepted", opt)
		}
	}
	if _, err := CEM(context.Background(), 3, DefaultCEM(), ok); err == nil {
		t.Error("a score function returning no scores was accepted")
	}
}

// TestCEMCancel: cancelling the context during an iteration (as the page's Stop does from
// the progress callback) ends the search before the next one, with an error that says
// it was cancelled, and scores nothing more.
func TestCEMCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := DefaultCEM()
	opt.Iters = 10
	calls := 0
	opt.Progress = func(s CEMStep) {
		if s.Iter == 2 {
			cancel()
		}
	}
	_, err := CEM(ctx, 2, opt, func(pop [][]float64) ([]Score, error) {
		calls++
		s := make([]Score, len(pop))
		for i, a := range pop {
			s[i].Value = -a[0]
		}
		return s, nil
	})
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Errorf("cancelled in iteration 2: error %v after %d scorings; want context.Canceled after 2", err, calls)
	}
}
