package svf_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/tasks"
)

// chatConfig is a small Llama with the byte-level ChatML tokenizer of the demo model
// (<|im_end|> = 258 ends a turn).
const chatConfig = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 259, "hidden_size": 48,
  "intermediate_size": 112, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 320, "rms_norm_eps": 1e-5,
  "rope_theta": 10000, "tie_word_embeddings": false, "eos_token_id": [256, 258]
}`

// chatPack converts a random checkpoint of chatConfig with a ChatML template into an f32
// pack adapting MLP and attention, with four experts of random z: math, code, reasoning
// and cls.
func chatPack(t *testing.T) (*svf.Pack, []*svf.Expert) {
	t.Helper()
	dir := packtest.Checkpoint(t, chatConfig, 5)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokenizer.ByteLevelJSON([]string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}), 0o644)
	const template = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`
	cfg, _ := json.Marshal(map[string]string{"eos_token": "<|im_end|>", "chat_template": template})
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644)
	_, p := newPack(t, dir, convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}})
	var experts []*svf.Expert
	for i, domain := range []string{"math", "code", "reasoning", "cls"} {
		experts = append(experts, &svf.Expert{Name: domain, Domain: domain, Z: packtest.RandomZ(p, uint64(10+i), 0.2, 1.8)})
	}
	return p, experts
}

// TestDispatchScores: the prompt strategy scores every label — its tokens and the end of
// the turn — in one batched forward pass, and the scores equal those of scoring each label
// alone; the chosen expert is the likeliest label's; the cls-expert strategy runs the
// first pass with the classification expert applied.
func TestDispatchScores(t *testing.T) {
	p, experts := chatPack(t)
	m, err := p.Load(svf.MergedPath)
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 4})
	if err != nil {
		t.Fatal(err)
	}
	imEnd, _ := m.Tokenizer.TokenID("<|im_end|>")
	question := "Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?"
	for _, cls := range []*svf.Expert{nil, experts[3]} {
		d, err := svf.NewDispatch(m, e, experts, cls)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Labels(); !slices.Equal(got, []string{"code", "math", "reasoning", "other"}) {
			t.Fatalf("labels %v", got)
		}
		c, err := d.Choose(question)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Labels) != 4 || c.Strategy != d.Name() {
			t.Fatalf("%s: %d label scores, strategy %q", d.Name(), len(c.Labels), c.Strategy)
		}
		// Each label alone, in a fresh sequence, under the first pass's z.
		var z map[string][]float32
		if cls != nil {
			z = cls.Z
		}
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
		q := tasks.ClassificationPrompt(question, d.Labels())
		prompt, _ := svf.Prompt(m, q)
		for _, l := range c.Labels {
			ans, err := svf.AnswerTokens(m, q, prompt, l.Label)
			if err != nil {
				t.Fatal(err)
			}
			if ans[len(ans)-1] != imEnd || m.Tokenizer.Decode(ans[:len(ans)-1], false) != l.Label {
				t.Fatalf("label %q scored as tokens %v", l.Label, ans)
			}
			ids := append(slices.Clone(prompt), ans...)
			positions := make([]int, len(ans))
			for j := range positions {
				positions[j] = len(prompt) - 1 + j
			}
			var want float64
			for j, row := range packtest.LogitsAt(t, e, ids[:len(ids)-1], positions) {
				want += svf.LogSoftmaxAt(row, ans[j])
			}
			if math.Abs(want-l.LogP) > 1e-4 || l.Tokens != len(ans) {
				t.Errorf("%s: label %s: batched log p %.6f over %d tokens, alone %.6f over %d", d.Name(), l.Label, l.LogP, l.Tokens, want, len(ans))
			}
		}
		top := c.Labels[0]
		for _, l := range c.Labels[1:] {
			if l.LogP > top.LogP {
				t.Errorf("labels not best first: %+v", c.Labels)
			}
		}
		wantExpert := top.Expert
		if wantExpert == "" {
			wantExpert = "base"
		}
		if c.Expert != wantExpert || (top.Label == tasks.Other) != (c.Z == nil) {
			t.Errorf("%s: chose %q for top label %q", d.Name(), c.Expert, top.Label)
		}
		t.Logf("%s: %+v → %s", d.Name(), c.Labels, c.Expert)
	}
	if _, err := svf.NewDispatch(m, e, experts[3:], nil); err == nil {
		t.Error("a dispatch with only a cls expert was accepted")
	}
	small, _ := model.NewCPU(m, model.CPUOptions{MaxSeqs: 2})
	if _, err := svf.NewDispatch(m, small, experts, nil); err == nil || !strings.Contains(err.Error(), "sequences") {
		t.Errorf("an engine of 2 sequences for 4 labels: %v", err)
	}
}

