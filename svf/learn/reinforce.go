package learn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/train"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// Expert training with REINFORCE (ARCHITECTURE §1):
//
//	J = E[ log π_W'(ŷ|x) · r(x, ŷ) ] − λ · KL(π_W' ‖ π_W)      r = +1 right, −1 wrong
//
// Each adapted matrix has parameters p[R], z = sigmoid(p)·maxMult, W' = U·diag(σ⊙z)·Vᵀ·c.
// An iteration draws a batch of training questions, answers them with W' (rollouts),
// scores the answers with the task's checker, and takes one Adam step on p along
//
//	loss = −Σ_i r_i·Σ_t log π(ŷ_it) / B + λ · mean_t KL_t
//
// whose gradient reaches p through the training backward pass (package train) and
// Factors.GradP. Gradients flow only into p.

// ReinforceOptions configure TrainExpert.
type ReinforceOptions struct {
	Task   tasks.Task
	Name   string  // the expert's name
	KL     float64 // λ, weight of KL(π_W' ‖ π_W)
	LR     float64 // Adam learning rate (2e-3)
	Clip   float64 // global gradient-norm clip (1e-3)
	Batch  int     // rollouts per iteration (256)
	Micro  int     // sequences per forward/backward pass (16)
	Iters  int     // iterations
	Sample bool    // rollouts sampled at Temperature; false: greedy
	// Temperature of sampled rollouts; 0 means 1, the reference's.
	Temperature float32
	// Baseline subtracts the batch's mean reward from every reward (r − r̄ instead of
	// ±1), a departure from the reference for small models: when most rollouts are wrong,
	// the ±1 gradient mostly pushes down wrong answers and wanders.
	Baseline bool
	ValEvery int // validate every this many iterations (and at the end)
	ValN     int // validation questions
	// MaxTokens is the longest answer; with Examples, 0 is half again the longest of
	// their outputs (and a few tokens more): a validation answer that runs on past that
	// is not a right one, and an untrained model may run on for long.
	MaxTokens int
	SeqLen    int // longest prompt + answer, in tokens
	Seed      uint64
	MaxMult   float32 // z = sigmoid(p)·MaxMult (1)
	// Init, when set, starts p from these z (p = logit(z/MaxMult)) instead of the
	// reference's 0.1 + 0.01·N(0,1): e.g. REINFORCE from an expert trained first on the
	// next-token loss. Every adapted matrix needs its z, inside (0, MaxMult).
	Init map[string][]float32
	// InitFrom names where Init came from, for the expert's card.
	InitFrom string
	// Starts, when set (and Init is not), are experts to start from: iteration 0 scores
	// each by the likelihood of the first batch's outputs, and the run starts from
	// the likeliest if it is likelier than the base model; its z is then the best so
	// far. A person's examples may be near what an expert knows (the math expert on a
	// new word-problem form): training then refines that expert instead of starting
	// over. An expert with a z outside (0, MaxMult) is skipped.
	Starts []*svf.Expert
	// Objective is what an iteration optimises: Reinforce (rollouts rewarded by the
	// task's checker, the reference's) or NextToken (the mean cross-entropy of the
	// training items' worked solutions, teacher-forced: the paper's ablation).
	Objective Objective
	// Checkpoint, when set, is a file that keeps the run's state after every validation;
	// a run started with an existing checkpoint resumes from it.
	Checkpoint string
	// Examples, when set, are what training learns from instead of Task's train split: a
	// person's own examples, each Output a worked answer for the next-token objective.
	// Batches go through them in epochs, shuffled by Seed. Validation is then what
	// validation measures (SplitExamples makes both from one file), Source names them on
	// the card ("80 examples of give.jsonl"), and Task may be nil.
	Examples, Validation []tasks.Example
	Source               string
	// Domain is the new expert's domain when Task is nil ("" for none).
	Domain string
	// Check decides whether an answer is right: Task.Check, or tasks.Generic without a
	// Task when nil.
	Check func(tasks.Example, string) bool
	// Kernels run the rollouts' and the backward pass's matmuls, W's recomposition and
	// the gradient's projections (the page's SIMD module: RecomposeKernels,
	// GradPKernels); nil: Go's, package train's own gemm and float64 Recompose and GradP.
	Kernels model.Kernels
	// Progress, when set, hears about every iteration.
	Progress func(ReinforceStep)
}

// Objective is what expert training optimises.
type Objective string

// The objectives of expert training.
const (
	Reinforce Objective = "reinforce" // J = E[log π(ŷ|x)·r(x, ŷ)] − λ·KL, the reference's
	NextToken Objective = "ce"        // −mean log π(y|x) over the reference solutions' tokens
)

// ParseObjective returns the objective called name.
func ParseObjective(name string) (Objective, error) {
	switch o := Objective(name); o {
	case Reinforce, NextToken:
		return o, nil
	}
	return "", fmt.Errorf("svf: unknown objective %q (known: reinforce, ce)", name)
}

