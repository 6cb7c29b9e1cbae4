package svf

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf/tasks"
)

// Score modes of few-shot adaptation.
const (
	// ScoreAccuracy scores a candidate by the exact-match accuracy of its greedy answers
	// to the examples, ties broken by the mean per-token log-likelihood of the reference
	// answers (the reference implementation's score, plus the tie-break).
	ScoreAccuracy = "accuracy"
	// ScoreLikelihood scores by that log-likelihood alone: one teacher-forced pass, no
	// generation.
	ScoreLikelihood = "likelihood"
)

// How a population is scored (FewShotOptions.Scoring).
const (
	ScoringAuto = "" // the cheaper of the two (ChooseScoring)
	// ScoringBatched scores the whole population in the same forward passes
	// (SetPopulation).
	ScoringBatched = "batched"
	// ScoringSequential scores one candidate after another (SetZ).
	ScoringSequential = "sequential"
)

// FewShotOptions are the settings of few-shot adaptation.
type FewShotOptions struct {
	CEM      CEMOptions // InitMean 0 means 1/K
	Score    string     // ScoreAccuracy (default) or ScoreLikelihood
	PerLayer bool       // one α per expert and layer instead of one per expert
	// MaxTokens bounds a greedy answer (100 when 0).
	MaxTokens int
	// Check decides whether an answer is right; tasks.Generic when nil.
	Check func(tasks.Example, string) bool
	// Scoring is how a population is scored: ScoringBatched, ScoringSequential, or
	// ScoringAuto (""), the cheaper of the two for the engine, the population's size and
	// the rows the examples take (ChooseScoring). Both give the same scores.
	Scoring string
	// MaxRows bounds the rows of one teacher-forced forward pass (4096 when 0).
	MaxRows int
	// OnExamples measures, once the search ends, how many examples the base weights and
	// the mixture answer right greedily (Choice.OnExamples): what a person wants to see
	// after adapting with the likelihood score, which never generates.
	OnExamples bool
	// PickBest (with OnExamples) makes the result the candidate that answers most of
	// the examples right among the fitted mixture, each expert alone and the base
	// weights (z = 1): Choice.Picked says which. A tie keeps the mixture, else goes to
	// the likelihood. The likelihood can favour an expert whose answers are worse (a
	// worked solution's style learnt, its answers not), and an adaptation should not
	// leave a person's own examples worse off than an expert alone or no expert.
	PickBest bool
}

// FewShot is the few-shot strategy: a mixture of the pack's experts fitted by CEM to a
// handful of the user's examples, then used for every question of that task.
type FewShot struct {
	choice   Choice
	examples int // how many examples it was fitted to
}

func (f *FewShot) Name() string { return "few-shot" }

// Choose returns the fitted mixture; the first pass's time is the adaptation's, spent once.
func (f *FewShot) Choose(string) (*Choice, error) {
	c := f.choice
	return &c, nil
}

// Result is the adaptation: the mixture's α, z and the CEM history.
func (f *FewShot) Result() *Choice { return &f.choice }

// Trained says how the result was fitted, for its expert card: "CEM (likelihood score)
// over code, math on 10 examples: α code 0.120, math 0.910", then the accuracy on the
// examples and whether the base weights were kept. score is FewShotOptions.Score.
func (f *FewShot) Trained(score string) string {
	c := &f.choice
	parts := make([]string, len(c.Experts))
	for k, name := range c.Experts {
		vs := make([]string, len(c.Alpha[k]))
		for i, a := range c.Alpha[k] {
			vs[i] = strconv.FormatFloat(a, 'f', 3, 64)
		}
		parts[k] = name + " " + strings.Join(vs, "/")
	}
	s := fmt.Sprintf("CEM (%s score) over %s on %d examples: α %s", score, strings.Join(c.Experts, ", "), f.examples, strings.Join(parts, ", "))
	if a := c.OnExamples; a != nil {
		s += fmt.Sprintf("; greedy on the examples: base weights %d right, mixture %d", a.Base, a.Mixture)
		switch c.Picked {
		case "":
		case PickedBase:
			s += "; the base weights were kept"
		default:
			s += fmt.Sprintf("; %s alone answered %d and was kept", c.Picked, a.Adapted)
		}
	}
	return s
}