// fewShotExamples are examples whose outputs are what model m answers greedily under z:
// a mixture reproducing z answers all of them.
func fewShotExamples(t *testing.T, m *model.Model, e model.Engine, z map[string][]float32, questions []string) []tasks.Example {
	t.Helper()
	if err := e.SetZ(z); err != nil {
		t.Fatal(err)
	}
	var exs []tasks.Example
	for _, q := range questions {
		exs = append(exs, tasks.Example{Input: q})
	}
	res, err := svf.Evaluate(m, e, exs, func(tasks.Example, string) bool { return true }, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range exs {
		exs[i].Output = res.Items[i].Answer
	}
	if err := e.SetZ(nil); err != nil {
		t.Fatal(err)
	}
	return exs
}

// TestFewShotBatchedEqualsSequential: scoring a population in the same forward passes
// gives each candidate the accuracy and log-likelihood of scoring it alone with SetZ.
func TestFewShotBatchedEqualsSequential(t *testing.T) {
	p, experts := chatPack(t)
	m, err := p.Load(svf.FactoredPath)
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 8})
	if err != nil {
		t.Fatal(err)
	}
	exs := fewShotExamples(t, m, e, experts[0].Z, []string{"2+2?", "Who is tallest?", "x = 3"})
	zs := []map[string][]float32{experts[0].Z, nil, packtest.RandomZ(p, 40, 0, 2), experts[1].Z, packtest.RandomZ(p, 41, 0.5, 1)}
	for _, mode := range []string{svf.ScoreAccuracy, svf.ScoreLikelihood} {
		opt := svf.FewShotOptions{Score: mode, MaxTokens: 6, MaxRows: 40, Check: tasks.Generic}
		batched, err := svf.ScorePopulation(m, e, zs, exs, opt)
		if err != nil {
			t.Fatal(err)
		}
		opt.Scoring = svf.ScoringSequential
		seq, err := svf.ScorePopulation(m, e, zs, exs, opt)
		if err != nil {
			t.Fatal(err)
		}
		for c := range zs {
			if batched[c].Value != seq[c].Value && (mode == svf.ScoreAccuracy || math.Abs(batched[c].Value-seq[c].Value) > 1e-5) ||
				math.Abs(batched[c].Tie-seq[c].Tie) > 1e-5 {
				t.Errorf("%s: candidate %d: batched %+v, sequential %+v", mode, c, batched[c], seq[c])
			}
		}
		if mode == svf.ScoreAccuracy && batched[0].Value != 1 {
			t.Errorf("the expert whose answers the examples are scores %v, want 1", batched[0].Value)
		}
		t.Logf("%s: %+v", mode, batched)
	}
}

// costed is an engine that says what scoring costs (model.ScoringCoster) and counts the
// calls of each way of scoring.
type costed struct {
	model.Engine
	batched, sequential float64
	same                bool
	rows                int // the rows ScoringCost was last asked about
	setZ, setPop        int // SetZ calls, SetPopulation calls with candidates
}

func (c *costed) ScoringCost(P, rows int) (float64, float64, bool) {
	c.rows = rows
	return c.batched, c.sequential, c.same
}

func (c *costed) SetZ(z map[string][]float32) error {
	c.setZ++
	return c.Engine.SetZ(z)
}

func (c *costed) SetPopulation(zs []map[string][]float32) error {
	if len(zs) > 0 {
		c.setPop++
	}
	return c.Engine.SetPopulation(zs)
}