// ReinforceStep reports one iteration.
type ReinforceStep struct {
	Iter     int     // 1-based
	Reward   float64 // mean reward of the batch, in [−1, 1]
	Accuracy float64 // fraction of the batch answered right
	KL       float64 // mean KL(π_W' ‖ π_W) per answer token (0 when λ = 0)
	// Loss is the mean −log π per answer token of the batch's sequences (the rollouts,
	// or the solutions for NextToken), TokenAccuracy the share of those tokens that are
	// the most likely one.
	Loss, TokenAccuracy float64
	GradNorm            float64 // of dloss/dp, before clipping
	// Validation is the validation accuracy when this iteration validated, else −1.
	Validation float64
	Best       float64 // best validation accuracy so far
	// Base is the base model's validation accuracy (iteration 0).
	Base float64
	// BestZ is the best iterate's z when this iteration found it, else nil: what a caller
	// keeps so that a run cut short (a closed tab) loses nothing.
	BestZ map[string][]float32
}

// DefaultReinforce returns the reference's settings (ARCHITECTURE §1), with answers long
// enough for the task suite's worked solutions (at most 92 bytes) and sequences as long as
// the demo model's context.
func DefaultReinforce() ReinforceOptions {
	return ReinforceOptions{LR: 2e-3, Clip: 1e-3, Batch: 256, Micro: 16, Iters: 100, ValEvery: 10,
		ValN: 100, MaxTokens: 100, SeqLen: 320, Seed: 1, MaxMult: 1}
}

// reinforceState is what a checkpoint keeps.
type reinforceState struct {
	Iter     int     `json:"iter"`
	Best     float64 `json:"best"` // best validation accuracy of a trained iterate; −1 before one
	BestIter int     `json:"best_iter"`
	// BestTie is the best iterate's mean log-likelihood per token of the held-out
	// examples' outputs, which breaks ties of Best when training on a person's examples:
	// two held out of ten tie at 0 % for a long while (svf.Score). 0 for a task.
	BestTie float64 `json:"best_tie"`
	// Base is the validation accuracy of the base model (iteration 0), for the card.
	Base float64 `json:"base"`
	Step int     `json:"adam_step"`
	Task string  `json:"task"`
	// Objective of the run; empty in checkpoints written before there was a choice.
	Objective Objective `json:"objective,omitempty"`
	Name      string    `json:"name"`
	Params    int       `json:"params"`
	// StartFrom names the expert of Starts the run started from, "" for none.
	StartFrom string `json:"start_from,omitempty"`
}

// TrainExpert trains an expert for opt.Task (or on opt.Examples) on the pack and returns
// the trained iterate with the best validation accuracy. The base model's accuracy
// (iteration 0) is measured and written on the card but not kept as a candidate: an
// expert that is the base model would change nothing, which is worth seeing in the
// results table rather than hiding.
//
// Cancelling ctx stops the run after the iteration under way; the current iterate is
// validated if it was not, and the best one is returned, its card saying where it
// stopped.
func TrainExpert(ctx context.Context, p *svf.Pack, opt ReinforceOptions) (*svf.Expert, error) {
	if opt.Name == "" || (opt.Task == nil && opt.Examples == nil) {
		return nil, errors.New("svf: train expert: a name and a task or examples are needed")
	}
	if opt.Examples != nil && len(opt.Validation) == 0 {
		return nil, errors.New("svf: train expert: training on examples needs validation examples (see SplitExamples)")
	}
	if len(p.Manifest.Matrices) == 0 {
		return nil, fmt.Errorf("svf: train expert: the pack adapts no matrices")
	}
	if opt.Examples == nil && opt.ValN <= 0 {
		return nil, fmt.Errorf("svf: train expert: %d validation questions, want > 0", opt.ValN)
	}
	if opt.Batch <= 0 || opt.Micro <= 0 || opt.Iters < 0 || opt.MaxTokens < 0 || (opt.MaxTokens == 0 && opt.Examples == nil) || opt.ValEvery <= 0 || opt.SeqLen < 0 {
		return nil, fmt.Errorf("svf: train expert: batch %d, micro %d, iters %d, max tokens %d, validation every %d, sequence length %d: want them > 0",
			opt.Batch, opt.Micro, opt.Iters, opt.MaxTokens, opt.ValEvery, opt.SeqLen)
	}
	if opt.MaxMult == 0 {
		opt.MaxMult = 1
	}
	if opt.Objective == "" {
		opt.Objective = Reinforce
	}
	if _, err := ParseObjective(string(opt.Objective)); err != nil {
		return nil, err
	}
	if opt.Check == nil {
		opt.Check = tasks.Generic
		if opt.Task != nil {
			opt.Check = opt.Task.Check
		}
	}
	m, err := p.LoadKernels(svf.MergedPath, opt.Kernels)
	if err != nil {
		return nil, err
	}
	r := &reinforce{opt: opt, pack: p, m: m}
	if err := r.setup(); err != nil {
		return nil, err
	}
	defer r.close()
	return r.run(ctx)
}

// EpochIters returns how many iterations of batch examples make epochs passes over n
// training examples (rounded up), and how often to validate: once an epoch.
func EpochIters(epochs float64, n, batch int) (iters, valEvery int) {
	perEpoch := (n + batch - 1) / batch
	return int(math.Ceil(epochs * float64(n) / float64(batch))), max(1, perEpoch)
}