// fewShotItem is one example, tokenised.
type fewShotItem struct {
	ex     tasks.Example
	prompt []int
	answer []int // the reference answer's tokens, as the model would write them
}

// Adapt fits α over experts (each z_k weighted, ARCHITECTURE §2) to examples with CEM and
// returns the strategy answering with the best mixture. matrices are the pack's adapted
// matrices (Manifest.Matrices). e runs m; the accuracy score needs e.MaxSeqs() ≥ 1 and
// uses as many sequences as it has. Every example is used: an example whose prompt and
// answer do not fit e's context is an error naming it. Cancelling ctx stops the search
// between CEM iterations: Adapt then returns an error wrapping ctx.Err().
func Adapt(ctx context.Context, m *model.Model, e model.Engine, experts []*Expert, matrices []string, examples []tasks.Example, opt FewShotOptions) (*FewShot, error) {
	start := time.Now()
	if len(experts) == 0 {
		return nil, fmt.Errorf("svf: few-shot: no experts to mix")
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("svf: few-shot: no examples")
	}
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if opt.CEM.InitMean == 0 {
		opt.CEM.InitMean = 1 / float64(len(experts))
	}
	items, err := fewShotItems(m, e, examples)
	if err != nil {
		return nil, err
	}
	layers := 0
	for _, name := range matrices {
		layers = max(layers, layerOf(name)+1)
	}
	dim := len(experts)
	if opt.PerLayer {
		dim *= max(layers, 1)
	}
	s := &fewShotScorer{m: m, e: e, experts: experts, matrices: matrices, items: items, opt: opt, layers: max(layers, 1)}
	res, err := CEM(ctx, dim, opt.CEM, s.score)
	if err != nil {
		return nil, fmt.Errorf("svf: few-shot: %w", err)
	}
	z, err := Mix(experts, s.alpha(res.Alpha), matrices)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(experts))
	for k, x := range experts {
		names[k] = x.Name
	}
	alpha := make([][]float64, len(experts))
	for k := range experts {
		if opt.PerLayer {
			alpha[k] = slices.Clone(res.Alpha[k*s.layers : (k+1)*s.layers])
		} else {
			alpha[k] = []float64{res.Alpha[k]}
		}
	}
	c := Choice{Strategy: "few-shot", Expert: "few-shot mixture", Z: z, Experts: names, Alpha: alpha, CEM: res}
	if opt.OnExamples {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("svf: few-shot: stopped: %w", err)
		}
		if err := pickOnExamples(m, e, experts, examples, opt, &c); err != nil {
			return nil, err
		}
	}
	c.Elapsed = time.Since(start)
	return &FewShot{choice: c, examples: len(examples)}, nil
}

// DefaultFewShot is few-shot adaptation as t2 adapt and the page run it unless told
// otherwise: sized to finish in about a minute on one CPU thread for the demo model and
// ten examples, where the reference's settings (DefaultCEM: 50 iterations of 32, each
// candidate answering every example greedily) take an hour.
//
//   - Score: the likelihood of the examples' reference outputs, one teacher-forced pass
//     per candidate, no generation. On a handful of examples greedy accuracy ties most
//     candidates (all 0/10, or all 2/10), so CEM would search on the tie-break alone;
//     the likelihood ranks every candidate. OnExamples then says what the result does
//     to the accuracy on the examples, and PickBest keeps an expert alone or the base
//     weights where they answer more of them right than the mixture.
//   - CEM over K = 3 experts' α: population 8, 2 elites, at most 8 iterations, stopping
//     once the elites agree within 0.03 on every α (a smaller change of α does not move
//     an answer). The best so far is carried, not scored again: at most 64 candidates.
func DefaultFewShot() FewShotOptions {
	return FewShotOptions{
		Score:     ScoreLikelihood,
		CEM:       CEMOptions{Population: 8, Elites: 2, Iters: 8, InitStd: 0.5, MinStd: 0.03, Seed: 1},
		MaxTokens: 100, OnExamples: true, PickBest: true,
	}
}