// TestScoringAuto: without a Scoring the population is scored the way the engine says
// costs less, sequential only where it also gives the same scores; an engine that says
// nothing scores batched; the rows it is asked about are the examples' (prompt and
// answer, and a greedy answer's bound for accuracy); a Scoring it does not know is an
// error.
func TestScoringAuto(t *testing.T) {
	p, experts := chatPack(t)
	m, err := p.Load(svf.FactoredPath)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 8})
	if err != nil {
		t.Fatal(err)
	}
	exs := fewShotExamples(t, m, cpu, experts[0].Z, []string{"2+2?", "Who is tallest?", "x = 3"})
	zs := []map[string][]float32{experts[0].Z, nil, experts[1].Z}
	want, err := svf.ScoreCandidates(m, cpu, zs, exs, svf.FewShotOptions{Score: svf.ScoreLikelihood, Scoring: svf.ScoringBatched})
	if err != nil {
		t.Fatal(err)
	}
	teacher := 0 // the rows of the examples' prompts and answers, teacher-forced
	for _, ex := range exs {
		prompt, _ := svf.Prompt(m, ex.Input)
		answer, _ := svf.AnswerTokens(m, ex.Input, prompt, ex.Output)
		teacher += len(prompt) + len(answer) - 1
	}
	for _, tc := range []struct {
		name                string
		batched, sequential float64
		same                bool
		score               string
		wantSeq             bool
	}{
		{"sequential cheaper", 2, 1, true, svf.ScoreLikelihood, true},
		{"batched cheaper", 1, 2, true, svf.ScoreLikelihood, false},
		{"sequential cheaper, other scores", 2, 1, false, svf.ScoreLikelihood, false},
		{"accuracy, sequential cheaper", 2, 1, true, svf.ScoreAccuracy, true},
	} {
		e := &costed{Engine: cpu, batched: tc.batched, sequential: tc.sequential, same: tc.same}
		opt := svf.FewShotOptions{Score: tc.score, MaxTokens: 6}
		got, err := svf.ScoreCandidates(m, e, zs, exs, opt)
		if err != nil {
			t.Fatal(err)
		}
		if seq := e.setZ > 0 && e.setPop == 0; seq != tc.wantSeq || (!seq && e.setPop == 0) {
			t.Errorf("%s: %d SetZ, %d SetPopulation; want sequential %v", tc.name, e.setZ, e.setPop, tc.wantSeq)
		}
		rows := teacher
		if tc.score == svf.ScoreAccuracy {
			for _, ex := range exs {
				prompt, _ := svf.Prompt(m, ex.Input)
				rows += len(prompt) + 6
			}
		}
		if e.rows != rows {
			t.Errorf("%s: asked about %d rows a candidate, want %d", tc.name, e.rows, rows)
		}
		if tc.score == svf.ScoreLikelihood {
			for c := range zs {
				if math.Abs(got[c].Value-want[c].Value) > 1e-5 {
					t.Errorf("%s: candidate %d scores %v, batched %v", tc.name, c, got[c].Value, want[c].Value)
				}
			}
		}
	}
	if got := svf.ChooseScoring(cpu, 3, 100); got != svf.ScoringBatched {
		t.Errorf("an engine that says no cost: %s, want batched", got)
	}
	if _, err := svf.ScoreCandidates(m, cpu, zs, exs, svf.FewShotOptions{Scoring: "parallel"}); err == nil || !strings.Contains(err.Error(), `scoring "parallel"`) {
		t.Errorf("an unknown scoring: %v", err)
	}
}