// SplitExamples holds out share of examples (at least one, and at least one left to
// train on) for validation, drawn by seed: how a person's file is split for
// TrainExpert. Fewer than two examples cannot be split.
func SplitExamples(examples []tasks.Example, share float64, seed uint64) (train, val []tasks.Example, err error) {
	if !(share > 0 && share < 1) {
		return nil, nil, fmt.Errorf("svf: validation share %g, want it in (0, 1)", share)
	}
	if len(examples) < 2 {
		return nil, nil, fmt.Errorf("svf: training needs at least 2 examples, one of them to validate on; there are %d", len(examples))
	}
	n := tasks.HoldOut(len(examples), share)
	perm := rand.New(rand.NewPCG(seed, 0x73706c6974)).Perm(len(examples))
	for i, k := range perm {
		if i < n {
			val = append(val, examples[k])
		} else {
			train = append(train, examples[k])
		}
	}
	return train, val, nil
}

// reinforce is one training run.
type reinforce struct {
	opt  ReinforceOptions
	pack *svf.Pack
	m    *model.Model // W' for rollouts (merged)

	rollout *model.CPU
	policy  *train.Model[float32] // W' for the backward
	base    *train.Model[float32] // W, for the KL term; nil when λ = 0
	factors []*svf.Factors        // per adapted matrix
	scratch []*svf.KernelScratch  // per adapted matrix, with Kernels (the Merged's)
	offsets []int                 // of each adapted matrix's weight in policy.Params
	p, dp   []float32             // all parameters, matrix after matrix
	spans   [][2]int              // of each matrix in p
	adam    *train.AdamW
	val     []tasks.Example
	state   reinforceState
	bestP   []float32
	dlogits []float32 // [Micro·SeqLen, V]
	probs   []float32 // [V] scratch
	inputs  []int     // [Micro·SeqLen]
	lastVal float64   // accuracy of the last validation
}

func (r *reinforce) setup() error {
	cfg := r.pack.Config
	if r.opt.Examples != nil {
		if err := r.fitExamples(); err != nil {
			return err
		}
	}
	o := r.opt
	if o.SeqLen == 0 {
		return errors.New("svf: train expert: a sequence length is needed")
	}
	var err error
	// Rollouts fit the sequence length; a person's validation examples may be longer
	// than the training ones, and their answers need room.
	context := min(o.SeqLen, cfg.MaxPositions)
	if o.Examples != nil {
		context = cfg.MaxPositions
	}
	if r.rollout, err = model.NewCPU(r.m, model.CPUOptions{MaxSeqs: min(o.Batch, 64), Context: context, Kernels: o.Kernels}); err != nil {
		return err
	}
	dense := DenseWeights(r.m.Weights)
	if r.policy, err = train.New[float32](cfg, train.Options{B: o.Micro, T: o.SeqLen, Seed: o.Seed, MatMul: o.Kernels}); err != nil {
		return err
	}
	if err := r.policy.SetWeights(dense); err != nil {
		return err
	}
	if o.KL > 0 {
		if r.base, err = train.New[float32](cfg, train.Options{B: o.Micro, T: o.SeqLen, Seed: o.Seed, MatMul: o.Kernels}); err != nil {
			return err
		}
		if err := r.base.SetWeights(dense); err != nil {
			return err
		}
	}
	at := map[string]int{}
	for _, t := range r.policy.Tensors() {
		at[t.Name] = t.Offset
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x7265696e))
	for _, name := range r.pack.Manifest.Matrices {
		l := r.m.Weights.Linears[name].(*svf.Merged)
		f := l.Factors()
		r.factors = append(r.factors, f)
		r.scratch = append(r.scratch, l.KernelScratch())
		r.offsets = append(r.offsets, at[name+".weight"])
		lo := len(r.p)
		for range f.R {
			r.p = append(r.p, float32(0.1+0.01*rng.NormFloat64()))
		}
		r.spans = append(r.spans, [2]int{lo, len(r.p)})
	}
	if o.Init != nil {
		if r.p, err = r.logits(o.Init); err != nil {
			return fmt.Errorf("svf: train expert: the initial z: %w", err)
		}
	}
	r.dp = make([]float32, len(r.p))
	r.adam = train.NewAdamW(train.AdamWConfig{LR: o.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: o.Clip}, len(r.p))
	r.dlogits = make([]float32, o.Micro*o.SeqLen*cfg.VocabSize)
	r.probs = make([]float32, cfg.VocabSize)
	r.inputs = make([]int, o.Micro*o.SeqLen)
	r.state = reinforceState{Best: -1, Task: r.source(), Name: o.Name, Params: len(r.p), Objective: o.Objective}
	if o.Examples != nil {
		r.val = o.Validation
		return nil
	}
	r.val, err = tasks.Sample(o.Task, tasks.Validation, o.Seed, o.ValN)
	return err
}

// source names what training learns from: the task, or the examples.
func (r *reinforce) source() string {
	if r.opt.Examples == nil {
		return r.opt.Task.Name()
	}
	if r.opt.Source != "" {
		return r.opt.Source
	}
	return fmt.Sprintf("%d examples", len(r.opt.Examples))
}