// pickOnExamples measures the greedy accuracy on the examples of c's mixture and of the
// base weights (c.OnExamples) and, with opt.PickBest, of each expert alone, and makes c
// the best of them (see FewShotOptions.PickBest). They are scored in one population.
func pickOnExamples(m *model.Model, e model.Engine, experts []*Expert, examples []tasks.Example, opt FewShotOptions, c *Choice) error {
	acc := opt
	acc.Score = ScoreAccuracy
	zs := []map[string][]float32{c.Z, nil} // the mixture, the base weights, then experts alone
	if opt.PickBest {
		for _, x := range experts {
			zs = append(zs, x.Z)
		}
	}
	scores, err := ScoreCandidates(m, e, zs, examples, acc)
	if err != nil {
		return err
	}
	n := len(examples)
	right := func(i int) int { return int(math.Round(scores[i].Value * float64(n))) }
	best := 0
	for i := 1; opt.PickBest && i < len(zs); i++ {
		if right(i) > right(best) || right(i) == right(best) && best != 0 && scores[i].Tie > scores[best].Tie {
			best = i
		}
	}
	c.OnExamples = &ExampleAccuracy{N: n, Base: right(1), Mixture: right(0), Adapted: right(best)}
	if best == 0 {
		return nil
	}
	// α says what was kept: 1 for the expert kept alone, 0 for every other (all 0: base).
	for k := range c.Alpha {
		a := 0.0
		if k == best-2 {
			a = 1
		}
		c.Alpha[k] = slices.Repeat([]float64{a}, len(c.Alpha[k]))
	}
	if best == 1 {
		c.Z, c.Picked, c.Expert = ones(c.Z), PickedBase, "base weights"
	} else {
		x := experts[best-2]
		c.Z, c.Picked, c.Expert = maps.Clone(x.Z), x.Name, x.Name+" alone"
	}
	return nil
}

// PickedBase is Choice.Picked when few-shot adaptation kept the base weights.
const PickedBase = "base"

// ones is z = 1 for every matrix z names: the base weights as an expert's z.
func ones(z map[string][]float32) map[string][]float32 {
	out := make(map[string][]float32, len(z))
	for name, v := range z {
		o := make([]float32, len(v))
		for i := range o {
			o[i] = 1
		}
		out[name] = o
	}
	return out
}

// withDefaults fills the options left zero and checks the score mode.
func (opt FewShotOptions) withDefaults() (FewShotOptions, error) {
	if opt.Score == "" {
		opt.Score = ScoreAccuracy
	}
	if opt.Score != ScoreAccuracy && opt.Score != ScoreLikelihood {
		return opt, fmt.Errorf("svf: few-shot: score %q, want %s or %s", opt.Score, ScoreAccuracy, ScoreLikelihood)
	}
	switch opt.Scoring {
	case ScoringAuto, ScoringBatched, ScoringSequential:
	default:
		return opt, fmt.Errorf("svf: few-shot: scoring %q, want %s or %s, or unset for the cheaper of the two", opt.Scoring, ScoringBatched, ScoringSequential)
	}
	if opt.MaxTokens <= 0 {
		opt.MaxTokens = 100
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = 4096
	}
	if opt.Check == nil {
		opt.Check = tasks.Generic
	}
	return opt, nil
}

