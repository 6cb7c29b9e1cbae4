package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/tasks"
)

// The committed demo: demo/base is the f32 model trained by `make demo-base`,
// demo/pack its int8 pack with the experts, docs/results.json the per-item outcomes of
// docs/RESULTS.md.
const (
	demoBase    = "../demo/base"
	demoPack    = "../demo/pack"
	demoResults = "../docs/results.json"
)

// demoExperts are the experts the demo pack must hold, by the domain each was trained for.
var demoExperts = map[string]string{"math": "math", "code": "code", "reasoning": "reasoning", "cls": "cls"}

// openDemo loads the committed pack, merged, with a CPU engine of batch sequences.
func openDemo(t *testing.T, batch int) (*svf.Pack, *model.Model, model.Engine) {
	t.Helper()
	p, err := svf.OpenDir(demoPack)
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Load(svf.MergedPath)
	if err != nil {
		t.Fatal(err)
	}
	return p, m, cpuEngine(t, m, batch)
}

// cpuEngine opens the CPU engine on m with seqs sequences, for the rest of the test.
func cpuEngine(t *testing.T, m *model.Model, seqs int) model.Engine {
	t.Helper()
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: seqs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestDemoPackExperts: the committed pack loads, holds the four experts with their cards,
// and each expert changes the model's next-token distribution on questions of the suite.
func TestDemoPackExperts(t *testing.T) {
	p, m, e := openDemo(t, 1)
	questions := []string{
		"Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?",
		"What does this print?\nx = 3\ny = x - 5\nprint(y * 2)",
		"Ann is taller than Bo. Bo is taller than Cy. Who is shortest?\n(A) Ann (B) Bo (C) Cy",
		tasks.ClassificationPrompt("What does this print?\nx = 3\nprint(x)", tasks.Labels()),
	}
	logits := func(z map[string][]float32) [][]float32 {
		t.Helper()
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
		var out [][]float32
		for _, q := range questions {
			ids, err := svf.Prompt(m, q)
			if err != nil {
				t.Fatal(err)
			}
			e.Clear(0)
			var b model.Batch
			for i, id := range ids {
				b.Add(id, i, 0, i == len(ids)-1)
			}
			if err := e.Forward(&b); err != nil {
				t.Fatal(err)
			}
			row := make([]float32, m.Config.VocabSize)
			if err := e.Logits(row, 0); err != nil {
				t.Fatal(err)
			}
			out = append(out, row)
		}
		return out
	}
	base := logits(nil)
	for name, domain := range demoExperts {
		x, err := p.Expert(name)
		if err != nil {
			t.Fatal(err)
		}
		if x.Domain != domain || x.Score == nil || x.Trained == "" {
			t.Errorf("expert %s: domain %q, score %v, trained %q: want domain %q, a validation score and how it was trained",
				name, x.Domain, x.Score, x.Trained, domain)
		}
		if err := p.Check(x); err != nil {
			t.Fatal(err)
		}
		with := logits(x.Z)
		var moved float64
		for i := range base {
			for j := range base[i] {
				moved = math.Max(moved, math.Abs(float64(with[i][j]-base[i][j])))
			}
		}
		// An expert that leaves every logit within 0.01 would not change an answer.
		if moved < 0.01 {
			t.Errorf("expert %s moves the logits by at most %.2g", name, moved)
		}
		t.Logf("expert %s: max |Δ logit| %.3f", name, moved)
	}
}

// greedyAnswers answers exs greedily with e and returns each answer and its extraction
// ("" when none).
func greedyAnswers(t *testing.T, m *model.Model, e model.Engine, task tasks.Task, exs []tasks.Example) *svf.EvalResult {
	t.Helper()
	res, err := svf.Evaluate(m, e, exs, task.Check, defaultResults.MaxTokens)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestDemoInt8KeepsModel: the int8 pack (Q8 factors with their 48 largest directions and
// the embeddings in f32: Makefile's DEMO_PRECISION) answers the test questions as the
// f32 model it was made from — the same extracted answer on at least 99 % of them — and
// its accuracy per task is within one point of an f32 pack's.
func TestDemoInt8KeepsModel(t *testing.T) {
	if testing.Short() {
		t.Skip("answers 700 test questions with three models")
	}
	const n = 100
	_, packed, int8Engine := openDemo(t, 16)
	dense, err := loadModel(demoBase)
	if err != nil {
		t.Fatal(err)
	}
	denseEngine := cpuEngine(t, dense, 16)
	f32Dir := filepath.Join(t.TempDir(), "f32")
	if _, err := convert.Convert(os.DirFS(demoBase), f32Dir, convert.Options{Targets: []string{"mlp", "attn"}, Quant: pack.QuantF32}); err != nil {
		t.Fatal(err)
	}
	f32Pack, err := svf.OpenDir(f32Dir)
	if err != nil {
		t.Fatal(err)
	}
	f32, err := f32Pack.Load(svf.MergedPath)
	if err != nil {
		t.Fatal(err)
	}
	f32Engine := cpuEngine(t, f32, 16)

	agree, same, total := 0, 0, 0
	for _, task := range tasks.All() {
		exs, err := tasks.Sample(task, tasks.Test, defaultResults.Seed, n)
		if err != nil {
			t.Fatal(err)
		}
		d := greedyAnswers(t, dense, denseEngine, task, exs)
		q := greedyAnswers(t, packed, int8Engine, task, exs)
		f := greedyAnswers(t, f32, f32Engine, task, exs)
		for i := range exs {
			a, okA := task.Extract(d.Items[i].Answer)
			b, okB := task.Extract(q.Items[i].Answer)
			if okA == okB && a == b {
				agree++
			}
			if d.Items[i].Answer == q.Items[i].Answer {
				same++
			}
			total++
		}
		if diff := math.Abs(q.Accuracy() - f.Accuracy()); diff > 0.01+1e-9 {
			t.Errorf("%s: int8 pack %.1f %%, f32 pack %.1f %%: more than a point apart", task.Name(), 100*q.Accuracy(), 100*f.Accuracy())
		}
		t.Logf("%-14s dense %5.1f %%  f32 pack %5.1f %%  int8 pack %5.1f %%", task.Name(), 100*d.Accuracy(), 100*f.Accuracy(), 100*q.Accuracy())
	}
	t.Logf("int8 vs f32 dense: same extracted answer %d/%d, same text %d/%d", agree, total, same, total)
	if float64(agree) < 0.99*float64(total) {
		t.Errorf("the int8 pack agrees with the f32 model on %d of %d answers, want ≥ 99 %%", agree, total)
	}
}

// readResults reads docs/results.json.
func readResults(t *testing.T) resultsFile {
	t.Helper()
	data, err := os.ReadFile(demoResults)
	if err != nil {
		t.Fatal(err)
	}
	var rec resultsFile
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("%s: %v", demoResults, err)
	}
	return rec
}

// TestDemoResultsReproduce: the first 50 test items of each training domain, answered
// again by the base model and by the domain's expert, have exactly the outcomes
// docs/results.json records.
func TestDemoResultsReproduce(t *testing.T) {
	const n = 50
	rec := readResults(t)
	p, m, e := openDemo(t, 16)
	split, err := tasks.ParseSplit(rec.Protocol.Split)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, row := range rec.Rows {
		task, err := tasks.Lookup(row.Task)
		if err != nil {
			t.Fatal(err)
		}
		if task.Unseen() || task.Name() == tasks.Cls {
			continue
		}
		if len(row.Outcomes) != row.N || row.N < n {
			t.Fatalf("%s %s: %d outcomes for n = %d", row.Task, row.Column, len(row.Outcomes), row.N)
		}
		exs, err := tasks.Sample(task, split, rec.Protocol.Seed, n)
		if err != nil {
			t.Fatal(err)
		}
		var z map[string][]float32
		if row.Expert != "" {
			x, err := p.Expert(row.Expert)
			if err != nil {
				t.Fatal(err)
			}
			z = x.Z
		}
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
		res, err := svf.Evaluate(m, e, exs, task.Check, rec.Protocol.MaxTokens)
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range res.Items {
			if want := row.Outcomes[i] == '1'; it.Correct != want {
				t.Errorf("%s %s item %d %q: answered %q (right: %v), recorded right: %v",
					row.Task, row.Column, i, it.Input, it.Answer, it.Correct, want)
			}
		}
		checked++
	}
	if checked != 6 {
		t.Errorf("checked %d rows, want base and expert of math, code and reasoning", checked)
	}
}

// TestDemoDispatchReproduce: the prompt strategy, asked again about the first 50 test
// items of each unseen task and held-out family, chooses exactly the experts
// docs/results.json records.
func TestDemoDispatchReproduce(t *testing.T) {
	const n = 50
	rec := readResults(t)
	p, m, e := openDemo(t, 8)
	experts, err := packExperts(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := svf.NewDispatch(m, e, experts, nil)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, row := range rec.Rows {
		if row.Column != colPrompt {
			continue
		}
		task, err := tasks.Lookup(row.Task)
		if err != nil {
			t.Fatal(err)
		}
		exs, err := tasks.Sample(task, tasks.Test, rec.Protocol.Seed, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(row.Chosen) < n {
			t.Fatalf("%s: %d choices recorded", row.Task, len(row.Chosen))
		}
		right := 0
		for i, ex := range exs {
			c, err := d.Choose(ex.Input)
			if err != nil {
				t.Fatal(err)
			}
			if c.Expert != row.Chosen[i] {
				t.Errorf("%s item %d %q: chose %s, recorded %s", row.Task, i, ex.Input, c.Expert, row.Chosen[i])
			}
			if c.Expert == task.Domain() {
				right++
			}
		}
		t.Logf("%s: the prompt strategy sends %d of %d to %s", row.Task, right, n, task.Domain())
		checked++
	}
	if want := 3 + len(tasks.HeldOut()); checked != want {
		t.Errorf("checked %d rows, want the three unseen tasks and the held-out families (%d)", checked, want)
	}
}

// TestDemoResultsTable: docs/RESULTS.md is exactly the table of docs/results.json, so the
// table and the per-item record cannot drift apart.
func TestDemoResultsTable(t *testing.T) {
	rec := readResults(t)
	table, err := os.ReadFile(filepath.Join(filepath.Dir(demoResults), "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := resultsTable(rec); string(got) != string(table) {
		t.Errorf("docs/RESULTS.md differs from the table of docs/results.json; run make results:\n%s", got)
	}
	card, err := os.ReadFile(filepath.Join(filepath.Dir(demoPack), "MODEL_CARD.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(card), cardSection(table)) {
		t.Error("demo/MODEL_CARD.md does not hold the table of docs/RESULTS.md; run make results")
	}
	for _, r := range rec.Rows {
		ones := 0
		for _, c := range r.Outcomes {
			if c == '1' {
				ones++
			}
		}
		if ones != r.Correct || len(r.Outcomes) != r.N {
			t.Errorf("%s %s: %d right of %d outcomes, recorded %d/%d", r.Task, r.Column, ones, len(r.Outcomes), r.Correct, r.N)
		}
	}
}

// demoClaims are the model card's claims about the committed results, in the card's own
// words, each with the check of docs/results.json that makes it true. A claim the card
// makes must hold of the measured results, so neither retraining nor re-measuring can
// leave the card saying what the table does not show.
var demoClaims = []struct {
	text  string // a sentence of demo/MODEL_CARD.md
	holds func(r resultsIndex) error
}{
	{"The math expert answers far more of the math test questions right than the base model, with the 95 % intervals apart.",
		func(r resultsIndex) error { return r.apart(tasks.Math, colExpert) }},
	{"The cls expert classifies questions by domain better than the base model, with the 95 % intervals apart.",
		func(r resultsIndex) error { return r.apart(tasks.Cls, colExpert) }},
	{"On the three unseen tasks, T²-prompt and T²-cls-expert are never more than a point below the base model.",
		func(r resultsIndex) error {
			unseen := []string{tasks.MathHard, tasks.CodeJS, tasks.ReasoningHard}
			return errors.Join(r.notBelow(colPrompt, 0.01, unseen...), r.notBelow(colClsExpert, 0.01, unseen...))
		}},
	{"The reasoning expert answers far more of the reasoning test questions right than the base model, with the 95 % intervals apart.",
		func(r resultsIndex) error { return r.apart(tasks.Reasoning, colExpert) }},
	{"On reasoning-hard, an unseen task, T²-prompt, T²-cls-expert and T²-few-shot each answer far more questions right than the base model, with the 95 % intervals apart.",
		func(r resultsIndex) error {
			return errors.Join(r.apart(tasks.ReasoningHard, colPrompt), r.apart(tasks.ReasoningHard, colClsExpert), r.apart(tasks.ReasoningHard, colFewShot))
		}},
	{"On totals, a held-out family no model was trained on, T²-prompt and T²-few-shot (10 examples, the page's defaults) answer far more questions right than the base model, with the 95 % intervals apart.",
		func(r resultsIndex) error {
			return errors.Join(r.apart(tasks.Totals, colPrompt), r.apart(tasks.Totals, colFewShot))
		}},
	{"On lost-found and totals, a new expert trained on the same 10 examples answers far more questions right than the base model, with the 95 % intervals apart; on give, more.",
		func(r resultsIndex) error {
			return errors.Join(r.apart(tasks.LostFound, colNewExpert), r.apart(tasks.Totals, colNewExpert), r.above(tasks.Give, colNewExpert))
		}},
}

// above: the column answers more of task right than the base model.
func (r resultsIndex) above(task, col string) error {
	b, x := r[[2]string{task, colBase}], r[[2]string{task, col}]
	if x.N == 0 || x.Correct <= b.Correct {
		return fmt.Errorf("%s: %s %s vs base %s: not above", task, col, cellText(x), cellText(b))
	}
	return nil
}

// resultsIndex finds the rows of results.json by task and column.
type resultsIndex map[[2]string]resultRow

func share(r resultRow) float64 { return float64(r.Correct) / float64(max(r.N, 1)) }

// apart: the column's interval lies above the base model's on task.
func (r resultsIndex) apart(task, col string) error {
	b, x := r[[2]string{task, colBase}], r[[2]string{task, col}]
	if x.N == 0 || b.N == 0 || x.Lo <= b.Hi {
		return fmt.Errorf("%s: %s %s vs base %s: intervals not apart", task, col, cellText(x), cellText(b))
	}
	return nil
}

// notBelow: on each task the column is at most by points below the base model.
func (r resultsIndex) notBelow(col string, by float64, names ...string) error {
	for _, task := range names {
		b, x := r[[2]string{task, colBase}], r[[2]string{task, col}]
		if x.N == 0 || share(x) < share(b)-by-1e-9 {
			return fmt.Errorf("%s: %s %s vs base %s: more than %.0f point(s) below", task, col, cellText(x), cellText(b), 100*by)
		}
	}
	return nil
}

// TestDemoResultsClaims holds the model card to the committed results: every claim of
// demoClaims is in demo/MODEL_CARD.md and holds of docs/results.json (which
// TestDemoResultsReproduce ties to the pack).
func TestDemoResultsClaims(t *testing.T) {
	rec := readResults(t)
	idx := resultsIndex{}
	for _, r := range rec.Rows {
		idx[[2]string{r.Task, r.Column}] = r
	}
	card, err := os.ReadFile(filepath.Join(filepath.Dir(demoPack), "MODEL_CARD.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range demoClaims {
		if !strings.Contains(strings.Join(strings.Fields(string(card)), " "), c.text) {
			t.Errorf("demo/MODEL_CARD.md does not say %q", c.text)
		}
		if err := c.holds(idx); err != nil {
			t.Errorf("the card says %q, but %v", c.text, err)
		}
	}
}