// fitExamples checks that every example (and validation example) fits the model's
// context with its answer, quoting the first that does not (its number in a person's
// file is not its number here, after SplitExamples), and without a SeqLen sets it
// to the longest: a person's examples are short, and the backward pass costs what its
// sequence length is. Without MaxTokens it sets that too (see ReinforceOptions). Each
// example is tokenised once.
func (r *reinforce) fitExamples() error {
	o := &r.opt
	type sizes struct{ prompt, answer int }
	measure := func(what string, exs []tasks.Example) ([]sizes, error) {
		out := make([]sizes, len(exs))
		for i, ex := range exs {
			prompt, err := svf.Prompt(r.m, ex.Input)
			if err == nil {
				var answer []int
				answer, err = svf.AnswerTokens(r.m, ex.Input, prompt, solutionOf(ex))
				out[i] = sizes{len(prompt), len(answer)}
			}
			if err != nil {
				return nil, fmt.Errorf("svf: train expert: the %s %.40q…: %w", what, ex.Input, err)
			}
		}
		return out, nil
	}
	train, err := measure("example", o.Examples)
	if err != nil {
		return err
	}
	val, err := measure("validation example", o.Validation)
	if err != nil {
		return err
	}
	if o.MaxTokens == 0 {
		longest := 0
		for _, x := range slices.Concat(train, val) {
			longest = max(longest, x.answer)
		}
		o.MaxTokens = longest + longest/2 + 4
	}
	limit := r.pack.Config.MaxPositions
	if o.SeqLen > 0 {
		limit = min(o.SeqLen, limit)
	}
	longest := 0
	for i, x := range train {
		n := x.prompt + o.MaxTokens + 1 // a rollout and its end token
		if o.Objective == NextToken {
			n = x.prompt + x.answer
		}
		if n > limit {
			return fmt.Errorf("svf: train expert: the example %.40q… needs %d tokens with its answer; training holds %d: shorten it or leave it out", o.Examples[i].Input, n, limit)
		}
		longest = max(longest, n)
	}
	for i, x := range val {
		if x.prompt >= r.pack.Config.MaxPositions {
			return fmt.Errorf("svf: train expert: the validation example %.40q… has %d tokens; the model holds %d with its answer: shorten it or leave it out", o.Validation[i].Input, x.prompt, r.pack.Config.MaxPositions)
		}
	}
	if o.SeqLen == 0 {
		o.SeqLen = longest
	}
	return nil
}

// batch returns iteration it's training items: Batch of the task's train split, or the
// next Batch of the examples in an order shuffled afresh every epoch.
func (r *reinforce) batch(it int) ([]tasks.Example, error) {
	o := r.opt
	if o.Examples == nil {
		return tasks.Sample(o.Task, tasks.Train, o.Seed<<20|uint64(it), o.Batch)
	}
	n := len(o.Examples)
	out := make([]tasks.Example, 0, o.Batch)
	var perm []int
	epoch := -1
	for i := (it - 1) * o.Batch; len(out) < o.Batch; i++ {
		if e := i / n; e != epoch {
			epoch, perm = e, rand.New(rand.NewPCG(o.Seed, uint64(e))).Perm(n)
		}
		out = append(out, o.Examples[perm[i%n]])
	}
	return out, nil
}

func (r *reinforce) close() {
	r.policy.Close()
	if r.base != nil {
		r.base.Close()
	}
}

// logits returns the parameters p = logit(z/MaxMult) of z, matrix after matrix; an error
// when a matrix lacks its z or a value is outside (0, MaxMult).
func (r *reinforce) logits(z map[string][]float32) ([]float32, error) {
	p := make([]float32, 0, len(r.p))
	for i, name := range r.pack.Manifest.Matrices {
		v := z[name]
		if n := r.spans[i][1] - r.spans[i][0]; len(v) != n {
			return nil, fmt.Errorf("z of %s has %d values, want %d", name, len(v), n)
		}
		for k, x := range v {
			q := float64(x / r.opt.MaxMult)
			if !(q > 0 && q < 1) {
				return nil, fmt.Errorf("z of %s is %g at %d, outside (0, %g)", name, x, k, r.opt.MaxMult)
			}
			p = append(p, float32(math.Log(q/(1-q))))
		}
	}
	return p, nil
}

// z returns z = sigmoid(p)·maxMult per adapted matrix.
func (r *reinforce) z(p []float32) map[string][]float32 {
	z := map[string][]float32{}
	for i, name := range r.pack.Manifest.Matrices {
		s := r.spans[i]
		v := make([]float32, s[1]-s[0])
		for k, x := range p[s[0]:s[1]] {
			v[k] = float32(1/(1+math.Exp(-float64(x)))) * r.opt.MaxMult
		}
		z[name] = v
	}
	return z
}