// fewShotItems tokenises the examples: every one is used, and one whose question and
// answer do not fit e's context is an error naming it (1-based, as a file's lines).
func fewShotItems(m *model.Model, e model.Engine, examples []tasks.Example) ([]fewShotItem, error) {
	items := make([]fewShotItem, len(examples))
	for i, ex := range examples {
		prompt, err := Prompt(m, ex.Input)
		if err != nil {
			return nil, fmt.Errorf("svf: few-shot: example %d: %w", i+1, err)
		}
		answer, err := AnswerTokens(m, ex.Input, prompt, ex.Output)
		if err != nil {
			return nil, fmt.Errorf("svf: few-shot: example %d: %w", i+1, err)
		}
		if len(answer) == 0 {
			return nil, fmt.Errorf("svf: few-shot: example %d: empty output", i+1)
		}
		if len(prompt)+len(answer) > e.Context() {
			return nil, fmt.Errorf("svf: few-shot: example %d: its question (%d tokens) and answer (%d tokens) exceed the context of %d tokens",
				i+1, len(prompt), len(answer), e.Context())
		}
		items[i] = fewShotItem{ex: ex, prompt: prompt, answer: answer}
	}
	return items, nil
}

// ScoreCandidates scores candidate z's (nil: the base model) on examples as few-shot
// adaptation does — opt.Score, opt.MaxTokens, opt.Check, opt.Sequential as there — and
// returns one Score per candidate.
func ScoreCandidates(m *model.Model, e model.Engine, zs []map[string][]float32, examples []tasks.Example, opt FewShotOptions) ([]Score, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	items, err := fewShotItems(m, e, examples)
	if err != nil {
		return nil, err
	}
	return scorePopulation(m, e, zs, items, opt)
}

// fewShotScorer evaluates CEM populations on the examples.
type fewShotScorer struct {
	m        *model.Model
	e        model.Engine
	experts  []*Expert
	matrices []string
	items    []fewShotItem
	opt      FewShotOptions
	layers   int
}

// alpha turns a CEM point into Mix's α: one per expert, or one per expert and matrix from
// the per-layer values.
func (s *fewShotScorer) alpha(v []float64) [][]float64 {
	out := make([][]float64, len(s.experts))
	for k := range s.experts {
		if !s.opt.PerLayer {
			out[k] = []float64{v[k]}
			continue
		}
		out[k] = make([]float64, len(s.matrices))
		for i, name := range s.matrices {
			out[k][i] = v[k*s.layers+max(layerOf(name), 0)]
		}
	}
	return out
}

// score scores every candidate of a population.
func (s *fewShotScorer) score(pop [][]float64) ([]Score, error) {
	zs := make([]map[string][]float32, len(pop))
	for i, v := range pop {
		z, err := Mix(s.experts, s.alpha(v), s.matrices)
		if err != nil {
			return nil, err
		}
		zs[i] = z
	}
	return scorePopulation(s.m, s.e, zs, s.items, s.opt)
}

// ChooseScoring returns how to score P candidates of rows rows each on e, for
// FewShotOptions.ScoringAuto: sequential where e says it costs less and gives the same
// scores (model.ScoringCoster), else batched.
func ChooseScoring(e model.Engine, P, rows int) string {
	if c, ok := e.(model.ScoringCoster); ok {
		if batched, sequential, same := c.ScoringCost(P, rows); same && sequential < batched {
			return ScoringSequential
		}
	}
	return ScoringBatched
}

// rowsPerCandidate is how many rows scoring one candidate on items forwards: each
// example's prompt and reference answer teacher-forced, and for the accuracy score a
// greedy answer of at most opt.MaxTokens after the prompt.
func rowsPerCandidate(items []fewShotItem, opt FewShotOptions) int {
	rows := 0
	for _, it := range items {
		rows += len(it.prompt) + len(it.answer) - 1
		if opt.Score == ScoreAccuracy {
			rows += len(it.prompt) + opt.MaxTokens
		}
	}
	return rows
}

