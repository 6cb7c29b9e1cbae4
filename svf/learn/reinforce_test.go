package learn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/model/train"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/tasks"
)

// newPack converts the checkpoint folder src into a pack in a temporary folder.
func newPack(t testing.TB, src string, opt convert.Options) (string, *svf.Pack) {
	t.Helper()
	dir := t.TempDir()
	if _, err := convert.Convert(os.DirFS(src), dir, opt); err != nil {
		t.Fatal(err)
	}
	return dir, packtest.Open(t, dir)
}

// coinTask asks "qN" and wants "A": a toy task whose right answer is one token.
type coinTask struct{}

func (coinTask) Name() string   { return "coin" }
func (coinTask) Domain() string { return "coin" }
func (coinTask) Unseen() bool   { return false }
func (coinTask) Example(rng *rand.Rand) tasks.Example {
	return tasks.Example{Input: fmt.Sprintf("q%d", rng.IntN(1000)), Output: "A", Task: "coin", Domain: "coin"}
}
func (coinTask) Extract(answer string) (string, bool) { return strings.TrimSpace(answer), true }
func (t coinTask) Check(ex tasks.Example, answer string) bool {
	a, _ := t.Extract(answer)
	return a == ex.Output
}

const coinConfig = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 257, "hidden_size": 32,
  "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
  "rope_theta": 10000, "tie_word_embeddings": false, "eos_token_id": 256
}`

// coinPack trains a tiny byte-level model to answer "qN" with "A" (30 % of the time) or
// "B", then an end token, and converts it to an f32 pack adapting MLP and attention.
func coinPack(t *testing.T) *svf.Pack {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(coinConfig))
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 16, 8
	m, err := train.New[float32](cfg, train.Options{B: B, T: T, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	opt := train.NewAdamW(train.AdamWConfig{LR: 1e-2, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, Clip: 1}, len(m.Params))
	rng := rand.New(rand.NewPCG(1, 2))
	inputs, targets, mask := make([]int, B*T), make([]int, B*T), make([]float32, B*T)
	for range 300 {
		for b := range B {
			q := []byte(fmt.Sprintf("q%d", rng.IntN(1000)))
			ans := byte('B')
			if rng.IntN(10) < 3 {
				ans = 'A'
			}
			seq := append(append(q, ans), 0)
			for i := range T {
				inputs[b*T+i], targets[b*T+i], mask[b*T+i] = 0, -1, 0
			}
			for i := range len(q) + 1 {
				inputs[b*T+i] = int(seq[i])
			}
			targets[b*T+len(q)-1], mask[b*T+len(q)-1] = int(ans), 1 // after the question: A or B
			targets[b*T+len(q)], mask[b*T+len(q)] = 256, 1          // after the answer: the end
		}
		m.ZeroGrad()
		if _, err := m.Forward(inputs, targets, mask); err != nil {
			t.Fatal(err)
		}
		m.Backward()
		opt.Update(m.Params, m.Grads)
	}
	src := t.TempDir()
	if err := model.WriteCheckpoint(src, []byte(coinConfig), m.Weights(), safetensors.F32); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "tokenizer.json"), tokenizer.ByteLevelJSON([]string{"<|end|>"}), 0o644)
	os.WriteFile(filepath.Join(src, "tokenizer_config.json"), []byte(`{}`), 0o644)
	_, p := newPack(t, src, convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}})
	return p
}

// TestReinforceRaisesReward: on the coin model, which says A half of the time, REINFORCE
// on z must raise the share of A — with the reference's ±1 rewards at temperature 1, and
// with the mean-reward baseline at temperature 0.7 — it fails if the gradient is wrong or
// zero.
func TestReinforceRaisesReward(t *testing.T) {
	p := coinPack(t)
	for _, tt := range []struct {
		name        string
		baseline    bool
		temperature float32
	}{{"reference", false, 0}, {"baseline", true, 0.7}} {
		t.Run(tt.name, func(t *testing.T) {
			opt := DefaultReinforce()
			opt.Task, opt.Name = coinTask{}, "coin"
			opt.Batch, opt.Micro, opt.Iters, opt.ValEvery, opt.ValN = 128, 32, 60, 10, 32
			opt.MaxTokens, opt.SeqLen, opt.Sample, opt.LR, opt.Clip = 2, 16, true, 0.1, 1
			opt.Baseline, opt.Temperature = tt.baseline, tt.temperature
			var steps []ReinforceStep
			opt.Progress = func(s ReinforceStep) { steps = append(steps, s) }
			e, err := TrainExpert(context.Background(), p, opt)
			if err != nil {
				t.Fatal(err)
			}
			mean := func(s []ReinforceStep) float64 {
				var sum float64
				for _, x := range s {
					sum += x.Reward
				}
				return sum / float64(len(s))
			}
			// The model's SVF can only reweight singular values, which takes A from about
			// 21 % to about 35 % of the answers here; a wrong or zero gradient leaves it or
			// lowers it.
			first, last := mean(steps[:4]), mean(steps[len(steps)-20:])
			t.Logf("mean reward: first 4 iterations %.3f, last 20 %.3f; best validation %.3f", first, last, *e.Score)
			if last < first+0.1 {
				t.Errorf("mean reward went from %.3f to %.3f: REINFORCE did not learn", first, last)
			}
			if err := p.Check(e); err != nil {
				t.Error(err)
			}
			if e.Domain != "coin" || !strings.Contains(e.Trained, "REINFORCE on coin") || strings.Contains(e.Trained, "baseline") != tt.baseline {
				t.Errorf("expert card: domain %q, trained %q", e.Domain, e.Trained)
			}
		})
	}
}

// TestReinforceResume: a run interrupted after its first checkpoint and resumed ends
// where an uninterrupted run ends; a damaged checkpoint is refused and left as it is.
func TestReinforceResume(t *testing.T) {
	p := coinPack(t)
	opt := DefaultReinforce()
	opt.Task, opt.Name = coinTask{}, "coin"
	opt.Batch, opt.Micro, opt.Iters, opt.ValEvery, opt.ValN = 16, 16, 4, 2, 8
	opt.MaxTokens, opt.SeqLen, opt.Sample, opt.LR, opt.Clip, opt.KL = 2, 16, true, 0.1, 1, 0.1
	straight, err := TrainExpert(context.Background(), p, opt)
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(t.TempDir(), "run.ckpt")
	half := opt
	half.Checkpoint, half.Iters = ck, 2
	if _, err := TrainExpert(context.Background(), p, half); err != nil {
		t.Fatal(err)
	}
	rest := opt
	rest.Checkpoint = ck
	resumed, err := TrainExpert(context.Background(), p, rest)
	if err != nil {
		t.Fatal(err)
	}
	for name, z := range straight.Z {
		for k := range z {
			if z[k] != resumed.Z[name][k] {
				t.Fatalf("%s[%d]: straight %g, resumed %g", name, k, z[k], resumed.Z[name][k])
			}
		}
	}
	data, _ := os.ReadFile(ck)
	bad := append([]byte(nil), data[:len(data)/2]...)
	os.WriteFile(ck, bad, 0o644)
	if _, err := TrainExpert(context.Background(), p, rest); err == nil || !strings.Contains(err.Error(), ck) {
		t.Errorf("truncated checkpoint: %v", err)
	}
	if after, _ := os.ReadFile(ck); string(after) != string(bad) {
		t.Error("a refused checkpoint was changed")
	}
	other := rest
	other.Name = "other"
	os.WriteFile(ck, data, 0o644)
	if _, err := TrainExpert(context.Background(), p, other); err == nil || !strings.Contains(err.Error(), `expert "coin"`) {
		t.Errorf("checkpoint of another run: %v", err)
	}
}

// TestNextTokenObjective: training z on the next-token loss of the reference answers
// ("A") lowers that loss and raises the validation accuracy of the coin model, which
// answers A less than half of the time; an expert started from another (Init) starts at
// that expert's z exactly, and a bad initial z is refused naming its matrix.
func TestNextTokenObjective(t *testing.T) {
	p := coinPack(t)
	opt := DefaultReinforce()
	opt.Task, opt.Name, opt.Objective = coinTask{}, "coin-ce", NextToken
	opt.Batch, opt.Micro, opt.Iters, opt.ValEvery, opt.ValN = 64, 32, 40, 10, 64
	opt.MaxTokens, opt.SeqLen, opt.LR, opt.Clip = 2, 16, 0.1, 1
	var steps []ReinforceStep
	opt.Progress = func(s ReinforceStep) { steps = append(steps, s) }
	e, err := TrainExpert(context.Background(), p, opt)
	if err != nil {
		t.Fatal(err)
	}
	first, last := steps[0].Loss, steps[len(steps)-1].Loss
	t.Logf("next-token loss %.3f → %.3f; validation accuracy %.3f (base model %s)", first, last, *e.Score, e.Trained)
	if last > first-0.05 {
		t.Errorf("the next-token loss went from %.3f to %.3f: the objective did not train z", first, last)
	}
	if !strings.Contains(e.Trained, "next-token loss on the worked solutions of coin") || e.Description != "next-token loss on coin" {
		t.Errorf("expert card: %q, %q", e.Description, e.Trained)
	}

	// Zero iterations from an expert: the expert's z, scored as the start on the same
	// validation questions, and the base model still scored as the base model.
	from := DefaultReinforce()
	from.Task, from.Name, from.Iters, from.ValN, from.MaxTokens, from.SeqLen = coinTask{}, "again", 0, opt.ValN, 2, 16
	from.Init, from.InitFrom = e.Z, "expert coin-ce"
	again, err := TrainExpert(context.Background(), p, from)
	if err != nil {
		t.Fatal(err)
	}
	for name, z := range e.Z {
		for k, v := range z {
			if d := again.Z[name][k] - v; d > 1e-6 || d < -1e-6 {
				t.Fatalf("%s[%d]: started at %g, the expert has %g", name, k, again.Z[name][k], v)
			}
		}
	}
	if *again.Score != *e.Score {
		t.Errorf("started from the expert (validation %.3f), the start scores %.3f", *e.Score, *again.Score)
	}
	baseOf := func(trained string) string { _, b, _ := strings.Cut(trained, "(base model "); return b }
	if baseOf(again.Trained) == "" || baseOf(again.Trained) != baseOf(e.Trained) {
		t.Errorf("the base model's figure: %q from scratch, %q from the expert", e.Trained, again.Trained)
	}
	bad := map[string][]float32{}
	for name, z := range e.Z {
		bad[name] = make([]float32, len(z)) // z = 0: sigmoid(p) never reaches it
	}
	from.Init = bad
	if _, err := TrainExpert(context.Background(), p, from); err == nil || !strings.Contains(err.Error(), "outside (0, 1)") {
		t.Errorf("an initial z of 0: %v", err)
	}
}

// TestTrainOnExamples trains on a person's examples as the page's "Train a new expert"
// does: the coin model, which answers B when greedy, learns from 30 examples whose answer
// is A with the next-token objective; their loss must fall (z alone cannot make it answer
// A greedily: see TestReinforceRaisesReward), an epoch draws each example once, a stop
// keeps the best iterate and says where it stopped, and an example longer than the
// model's context is refused, quoted.
func TestTrainOnExamples(t *testing.T) {
	p := coinPack(t)
	var all []tasks.Example
	for i := range 40 {
		all = append(all, tasks.Example{Input: fmt.Sprintf("q%d", 100+i*7), Output: "A"})
	}
	train, val, err := SplitExamples(all, 0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(train) != 30 || len(val) != 10 {
		t.Fatalf("split 40 examples at 0.25 into %d and %d, want 30 and 10", len(train), len(val))
	}
	opts := func() ReinforceOptions {
		o := DefaultReinforce()
		o.Name, o.Objective, o.Examples, o.Validation, o.Source = "mine", NextToken, train, val, "30 examples of mine.jsonl"
		o.Batch, o.Micro, o.Iters, o.ValEvery, o.MaxTokens, o.SeqLen, o.LR, o.Clip = 10, 10, 12, 3, 2, 0, 0.1, 1
		return o
	}

	t.Run("learns", func(t *testing.T) {
		o := opts()
		var steps []ReinforceStep
		o.Progress = func(s ReinforceStep) { steps = append(steps, s) }
		e, err := TrainExpert(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		first, last := steps[0].Loss, steps[len(steps)-1].Loss
		t.Logf("%s; loss %.3f → %.3f", e.Trained, first, last)
		if last > first-0.1 {
			t.Errorf("the examples' loss went from %.3f to %.3f in 4 epochs: the next-token objective did not learn", first, last)
		}
		if !strings.Contains(e.Trained, "30 examples of mine.jsonl: 12 iterations (4 epochs)") || !strings.Contains(e.Trained, "10 questions") {
			t.Errorf("card %q does not say what it was trained and validated on", e.Trained)
		}
	})

	t.Run("stop keeps the best", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		o := opts()
		var steps []ReinforceStep
		o.Progress = func(s ReinforceStep) {
			steps = append(steps, s)
			if s.Iter == 4 {
				cancel()
			}
		}
		e, err := TrainExpert(ctx, p, o)
		if err != nil {
			t.Fatal(err)
		}
		last := steps[len(steps)-1]
		if len(steps) != 5 || last.Iter != 4 || last.Validation < 0 {
			t.Fatalf("stopped at iteration 4: %d progress reports, the last %+v; want 5, the last validating iteration 4", len(steps), last)
		}
		if !strings.Contains(e.Trained, "stopped after 4 of 12 iterations") || *e.Score != last.Best {
			t.Errorf("card %q, score %v; want the stop said and the best validation %v", e.Trained, *e.Score, last.Best)
		}
		var bestZ map[string][]float32
		for _, s := range steps {
			if s.BestZ != nil {
				bestZ = s.BestZ
			}
		}
		for name, z := range e.Z {
			if !slices.Equal(z, bestZ[name]) {
				t.Fatalf("the expert's z of %s is not the best iterate's the progress reported", name)
			}
		}
	})

	t.Run("reinforce", func(t *testing.T) {
		// REINFORCE on examples: rollouts of the examples' questions, checked against
		// their outputs by tasks.Generic (a letter here); the sequence length fits them.
		o := opts()
		o.Objective, o.Iters, o.Sample, o.MaxTokens = Reinforce, 3, true, 2
		var steps []ReinforceStep
		o.Progress = func(s ReinforceStep) { steps = append(steps, s) }
		e, err := TrainExpert(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 3 || !strings.Contains(e.Trained, "REINFORCE on 30 examples of mine.jsonl") {
			t.Fatalf("%d steps, card %q", len(steps), e.Trained)
		}
		if steps[0].Accuracy == 0 && steps[1].Accuracy == 0 && steps[2].Accuracy == 0 {
			t.Errorf("no rollout of 90 was checked right (the model says A a quarter of the time when sampled): is the check wired?")
		}
	})

	t.Run("epochs", func(t *testing.T) {
		r := &reinforce{opt: opts()}
		seen := map[string]int{}
		for it := 1; it <= 3; it++ {
			b, err := r.batch(it)
			if err != nil {
				t.Fatal(err)
			}
			for _, ex := range b {
				seen[ex.Input]++
			}
		}
		if len(seen) != len(train) {
			t.Fatalf("an epoch of 3 batches of 10 drew %d distinct examples of %d", len(seen), len(train))
		}
	})

	t.Run("too long", func(t *testing.T) {
		o := opts()
		o.Examples = append(slices.Clone(train), tasks.Example{Input: strings.Repeat("q", 80), Output: "A"})
		_, err := TrainExpert(context.Background(), p, o)
		if err == nil || !strings.Contains(err.Error(), `"qqqqq`) {
			t.Fatalf("an example longer than the context: %v, want an error quoting it", err)
		}
	})

	t.Run("starts", func(t *testing.T) {
		// An expert trained on the examples makes their outputs likelier than the base
		// does: a run given it as a start begins there. One with z = 1.5 cannot be a
		// start; one equal to the base (uniform z) is no likelier.
		trained, err := TrainExpert(context.Background(), p, opts())
		if err != nil {
			t.Fatal(err)
		}
		o := opts()
		o.Iters = 0
		o.Starts = []*svf.Expert{p.Uniform("too-big", 1.5), p.Uniform("same", 0.5), trained}
		x, err := TrainExpert(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(x.Trained, "started from expert mine") {
			t.Fatalf("card %q: want the run started from expert mine, trained on the examples", x.Trained)
		}
		for name, z := range trained.Z {
			for i := range z {
				if math.Abs(float64(x.Z[name][i]-z[i])) > 1e-6 {
					t.Fatalf("no iterations from expert mine: z of %s[%d] is %g, want its %g", name, i, x.Z[name][i], z[i])
				}
			}
		}
		o.Starts = o.Starts[:2] // neither is likelier than the base: the reference's start
		if x, err = TrainExpert(context.Background(), p, o); err != nil || strings.Contains(x.Trained, "started from") {
			t.Fatalf("with no start likelier than the base: card %q, %v", x.Trained, err)
		}
	})

	for _, tc := range []struct {
		n     int
		share float64
	}{{1, 0.2}, {10, 0}, {10, 1}} {
		if _, _, err := SplitExamples(all[:tc.n], tc.share, 1); err == nil {
			t.Errorf("SplitExamples of %d examples at %g: no error", tc.n, tc.share)
		}
	}
}