// apply makes W' for p in the rollout engine and in the policy's parameters.
func (r *reinforce) apply(p []float32) error {
	if err := r.m.Weights.SetZ(r.z(p)); err != nil {
		return err
	}
	for i, name := range r.pack.Manifest.Matrices {
		w := r.m.Weights.Linears[name].(*svf.Merged).Dense().W
		copy(r.policy.Params[r.offsets[i]:r.offsets[i]+len(w)], w)
	}
	return nil
}

func (r *reinforce) run(ctx context.Context) (*svf.Expert, error) {
	o := r.opt
	if o.Checkpoint != "" {
		if err := r.resume(); err != nil {
			return nil, err
		}
	}
	if r.state.Iter == 0 {
		if err := r.validate(0); err != nil {
			return nil, err
		}
	}
	stopped, validated := false, r.state.Iter
	for r.state.Iter < o.Iters {
		if ctx.Err() != nil {
			stopped = true
			break
		}
		it := r.state.Iter + 1
		step, err := r.iterate(it)
		if err != nil {
			return nil, err
		}
		r.state.Iter = it
		step.Validation = -1
		if it%o.ValEvery == 0 || it == o.Iters {
			if step.BestZ, err = r.validateStep(it); err != nil {
				return nil, err
			}
			step.Validation, validated = r.lastVal, it
		}
		step.Best, step.Base = r.state.Best, r.state.Base
		if o.Progress != nil {
			o.Progress(step)
		}
	}
	if stopped && validated < r.state.Iter {
		// The iterate a person stopped at may be the best: see.
		step := ReinforceStep{Iter: r.state.Iter}
		var err error
		if step.BestZ, err = r.validateStep(r.state.Iter); err != nil {
			return nil, err
		}
		step.Validation, step.Best, step.Base = r.lastVal, r.state.Best, r.state.Base
		if o.Progress != nil {
			o.Progress(step)
		}
	}
	best := r.state.Best
	if r.bestP == nil { // no iterations: the initial z, scored as the base model
		r.bestP, best = r.p, r.state.Base
	}
	domain := o.Domain
	if o.Task != nil {
		domain = o.Task.Domain()
	}
	iters := fmt.Sprintf("%d iterations", o.Iters)
	if stopped {
		iters = fmt.Sprintf("stopped after %d of %d iterations", r.state.Iter, o.Iters)
	}
	if o.Examples != nil {
		iters += fmt.Sprintf(" (%.3g epochs)", float64(r.state.Iter*o.Batch)/float64(len(o.Examples)))
	}
	how := fmt.Sprintf("REINFORCE on %s: %s (best at %d), batch %d, lr %g, clip %g, kl %g, %s, seed %d",
		r.source(), iters, r.state.BestIter, o.Batch, o.LR, o.Clip, o.KL, rolloutText(o), o.Seed)
	if o.Objective == NextToken {
		how = fmt.Sprintf("next-token loss on the worked solutions of %s: %s (best at %d), batch %d, lr %g, clip %g, seed %d",
			r.source(), iters, r.state.BestIter, o.Batch, o.LR, o.Clip, o.Seed)
	}
	if o.Init != nil {
		how += ", started from " + o.InitFrom
	}
	if r.state.StartFrom != "" {
		how += ", started from " + r.state.StartFrom
	}
	e := &svf.Expert{
		Name: o.Name, Domain: domain, Score: &best, Z: r.z(r.bestP),
		Description: fmt.Sprintf("%s on %s", objectiveName(o.Objective), r.source()),
		Trained: fmt.Sprintf("%s; score = validation accuracy on %d questions (base model %.1f %%)",
			how, len(r.val), 100*r.state.Base),
	}
	return e, nil
}

// validateStep validates at iteration it and saves the checkpoint; it returns the z of
// the iterate when it is the best so far, else nil.
func (r *reinforce) validateStep(it int) (map[string][]float32, error) {
	before := r.state.BestIter
	if err := r.validate(it); err != nil {
		return nil, err
	}
	if r.opt.Checkpoint != "" {
		if err := r.save(); err != nil {
			return nil, err
		}
	}
	if r.state.BestIter != before {
		return r.z(r.bestP), nil
	}
	return nil, nil
}

// validate measures greedy accuracy on the validation questions with the current p and
// keeps p if it is the best so far. At iteration 0 it first scores the base model (z
// uniform, which the nuclear-norm rescale makes W' = W exactly): that is the card's
// "base model" figure. A run started from an expert (Init) scores its start as well and
// keeps it as the best so far, so a run that never improves on it returns it unchanged.
func (r *reinforce) validate(it int) error {
	if it == 0 {
		uniform := make([]float32, len(r.p))
		for i := range uniform {
			uniform[i] = 0.1
		}
		acc, err := r.accuracy(uniform)
		if err != nil {
			return err
		}
		r.state.Base, r.lastVal = acc, acc
		if r.opt.Init == nil && r.opt.Starts != nil {
			return r.pickStart()
		}
		if r.opt.Init == nil {
			return nil
		}
	}
	sc, err := r.validScore(r.p)
	if err != nil {
		return err
	}
	r.lastVal = sc.Value
	if sc.Better(svf.Score{Value: r.state.Best, Tie: r.state.BestTie}) {
		r.state.Best, r.state.BestTie, r.state.BestIter = sc.Value, sc.Tie, it
		r.bestP = slices.Clone(r.p)
	}
	return nil
}