// scorePopulation scores candidate z's on tokenised examples, batched (the population in
// the engine at once) or sequential as opt.Scoring says.
func scorePopulation(m *model.Model, e model.Engine, zs []map[string][]float32, items []fewShotItem, opt FewShotOptions) ([]Score, error) {
	scores := make([]Score, len(zs))
	how := opt.Scoring
	if how == ScoringAuto {
		how = ChooseScoring(e, len(zs), rowsPerCandidate(items, opt))
	}
	if how == ScoringSequential {
		for c, z := range zs {
			if err := e.SetZ(z); err != nil {
				return nil, err
			}
			one, err := scoreCandidates(m, e, []int{-1}, items, opt)
			if err != nil {
				return nil, err
			}
			scores[c] = one[0]
		}
		return scores, e.SetZ(nil)
	}
	if err := e.SetPopulation(zs); err != nil {
		return nil, err
	}
	defer e.SetPopulation(nil)
	cands := make([]int, len(zs))
	for i := range cands {
		cands[i] = i
	}
	return scoreCandidates(m, e, cands, items, opt)
}

// scoreCandidates scores each of cands (population indices; −1 is the engine's current z)
// on every item.
func scoreCandidates(m *model.Model, e model.Engine, cands []int, items []fewShotItem, opt FewShotOptions) ([]Score, error) {
	type pair struct{ c, i int } // candidate index in cands, item
	var pairs []pair
	for c := range cands {
		for i := range items {
			pairs = append(pairs, pair{c, i})
		}
	}
	scores := make([]Score, len(cands))
	if opt.Score == ScoreAccuracy {
		right := make([]int, len(cands))
		for lo := 0; lo < len(pairs); lo += e.MaxSeqs() {
			chunk := pairs[lo:min(lo+e.MaxSeqs(), len(pairs))]
			prompts := make([][]int, len(chunk))
			samplers := make([]*model.Sampler, len(chunk))
			var pc []int
			if cands[0] >= 0 {
				pc = make([]int, len(chunk))
			}
			for j, p := range chunk {
				prompts[j], samplers[j] = items[p.i].prompt, model.Greedy()
				if pc != nil {
					pc[j] = cands[p.c]
				}
			}
			outs, _, err := model.GenerateCandidates(e, prompts, pc, samplers, opt.MaxTokens, m.EOS)
			if err != nil {
				return nil, err
			}
			for j, p := range chunk {
				if opt.Check(items[p.i].ex, m.Tokenizer.Decode(outs[j], true)) {
					right[p.c]++
				}
			}
		}
		for c := range cands {
			scores[c].Value = float64(right[c]) / float64(len(items))
		}
	}
	// Mean per-token log-likelihood of the reference answers, teacher-forced: as many
	// pairs per forward pass as the engine's sequences and opt.MaxRows allow.
	logp := make([]float64, len(cands))
	tokens := 0
	for _, it := range items {
		tokens += len(it.answer)
	}
	logits := make([]float32, m.Config.VocabSize)
	for lo := 0; lo < len(pairs); {
		var b model.Batch
		hi := lo
		for hi < len(pairs) && hi-lo < e.MaxSeqs() {
			it := items[pairs[hi].i]
			rows := len(it.prompt) + len(it.answer) - 1
			if hi > lo && b.Len()+rows > opt.MaxRows {
				break
			}
			e.Clear(hi - lo)
			addScored(&b, it.prompt, it.answer, hi-lo, cands[pairs[hi].c])
			hi++
		}
		if err := e.Forward(&b); err != nil {
			return nil, err
		}
		row := 0
		for _, p := range pairs[lo:hi] {
			lp, err := sumLogP(e, logits, row, items[p.i].answer, 0)
			if err != nil {
				return nil, err
			}
			row += len(items[p.i].answer)
			logp[p.c] += lp
		}
		lo = hi
	}
	for c := range cands {
		mean := logp[c] / float64(tokens)
		if opt.Score == ScoreAccuracy {
			scores[c].Tie = mean
		} else {
			scores[c].Value = mean
		}
	}
	return scores, nil
}
