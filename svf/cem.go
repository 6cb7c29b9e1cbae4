package svf

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Score is how well one candidate did: Value first (exact-match accuracy in few-shot
// adaptation), Tie breaking equal values (mean per-token log-likelihood of the reference
// answers). Higher is better for both.
type Score struct {
	Value float64 `json:"value"`
	Tie   float64 `json:"tie"`
}

// Better reports whether s ranks above t.
func (s Score) Better(t Score) bool {
	if s.Value != t.Value {
		return s.Value > t.Value
	}
	return s.Tie > t.Tie
}

// CEMOptions are the settings of the cross-entropy method (ARCHITECTURE.md §2): defaults
// are the reference's few-shot adaptation.
type CEMOptions struct {
	Population int     // candidates per iteration (32)
	Elites     int     // best candidates the next distribution is fitted to (6)
	Iters      int     // iterations at most (50)
	InitMean   float64 // mean of every α at the start; 0 means 1/K (set by the caller)
	InitStd    float64 // std of every α at the start (0.5)
	// MinStd stops the search early once every coordinate's elite std is below it: the
	// elites have collapsed onto one point and further iterations draw the same α.
	MinStd float64
	Seed   uint64
	// Progress, when set, is called after every iteration.
	Progress func(CEMStep)
}

// DefaultCEM returns the reference's settings: population 32, 6 elites, 50 iterations,
// std 0.5, early stop at an elite spread of 1e-3.
func DefaultCEM() CEMOptions {
	return CEMOptions{Population: 32, Elites: 6, Iters: 50, InitStd: 0.5, MinStd: 1e-3, Seed: 1}
}

// CEMStep is one iteration of the search, for the convergence plot.
type CEMStep struct {
	Iter     int       `json:"iter"`      // from 1
	Best     Score     `json:"best"`      // best candidate so far
	IterBest Score     `json:"iter_best"` // best candidate of this iteration
	Mean     float64   `json:"mean"`      // mean Value of this iteration's population
	Spread   float64   `json:"spread"`    // largest elite std over the coordinates after the update
	Alpha    []float64 `json:"alpha"`     // best α so far
}

// CEMResult is the outcome of a search.
type CEMResult struct {
	Alpha   []float64 `json:"alpha"` // best α found
	Best    Score     `json:"best"`
	History []CEMStep `json:"history"`
	// Stopped says why the search ended: "iterations" or "converged".
	Stopped string `json:"stopped"`
	// Scored counts the candidates scored: the population of the first iteration, then
	// all but the best so far of each later one.
	Scored int `json:"scored"`
}

// CEM searches α ∈ [0,1]^dim for the highest Score. Each iteration draws opt.Population
// candidates from independent normals (mean, std per coordinate), clamps them to [0, 1],
// has score evaluate them all at once (so a GPU can run the whole population in one
// batch), and refits mean and std to the opt.Elites best. From the second iteration on,
// member 0 is the best α so far, so the best is never lost to sampling noise; its score
// is kept, not asked again, so score must be a function of α. The same seed and scores
// give the same search. A cancelled ctx ends the search before its next iteration, with
// an error that wraps ctx.Err().
func CEM(ctx context.Context, dim int, opt CEMOptions, score func(population [][]float64) ([]Score, error)) (*CEMResult, error) {
	switch {
	case dim <= 0:
		return nil, fmt.Errorf("svf: cem: %d coordinates, want at least 1", dim)
	case opt.Population < 2 || opt.Elites < 1 || opt.Elites > opt.Population:
		return nil, fmt.Errorf("svf: cem: population %d and elites %d: want 1 ≤ elites ≤ population, population ≥ 2", opt.Population, opt.Elites)
	case opt.Iters < 1:
		return nil, fmt.Errorf("svf: cem: %d iterations, want at least 1", opt.Iters)
	case opt.InitStd < 0 || opt.MinStd < 0 || math.IsNaN(opt.InitMean) || opt.InitMean < 0 || opt.InitMean > 1:
		return nil, fmt.Errorf("svf: cem: initial mean %g in [0,1] and stds %g, %g ≥ 0 expected", opt.InitMean, opt.InitStd, opt.MinStd)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x63656d))
	mean, std := make([]float64, dim), make([]float64, dim)
	for i := range mean {
		mean[i], std[i] = opt.InitMean, opt.InitStd
	}
	pop := make([][]float64, opt.Population)
	for i := range pop {
		pop[i] = make([]float64, dim)
	}
	res := &CEMResult{Stopped: "iterations"}
	order := make([]int, opt.Population)
	for it := 1; it <= opt.Iters; it++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("svf: cem: stopped before iteration %d: %w", it, err)
		}
		for i, a := range pop {
			if i == 0 && res.Alpha != nil {
				copy(a, res.Alpha)
				continue
			}
			for j := range a {
				a[j] = min(1, max(0, mean[j]+std[j]*rng.NormFloat64()))
			}
		}
		// Member 0 of a later iteration is the best so far, whose score is known: only
		// the new candidates are scored (score is a function of α).
		fresh := pop
		if res.Alpha != nil {
			fresh = pop[1:]
		}
		got, err := score(fresh)
		if err != nil {
			return nil, fmt.Errorf("svf: cem: iteration %d: %w", it, err)
		}
		if len(got) != len(fresh) {
			return nil, fmt.Errorf("svf: cem: iteration %d: %d scores for %d candidates", it, len(got), len(fresh))
		}
		scores := got
		if res.Alpha != nil {
			scores = append([]Score{res.Best}, got...)
		}
		res.Scored += len(fresh)
		for i := range order {
			order[i] = i
		}
		// Stable: of equal scores the earlier candidate (member 0, the best so far) ranks first.
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case scores[a].Better(scores[b]):
				return -1
			case scores[b].Better(scores[a]):
				return 1
			}
			return 0
		})
		if top := order[0]; res.Alpha == nil || scores[top].Better(res.Best) {
			res.Alpha, res.Best = slices.Clone(pop[top]), scores[top]
		}
		var sum float64
		for _, s := range scores {
			sum += s.Value
		}
		spread := 0.0
		for j := range mean {
			var m float64
			for _, e := range order[:opt.Elites] {
				m += pop[e][j]
			}
			m /= float64(opt.Elites)
			var v float64
			for _, e := range order[:opt.Elites] {
				v += (pop[e][j] - m) * (pop[e][j] - m)
			}
			mean[j], std[j] = m, math.Sqrt(v/float64(opt.Elites))
			spread = max(spread, std[j])
		}
		step := CEMStep{Iter: it, Best: res.Best, IterBest: scores[order[0]], Mean: sum / float64(len(scores)),
			Spread: spread, Alpha: slices.Clone(res.Alpha)}
		res.History = append(res.History, step)
		if opt.Progress != nil {
			opt.Progress(step)
		}
		if spread < opt.MinStd {
			res.Stopped = "converged"
			break
		}
	}
	return res, nil
}