// pickStart scores the base model and each of Starts by the likelihood of the first
// batch's outputs, the objective training lowers (one batched teacher-forced pass for
// all: a handful of held-out answers is too few to choose by), and starts from the
// likeliest start if it is likelier than the base; its validation accuracy is then the
// best so far. It leaves the engine's W' at the last candidate's; apply sets it.
func (r *reinforce) pickStart() error {
	var starts []*svf.Expert
	var ps [][]float32
	zs := []map[string][]float32{nil} // the base model first
	for _, x := range r.opt.Starts {
		p, err := r.logits(x.Z)
		if err != nil {
			continue // not a start z can be trained from (a z ≥ MaxMult)
		}
		starts, ps, zs = append(starts, x), append(ps, p), append(zs, x.Z)
	}
	if len(starts) == 0 {
		return nil
	}
	items, err := r.batch(1) // a batch is enough for a likelihood, and costs one
	if err != nil {
		return err
	}
	// The training examples' outputs are their worked solutions (solutionOf).
	scored := make([]tasks.Example, len(items))
	for i, ex := range items {
		scored[i] = tasks.Example{Input: ex.Input, Output: solutionOf(ex)}
	}
	// One candidate after another, each recomposed: a population pass runs the
	// matrices factored, which costs 2(M+N)·R a row against M·N merged, nearly three
	// times as much at full rank (and, in the page, outside the SIMD kernels).
	scores, err := svf.ScoreCandidates(r.m, r.rollout, zs, scored, svf.FewShotOptions{Score: svf.ScoreLikelihood, Scoring: svf.ScoringSequential})
	if err != nil {
		return err
	}
	best := 0
	for i, s := range scores {
		if s.Better(scores[best]) {
			best = i
		}
	}
	if best == 0 {
		return nil
	}
	x, p := starts[best-1], ps[best-1]
	sc, err := r.validScore(p)
	if err != nil {
		return err
	}
	r.p, r.state.StartFrom = p, fmt.Sprintf("expert %s (the likeliest outputs of the first batch: log-likelihood %.3f per token, the base model %.3f; %.1f %% of the validation questions)",
		x.Name, scores[best].Value, scores[0].Value, 100*sc.Value)
	r.state.Best, r.state.BestTie, r.state.BestIter, r.bestP, r.lastVal = sc.Value, sc.Tie, 0, slices.Clone(p), sc.Value
	return nil
}

// validScore scores p on the validation items: greedy accuracy, and on a person's
// examples ties broken by the mean log-likelihood per token of their outputs (one
// teacher-forced pass). Those hold out few (2 of 10), whose accuracy stays tied for
// many iterations while the outputs grow likelier: without the tie-break the run would
// keep its first iterate. A task's 100 or more validation questions rarely tie, and
// their worked solutions need not fit a small model's context (setup checks only a
// person's examples), so there accuracy alone decides, as it always did.
func (r *reinforce) validScore(p []float32) (svf.Score, error) {
	acc, err := r.accuracy(p)
	if err != nil || r.opt.Examples == nil {
		return svf.Score{Value: acc}, err
	}
	ll, err := svf.ScoreCandidates(r.m, r.rollout, []map[string][]float32{r.z(p)}, r.val,
		svf.FewShotOptions{Score: svf.ScoreLikelihood, Scoring: svf.ScoringSequential})
	if err != nil {
		return svf.Score{}, err
	}
	return svf.Score{Value: acc, Tie: ll[0].Value}, nil
}

// accuracy is the greedy accuracy on the validation questions with W' of p.
func (r *reinforce) accuracy(p []float32) (float64, error) {
	if err := r.apply(p); err != nil {
		return 0, err
	}
	res, err := svf.Evaluate(r.m, r.rollout, r.val, r.opt.Check, r.opt.MaxTokens)
	if err != nil {
		return 0, err
	}
	return res.Accuracy(), nil
}