// TestAdapt: on examples answered by one expert, CEM over the mixture of two finds a
// mixture that answers all of them, reports α per expert (per layer with PerLayer) and
// its history, and refuses examples it cannot use.
func TestAdapt(t *testing.T) {
	p, experts := chatPack(t)
	m, err := p.Load(svf.FactoredPath)
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 16})
	if err != nil {
		t.Fatal(err)
	}
	exs := fewShotExamples(t, m, e, experts[1].Z, []string{"2+2?", "Who is tallest?", "x = 3", "print(7)"})
	for _, perLayer := range []bool{false, true} {
		opt := svf.FewShotOptions{CEM: svf.DefaultCEM(), MaxTokens: 6, PerLayer: perLayer}
		opt.CEM.Iters, opt.CEM.Population, opt.CEM.Elites = 4, 16, 4
		steps := 0
		opt.CEM.Progress = func(svf.CEMStep) { steps++ }
		f, err := svf.Adapt(context.Background(), m, e, experts[:2], p.Manifest.Matrices, exs, opt)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := f.Choose("anything")
		wantLen := 1
		if perLayer {
			wantLen = 2
		}
		if len(c.Alpha) != 2 || len(c.Alpha[0]) != wantLen || !slices.Equal(c.Experts, []string{"math", "code"}) || c.Z == nil {
			t.Fatalf("per-layer %v: α %v over %v", perLayer, c.Alpha, c.Experts)
		}
		if c.CEM.Best.Value != 1 || steps != len(c.CEM.History) || steps == 0 {
			t.Errorf("per-layer %v: best %+v after %d iterations (%d progress calls)", perLayer, c.CEM.Best, len(c.CEM.History), steps)
		}
		// The returned z is the mixture of the returned α.
		if err := e.SetZ(c.Z); err != nil {
			t.Fatal(err)
		}
		res, err := svf.Evaluate(m, e, exs, tasks.Generic, 6)
		if err != nil {
			t.Fatal(err)
		}
		if res.Correct != len(exs) {
			t.Errorf("per-layer %v: the chosen mixture answers %d of %d", perLayer, res.Correct, len(exs))
		}
		t.Logf("per-layer %v: α %v, best %+v, %s after %d", perLayer, c.Alpha, c.CEM.Best, c.CEM.Stopped, len(c.CEM.History))
	}
	// PickBest: examples the base weights answer, experts that answer them otherwise:
	// the mixture of best likelihood answers fewer of them, so the base weights (z = 1)
	// are kept; without PickBest the mixture stays. Examples expert 1 answers, a search
	// held at the even mixture (one iteration, no spread): expert 1 alone is kept.
	base := fewShotExamples(t, m, e, nil, []string{"2+2?", "Who is tallest?", "x = 3", "print(7)"})
	for _, tc := range []struct {
		name     string
		exs      []tasks.Example
		pick     bool
		held     bool // the search held at the even mixture
		picked   string
		trainedS string
	}{
		{"base kept", base, true, false, svf.PickedBase, "base weights were kept"},
		{"mixture kept without PickBest", base, false, false, "", "mixture"},
		{"expert alone kept", exs, true, true, "code", "code alone answered 4 and was kept"},
	} {
		opt := svf.FewShotOptions{CEM: svf.DefaultCEM(), Score: svf.ScoreLikelihood, MaxTokens: 6, OnExamples: true, PickBest: tc.pick}
		opt.CEM.Iters, opt.CEM.Population, opt.CEM.Elites = 3, 8, 2
		if tc.held {
			opt.CEM.Iters, opt.CEM.InitStd, opt.CEM.MinStd = 1, 1e-9, 0
		}
		f, err := svf.Adapt(context.Background(), m, e, experts[:2], p.Manifest.Matrices, tc.exs, opt)
		if err != nil {
			t.Fatal(err)
		}
		c := f.Result()
		a := c.OnExamples
		if c.Picked != tc.picked || a == nil || tc.picked != "" && a.Adapted <= a.Mixture {
			t.Fatalf("%s: picked %q, on the examples %+v; want %q, answering more than the mixture", tc.name, c.Picked, a, tc.picked)
		}
		if err := e.SetZ(c.Z); err != nil {
			t.Fatal(err)
		}
		res, err := svf.Evaluate(m, e, tc.exs, tasks.Generic, 6)
		if err != nil {
			t.Fatal(err)
		}
		if res.Correct != a.Adapted {
			t.Errorf("%s: the result answers %d of the examples, the search said %d", tc.name, res.Correct, a.Adapted)
		}
		if tr := f.Trained(opt.Score); !strings.Contains(tr, tc.trainedS) {
			t.Errorf("%s: the card says %q, want it to say %q", tc.name, tr, tc.trainedS)
		}
		t.Logf("%s: %+v, α %v, %s", tc.name, *a, c.Alpha, f.Trained(opt.Score))
	}
	if err := e.SetZ(nil); err != nil {
		t.Fatal(err)
	}

	long := []tasks.Example{{Input: strings.Repeat("long question ", 30), Output: "x"}}
	if _, err := svf.Adapt(context.Background(), m, e, experts[:2], p.Manifest.Matrices, long, svf.FewShotOptions{CEM: svf.DefaultCEM()}); err == nil || !strings.Contains(err.Error(), "example 1") {
		t.Errorf("an example longer than the context: %v", err)
	}
	if _, err := svf.Adapt(context.Background(), m, e, experts[:2], p.Manifest.Matrices, nil, svf.FewShotOptions{CEM: svf.DefaultCEM()}); err == nil {
		t.Error("no examples accepted")
	}
	if _, err := svf.Adapt(context.Background(), m, e, experts[:2], p.Manifest.Matrices, exs, svf.FewShotOptions{CEM: svf.DefaultCEM(), Score: "best"}); err == nil {
		t.Error("an unknown score mode accepted")
	}
}