// iterate runs iteration it: rollouts, rewards, the gradient, one Adam step.
func (r *reinforce) iterate(it int) (ReinforceStep, error) {
	o := r.opt
	step := ReinforceStep{Iter: it}
	if err := r.apply(r.p); err != nil {
		return step, err
	}
	batch, err := r.batch(it)
	if err != nil {
		return step, err
	}
	// Rollouts, MaxSeqs at a time.
	type rollout struct {
		prompt, answer []int
		reward         float32
	}
	var rolls []rollout
	if o.Objective == NextToken {
		// Teacher forcing: the "rollouts" are the worked solutions, each token weighed
		// 1/(answer tokens of the batch), so the loss is the mean cross-entropy.
		for _, ex := range batch {
			prompt, err := svf.Prompt(r.m, ex.Input)
			if err != nil {
				return step, err
			}
			answer, err := svf.AnswerTokens(r.m, ex.Input, prompt, solutionOf(ex))
			if err != nil {
				return step, err
			}
			if len(prompt)+len(answer) > o.SeqLen {
				return step, fmt.Errorf("svf: train expert: a prompt of %d tokens and a solution of %d exceed the sequence length %d", len(prompt), len(answer), o.SeqLen)
			}
			rolls = append(rolls, rollout{prompt, answer, 1})
		}
	}
	for lo := 0; lo < len(batch) && o.Objective != NextToken; lo += r.rollout.MaxSeqs() {
		chunk := batch[lo:min(lo+r.rollout.MaxSeqs(), len(batch))]
		prompts := make([][]int, len(chunk))
		samplers := make([]*model.Sampler, len(chunk))
		for i, ex := range chunk {
			if prompts[i], err = svf.Prompt(r.m, ex.Input); err != nil {
				return step, err
			}
			if len(prompts[i])+o.MaxTokens+1 > o.SeqLen {
				return step, fmt.Errorf("svf: train expert: a prompt of %d tokens, %d answer tokens and an end token exceed the sequence length %d", len(prompts[i]), o.MaxTokens, o.SeqLen)
			}
			if o.Sample {
				temp := o.Temperature
				if temp <= 0 {
					temp = 1
				}
				samplers[i] = model.NewSampler(model.SamplerParams{Temperature: temp, Seed: o.Seed<<32 | uint64(it)<<12 | uint64(lo+i)})
			} else {
				samplers[i] = model.Greedy()
			}
		}
		outs, ends, err := model.GenerateBatch(r.rollout, prompts, samplers, o.MaxTokens, r.m.EOS)
		if err != nil {
			return step, err
		}
		for i, ex := range chunk {
			ok := o.Check(ex, r.m.Tokenizer.Decode(outs[i], true))
			if ends[i] >= 0 {
				// Ending is an action of the policy too: its log π is in the gradient.
				outs[i] = append(outs[i], ends[i])
			}
			rw := float32(-1)
			if ok {
				rw = 1
				step.Accuracy++
			}
			rolls = append(rolls, rollout{prompts[i], outs[i], rw})
			step.Reward += float64(rw)
		}
	}
	step.Accuracy /= float64(len(rolls))
	step.Reward /= float64(len(rolls))
	if o.Baseline && o.Objective != NextToken {
		for i := range rolls {
			rolls[i].reward -= float32(step.Reward)
		}
	}

	// The gradient, Micro sequences at a time.
	r.policy.ZeroGrad()
	answerTokens := 0
	for _, ro := range rolls {
		answerTokens += len(ro.answer)
	}
	T, V := o.SeqLen, r.pack.Config.VocabSize
	var klSum float64
	for lo := 0; lo < len(rolls); lo += o.Micro {
		chunk := rolls[lo:min(lo+o.Micro, len(rolls))]
		clear(r.inputs)
		clear(r.dlogits)
		for b, ro := range chunk {
			seq := append(slices.Clone(ro.prompt), ro.answer...)
			copy(r.inputs[b*T:], seq)
		}
		if _, err := r.policy.Forward(r.inputs, nil, nil); err != nil {
			return step, err
		}
		logits := r.policy.Logits()
		var baseLogits []float32
		if r.base != nil {
			if _, err := r.base.Forward(r.inputs, nil, nil); err != nil {
				return step, err
			}
			baseLogits = r.base.Logits()
		}
		for b, ro := range chunk {
			// REINFORCE: d(−r·log π(tok)/B)/dlogits = r·(π − onehot(tok))/B.
			w := ro.reward / float32(len(rolls))
			if o.Objective == NextToken {
				w = 1 / float32(answerTokens)
			}
			for j, tok := range ro.answer {
				row := b*T + len(ro.prompt) + j - 1 // the position that predicts answer token j
				d := r.dlogits[row*V : row*V+V]
				softmax(r.probs, logits[row*V:row*V+V])
				step.Loss -= math.Log(max(float64(r.probs[tok]), 1e-30))
				if argmaxF32(r.probs) == tok {
					step.TokenAccuracy++
				}
				if r.base != nil {
					klSum += klGrad(d, r.probs, baseLogits[row*V:row*V+V], float32(o.KL)/float32(answerTokens))
				}
				for v, pv := range r.probs {
					d[v] += w * pv
				}
				d[tok] -= w
			}
		}
		r.policy.BackwardFrom(r.dlogits)
	}
	if answerTokens > 0 {
		step.KL = klSum / float64(answerTokens)
		step.Loss /= float64(answerTokens)
		step.TokenAccuracy /= float64(answerTokens)
	}
	// dloss/dp through each recomposition.
	clear(r.dp)
	for i, f := range r.factors {
		s := r.spans[i]
		g := r.policy.Grads[r.offsets[i] : r.offsets[i]+f.M*f.N]
		if o.Kernels != nil {
			f.GradPKernels(o.Kernels, r.scratch[i], r.dp[s[0]:s[1]], r.p[s[0]:s[1]], g, o.MaxMult)
		} else {
			f.GradP(r.dp[s[0]:s[1]], r.p[s[0]:s[1]], g, o.MaxMult)
		}
	}
	step.GradNorm = r.adam.Update(r.p, r.dp)
	r.state.Step = r.adam.Step
	return step, nil
}

// softmax writes softmax(logits) to dst, in float64.
func softmax(dst, logits []float32) {
	top := logits[0]
	for _, v := range logits {
		top = max(top, v)
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - top))
	}
	for i, v := range logits {
		dst[i] = float32(math.Exp(float64(v-top)) / sum)
	}
}

// klGrad adds to d the gradient w.r.t. the policy's logits of scale·KL(π ‖ π_base) for
// one row, π = probs, and returns the row's KL: dKL/dlogit_v = π_v·(log π_v − log π_base,v − KL).
func klGrad(d, probs, baseLogits []float32, scale float32) float64 {
	top := baseLogits[0]
	for _, v := range baseLogits {
		top = max(top, v)
	}
	var z float64
	for _, v := range baseLogits {
		z += math.Exp(float64(v - top))
	}
	logZ := math.Log(z) + float64(top)
	var kl float64
	for v, pv := range probs {
		if pv > 0 {
			kl += float64(pv) * (math.Log(float64(pv)) - (float64(baseLogits[v]) - logZ))
		}
	}
	for v, pv := range probs {
		if pv > 0 {
			d[v] += scale * pv * float32(math.Log(float64(pv))-(float64(baseLogits[v])-logZ)-kl)
		}
	}
	return kl
}

// save writes the run's state to the checkpoint file, atomically.
func (r *reinforce) save() error {
	meta, err := json.Marshal(r.state)
	if err != nil {
		return err
	}
	ts := []safetensors.Tensor{
		safetensors.Float32Tensor("p", r.p, []int{len(r.p)}),
		safetensors.Float32Tensor("best", r.bestP, []int{len(r.bestP)}),
		safetensors.Float32Tensor("adam.m", r.adam.M, []int{len(r.adam.M)}),
		safetensors.Float32Tensor("adam.v", r.adam.V, []int{len(r.adam.V)}),
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, map[string]string{"format": "t2web-reinforce", "state": string(meta)}); err != nil {
		return err
	}
	return svf.WriteFileAtomic(r.opt.Checkpoint, buf.Bytes())
}

// resume loads the checkpoint file when it exists; a checkpoint of another run or a
// damaged one is an error, and the file is left as it is.
func (r *reinforce) resume() error {
	path := r.opt.Checkpoint
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("svf: checkpoint %s: %s (delete it to start over)", path, fmt.Sprintf(format, args...))
	}
	f, err := safetensors.Open(bytes.NewReader(data), int64(len(data)), path)
	if err != nil {
		return fail("%v", err)
	}
	var st reinforceState
	if err := json.Unmarshal([]byte(f.Metadata()["state"]), &st); err != nil {
		return fail("state: %v", err)
	}
	if st.Objective == "" {
		st.Objective = Reinforce
	}
	if st.Task != r.state.Task || st.Name != r.state.Name || st.Params != len(r.p) || st.Objective != r.state.Objective {
		return fail("it is a %s run of expert %q on %s with %d parameters, not a %s run of %q on %s with %d",
			st.Objective, st.Name, st.Task, st.Params, r.state.Objective, r.state.Name, r.state.Task, len(r.p))
	}
	read := func(name string, dst []float32) error {
		x, err := f.Float32(name)
		if err != nil {
			return err
		}
		if len(x) != len(dst) {
			return fmt.Errorf("tensor %s has %d values, want %d", name, len(x), len(dst))
		}
		copy(dst, x)
		return nil
	}
	best := make([]float32, len(r.p))
	for _, t := range []struct {
		name string
		dst  []float32
	}{{"p", r.p}, {"best", best}, {"adam.m", r.adam.M}, {"adam.v", r.adam.V}} {
		if err := read(t.name, t.dst); err != nil {
			return fail("%v", err)
		}
	}
	r.state, r.bestP, r.adam.Step = st, best, st.Step
	return nil
}

// DenseWeights returns weights like w in which every Merged matrix is its dense W'
// (shared, not copied): what package train takes.
func DenseWeights(w *model.Weights) *model.Weights {
	d := w.Clone()
	for name, l := range w.Linears {
		if m, ok := l.(*svf.Merged); ok {
			if err := d.Replace(name, m.Dense()); err != nil {
				panic(err) // same matrix, same shape
			}
		}
	}
	return d
}

// rolloutText says how rollouts were drawn and rewarded.
func rolloutText(o ReinforceOptions) string {
	s := "greedy"
	if o.Sample {
		t := o.Temperature
		if t <= 0 {
			t = 1
		}
		s = fmt.Sprintf("sampled (temperature %g)", t)
	}
	if o.Baseline {
		s += ", mean-reward baseline"
	}
	return s + " rollouts"
}

// solutionOf is what the next-token objective teaches for ex: its worked solution, or its
// reference answer when the task has none.
func solutionOf(ex tasks.Example) string {
	if ex.Solution != "" {
		return ex.Solution
	}
	return ex.Output
}

// argmaxF32 returns the index of x's largest value, the first one on ties.
func argmaxF32(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// objectiveName is how an expert's description names its objective.
func objectiveName(o Objective) string {
	if o == NextToken {
		return "next-token loss"
	}
	return "REINFORCE"
}