// rowCounter is an engine that counts the rows it is asked to forward.
type rowCounter struct {
	model.Engine
	rows int
}

func (r *rowCounter) Forward(b *model.Batch) error {
	r.rows += b.Len()
	return r.Engine.Forward(b)
}

// TestDispatchKeepPrefix: with a kept prompt, each first pass after the first forwards
// only what its prompt does not share with the last one (the chat template's opening and
// the classification question at least) and scores every label bit for bit as a
// dispatch without it; a cls-expert pass, another engine or a Reset start again from the
// first token; an empty question (the page's warm-up after load) leaves the opening for
// the next; an engine whose every sequence a label needs keeps nothing.
func TestDispatchKeepPrefix(t *testing.T) {
	p, experts := chatPack(t)
	m, err := p.Load(svf.MergedPath)
	if err != nil {
		t.Fatal(err)
	}
	newEngine := func() *rowCounter {
		e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 5})
		if err != nil {
			t.Fatal(err)
		}
		return &rowCounter{Engine: e}
	}
	kept, plain := newEngine(), newEngine()
	cache := &svf.PrefixCache{}
	questions := []string{
		"Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?",
		"What does this print?\nx = 3\nprint(x + 4)",
		"Bo is taller than Cy. Cy is taller than Di. Who is the shortest?",
	}
	// prefix is how many tokens the classification prompts of a and b share.
	prefix := func(a, b string) int {
		pa, _ := svf.Prompt(m, tasks.ClassificationPrompt(a, []string{"code", "math", "reasoning", "other"}))
		pb, _ := svf.Prompt(m, tasks.ClassificationPrompt(b, []string{"code", "math", "reasoning", "other"}))
		n := 0
		for n < len(pa)-1 && n < len(pb) && pa[n] == pb[n] {
			n++
		}
		return n
	}
	choose := func(e *rowCounter, cls *svf.Expert, keep bool, q string) (*svf.Choice, int) {
		t.Helper()
		d, err := svf.NewDispatch(m, e, experts, cls)
		if err != nil {
			t.Fatal(err)
		}
		if keep && !d.KeepPrefix(cache) {
			t.Fatal("KeepPrefix refused an engine of 5 sequences for 4 labels")
		}
		before := e.rows
		c, err := d.Choose(q)
		if err != nil {
			t.Fatal(err)
		}
		return c, e.rows - before
	}
	steps := []struct {
		q      string
		cls    *svf.Expert
		reset  bool
		engine *rowCounter
		shared int // the prompt's tokens the kept one holds
	}{
		{q: questions[0]},
		{q: questions[1], shared: prefix(questions[0], questions[1])},
		{q: questions[1], shared: prefix(questions[1], questions[1])},
		{q: questions[2], cls: experts[3]}, // another z
		{q: questions[0], cls: experts[3], shared: prefix(questions[2], questions[0])},
		{q: questions[0], shared: 0}, // the base weights again
		{q: questions[2], reset: true},
		{q: questions[1], engine: newEngine()},
		// The page's warm-up: an empty question first, whose prompt the next copies.
		{q: "", reset: true},
		{q: questions[0], shared: prefix("", questions[0])},
	}
	if n := min(prefix(questions[0], questions[1]), prefix("", questions[0])); n < 10 {
		t.Fatalf("the prompts share %d tokens: the test needs their common opening", n)
	}
	for i, s := range steps {
		if s.reset {
			cache.Reset()
		}
		e := kept
		if s.engine != nil {
			e = s.engine
		}
		got, rows := choose(e, s.cls, true, s.q)
		want, all := choose(plain, s.cls, false, s.q)
		if rows != all-s.shared {
			t.Errorf("step %d: %d rows forwarded, want %d of %d (%d shared)", i, rows, all-s.shared, all, s.shared)
		}
		if got.Expert != want.Expert || !slices.Equal(got.Labels, want.Labels) {
			t.Errorf("step %d: with the kept prompt %s %+v, without %s %+v", i, got.Expert, got.Labels, want.Expert, want.Labels)
		}
	}
	four, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 4})
	if err != nil {
		t.Fatal(err)
	}
	d, err := svf.NewDispatch(m, four, experts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.KeepPrefix(&svf.PrefixCache{}) {
		t.Error("KeepPrefix took the sequence of a label (4 sequences, 4 labels)")
	}
}
