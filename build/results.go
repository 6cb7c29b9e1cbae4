package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/learn"
	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
)

// The results table compares, on the test split of every task of the suite, the base
// model with what Transformer² makes of it: each training domain answered by its own SVF
// expert, and each unseen task by the strategies of the first pass and, as a bound, by
// its domain's expert chosen by hand. The experts were trained on the train split and chosen on the validation split;
// the test split is only ever measured here.

// resultsProtocol is how every row of the table is measured.
type resultsProtocol struct {
	Split     string `json:"split"`      // always test
	Seed      uint64 `json:"seed"`       // of tasks.Sample
	N         int    `json:"n"`          // items per task
	MaxTokens int    `json:"max_tokens"` // longest greedy answer
	// FewShot is how the few-shot column adapts: on the first Examples items of the
	// task's validation split, their worked solutions as outputs.
	FewShot fewShotProtocol `json:"few_shot"`
}

// fewShotProtocol is the few-shot column's adaptation.
type fewShotProtocol struct {
	Examples   int     `json:"examples"`
	Score      string  `json:"score"`
	Population int     `json:"population"`
	Elites     int     `json:"elites"`
	Iters      int     `json:"iters"`
	MinStd     float64 `json:"min_std"`
	Seed       uint64  `json:"seed"`
	// PickBest: an expert alone or the base weights are kept where they answer more of
	// the examples right than the mixture (svf.FewShotOptions.PickBest), as the page does.
	PickBest bool `json:"pick_best"`
}

// defaultResults is the protocol of docs/RESULTS.md: 500 test items a task, and the
// few-shot column adapted as the page adapts by default (svf.DefaultFewShot) on 10
// validation items.
var defaultResults = func() resultsProtocol {
	d := svf.DefaultFewShot()
	return resultsProtocol{Split: "test", Seed: 1, N: 500, MaxTokens: 100,
		FewShot: fewShotProtocol{Examples: 10, Score: d.Score, Population: d.CEM.Population, Elites: d.CEM.Elites,
			Iters: d.CEM.Iters, MinStd: d.CEM.MinStd, Seed: d.CEM.Seed, PickBest: d.PickBest}}
}()

// The columns of the table: the base model, the task's own expert (training domains),
// the first-pass strategies and the expert of the task's domain chosen by hand (unseen
// tasks).
const (
	colBase         = "base"
	colExpert       = "expert"
	colPrompt       = "T²-prompt"
	colClsExpert    = "T²-cls-expert"
	colFewShot      = "T²-few-shot"
	colNewExpert    = "new expert"
	colDomainExpert = "domain-expert"
)

// resultRow is one measured cell: a task answered by the base model, an expert or a
// strategy.
type resultRow struct {
	Task    string `json:"task"`
	Column  string `json:"column"`
	Expert  string `json:"expert,omitempty"` // the expert of an expert column
	N       int    `json:"n"`
	Correct int    `json:"correct"`
	// Lo and Hi bound the accuracy's 95 % Wilson interval (svf.Wilson).
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Outcomes has one byte per item, in the sample's order: '1' right, '0' wrong.
	Outcomes string `json:"outcomes"`
	// Chosen names, per item, the expert the first pass chose ("base" for other).
	Chosen []string `json:"chosen,omitempty"`
	// Experts and Alpha are the few-shot mixture: Alpha[k] weighs Experts[k].
	Experts []string    `json:"experts,omitempty"`
	Alpha   [][]float64 `json:"alpha,omitempty"`
	// Picked: what the few-shot column kept instead of the mixture, an expert alone or
	// the base weights, which answered more of the examples right (svf.Choice.Picked).
	Picked string `json:"picked,omitempty"`
	// Trained is how the new-expert column's expert was trained (its card's line).
	Trained string `json:"trained,omitempty"`
}

// resultsFile is results.json, the per-item record next to the table.
type resultsFile struct {
	Pack     string          `json:"pack"`        // as given to t2 eval
	Manifest string          `json:"pack_sha256"` // of the pack's pack.json
	Protocol resultsProtocol `json:"protocol"`
	Tasks    []resultTask    `json:"tasks"`
	Rows     []resultRow     `json:"rows"`
}

// resultTask is one task of the table: its group and its chance, the share of its most
// common reference answer among the items measured (what always giving one answer scores).
type resultTask struct {
	Name   string  `json:"name"`
	Group  string  `json:"group"` // groupDomain, groupUnseen or groupHeldOut
	Chance float64 `json:"chance"`
}

// The groups of tasks in the table.
const (
	groupDomain  = "domain"   // a training domain's task (and cls), base vs its expert
	groupUnseen  = "unseen"   // a task held out of all training, base vs the strategies
	groupHeldOut = "held-out" // a held-out family, base vs the strategies that need no domain
)

// groupOf returns the group of task t.
func groupOf(t tasks.Task) string {
	switch {
	case slices.ContainsFunc(tasks.HeldOut(), func(h tasks.Task) bool { return h.Name() == t.Name() }):
		return groupHeldOut
	case t.Unseen():
		return groupUnseen
	}
	return groupDomain
}

// resultTasks are the tasks of the table: the suite's, then the held-out families.
func resultTasks() []tasks.Task { return slices.Concat(tasks.All(), tasks.HeldOut()) }

// resultCells lists the cells to measure: every task with the base model; training tasks
// (and cls) with their domain's expert; unseen tasks with the three strategies and their
// domain's expert.
func resultCells() []resultRow {
	var cells []resultRow
	for _, t := range resultTasks() {
		cells = append(cells, resultRow{Task: t.Name(), Column: colBase})
		switch groupOf(t) {
		case groupDomain:
			cells = append(cells, resultRow{Task: t.Name(), Column: colExpert, Expert: t.Domain()})
		case groupUnseen:
			for _, col := range []string{colPrompt, colClsExpert, colFewShot} {
				cells = append(cells, resultRow{Task: t.Name(), Column: col})
			}
			cells = append(cells, resultRow{Task: t.Name(), Column: colDomainExpert, Expert: t.Domain()})
		case groupHeldOut:
			for _, col := range []string{colPrompt, colFewShot, colNewExpert} {
				cells = append(cells, resultRow{Task: t.Name(), Column: col})
			}
		}
	}
	return cells
}

// measureResults evaluates every cell on pack p (loaded as m, run by e) under proto,
// saying each row on progress.
func measureResults(m *model.Model, e model.Engine, p *svf.Pack, proto resultsProtocol, progress io.Writer) ([]resultTask, []resultRow, error) {
	split, err := tasks.ParseSplit(proto.Split)
	if err != nil {
		return nil, nil, err
	}
	experts, err := packExperts(p)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*svf.Expert{}
	var cls *svf.Expert
	var domains []*svf.Expert // the experts a few-shot task mixes: all but cls
	for _, x := range experts {
		byName[x.Name] = x
		if x.Domain == tasks.Cls {
			cls = x
		} else {
			domains = append(domains, x)
		}
	}
	cells := resultCells()
	var ts []resultTask
	for i := range cells {
		c := &cells[i]
		t, err := tasks.Lookup(c.Task)
		if err != nil {
			return nil, nil, err
		}
		exs, err := tasks.Sample(t, split, proto.Seed, proto.N)
		if err != nil {
			return nil, nil, err
		}
		if c.Column == colBase {
			ts = append(ts, resultTask{Name: t.Name(), Group: groupOf(t), Chance: chanceOf(exs)})
		}
		// chosen[i] is the expert that answers item i ("base": none).
		chosen := make([]string, len(exs))
		for j := range chosen {
			chosen[j] = "base"
			if c.Expert != "" {
				chosen[j] = c.Expert
			}
		}
		zs := map[string]map[string][]float32{"base": nil}
		for name, x := range byName {
			zs[name] = x.Z
		}
		switch c.Column {
		case colPrompt, colClsExpert:
			var first *svf.Expert
			if c.Column == colClsExpert {
				if first = cls; first == nil {
					return nil, nil, fmt.Errorf("%s: the pack has no cls expert", c.Column)
				}
			}
			d, err := svf.NewDispatch(m, e, experts, first)
			if err != nil {
				return nil, nil, err
			}
			d.KeepPrefix(&svf.PrefixCache{}) // nothing else runs on e until the column is chosen
			for j, ex := range exs {
				choice, err := d.Choose(ex.Input)
				if err != nil {
					return nil, nil, err
				}
				chosen[j] = choice.Expert
			}
			c.Chosen = chosen
		case colFewShot:
			shots, err := fewShotExamples(t, proto)
			if err != nil {
				return nil, nil, err
			}
			opt := svf.DefaultFewShot()
			opt.Score, opt.MaxTokens = proto.FewShot.Score, proto.MaxTokens
			opt.OnExamples, opt.PickBest = proto.FewShot.PickBest, proto.FewShot.PickBest
			opt.CEM.Population, opt.CEM.Elites, opt.CEM.Iters, opt.CEM.Seed = proto.FewShot.Population, proto.FewShot.Elites, proto.FewShot.Iters, proto.FewShot.Seed
			opt.CEM.MinStd = proto.FewShot.MinStd
			f, err := svf.Adapt(context.Background(), m, e, domains, p.Manifest.Matrices, shots, opt)
			if err != nil {
				return nil, nil, fmt.Errorf("%s few-shot: %w", c.Task, err)
			}
			r := f.Result()
			c.Experts, c.Alpha, c.Picked = r.Experts, r.Alpha, r.Picked
			zs["few-shot"] = r.Z
			for j := range chosen {
				chosen[j] = "few-shot"
			}
		case colNewExpert:
			shots, err := fewShotExamples(t, proto)
			if err != nil {
				return nil, nil, err
			}
			x, err := trainOnExamples(p, shots, domains, proto.FewShot.Seed)
			if err != nil {
				return nil, nil, fmt.Errorf("%s new expert: %w", c.Task, err)
			}
			c.Trained, zs["new"] = x.Trained, x.Z
			for j := range chosen {
				chosen[j] = "new"
			}
		}
		res, err := evaluateChosen(m, e, exs, t.Check, proto.MaxTokens, chosen, zs)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", c.Task, c.Column, err)
		}
		c.N, c.Correct, c.Outcomes = len(exs), 0, string(res)
		c.Correct = strings.Count(c.Outcomes, "1")
		c.Lo, c.Hi = svf.Wilson(c.Correct, c.N)
		fmt.Fprintf(progress, "results: %-14s %-24s %s\n", c.Task, cellModel(*c), cellText(*c))
	}
	return ts, cells, nil
}

// fewShotExamples are what the few-shot and new-expert columns adapt to: the first
// Examples items of t's validation split, their worked solutions as outputs.
func fewShotExamples(t tasks.Task, proto resultsProtocol) ([]tasks.Example, error) {
	shots, err := tasks.Sample(t, tasks.Validation, proto.FewShot.Seed, proto.FewShot.Examples)
	if err != nil {
		return nil, err
	}
	for j := range shots {
		shots[j].Output = shots[j].Solution
	}
	return shots, nil
}

// trainOnExamples trains a new expert on shots as the page's "Train a new expert" does
// with its defaults (learn.RequestOptions of a request that sets nothing else), started
// from the likeliest of starts.
func trainOnExamples(p *svf.Pack, shots []tasks.Example, starts []*svf.Expert, seed uint64) (*svf.Expert, error) {
	req := protocol.Train{Name: "new", Seed: seed}
	for _, x := range shots {
		req.Examples = append(req.Examples, protocol.Example{Input: x.Input, Output: x.Output})
	}
	o, err := learn.RequestOptions(req)
	if err != nil {
		return nil, err
	}
	o.Starts = starts
	return learn.TrainExpert(context.Background(), p, o)
}

// evaluateChosen answers every item with the z of the expert chosen for it (zs by name),
// the items of one expert together, and returns the outcomes in the items' order.
func evaluateChosen(m *model.Model, e model.Engine, exs []tasks.Example, check func(tasks.Example, string) bool, maxTokens int,
	chosen []string, zs map[string]map[string][]float32) ([]byte, error) {
	out := make([]byte, len(exs))
	var names []string
	groups := map[string][]int{}
	for i, name := range chosen {
		if _, ok := groups[name]; !ok {
			names = append(names, name)
		}
		groups[name] = append(groups[name], i)
	}
	slices.Sort(names)
	for _, name := range names {
		z, ok := zs[name]
		if !ok {
			return nil, fmt.Errorf("no expert %q", name)
		}
		if err := e.SetZ(z); err != nil {
			return nil, err
		}
		idx := groups[name]
		sub := make([]tasks.Example, len(idx))
		for k, i := range idx {
			sub[k] = exs[i]
		}
		res, err := svf.Evaluate(m, e, sub, check, maxTokens)
		if err != nil {
			return nil, err
		}
		for k, it := range res.Items {
			out[idx[k]] = '0'
			if it.Correct {
				out[idx[k]] = '1'
			}
		}
	}
	return out, nil
}

// cellModel names what answered a cell.
func cellModel(c resultRow) string {
	switch {
	case c.Expert != "":
		return "expert " + c.Expert
	case c.Column != colBase:
		return c.Column
	}
	return "base"
}

// cellText writes a cell as "23.5 % (47/200; 18.2–29.8)": accuracy, counts and the 95 %
// Wilson interval.
func cellText(c resultRow) string {
	lo, hi := svf.Wilson(c.Correct, c.N)
	return fmt.Sprintf("%.1f %% (%d/%d; %.1f–%.1f)", 100*float64(c.Correct)/float64(max(c.N, 1)), c.Correct, c.N, 100*lo, 100*hi)
}

// writeResults writes the table to tablePath and the per-item record to results.json in
// the same folder.
func writeResults(tablePath, packDir string, manifest []byte, proto resultsProtocol, ts []resultTask, rows []resultRow) error {
	sum := sha256.Sum256(manifest)
	rec := resultsFile{Pack: filepath.ToSlash(packDir), Manifest: hex.EncodeToString(sum[:]), Protocol: proto, Tasks: ts, Rows: rows}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	recPath := filepath.Join(filepath.Dir(tablePath), "results.json")
	if err := os.WriteFile(recPath, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(tablePath, resultsTable(rec), 0o644)
}

// resultsTable renders the record as Markdown.
func resultsTable(rec resultsFile) []byte {
	cell := map[[2]string]resultRow{}
	for _, r := range rec.Rows {
		cell[[2]string{r.Task, r.Column}] = r
	}
	group := func(g string) []resultTask {
		var out []resultTask
		for _, t := range rec.Tasks {
			if t.Group == g {
				out = append(out, t)
			}
		}
		return out
	}
	chance := func(t resultTask) string { return fmt.Sprintf("%.0f %%", 100*t.Chance) }
	var b bytes.Buffer
	p := rec.Protocol
	fmt.Fprintf(&b, "# Results of the demo pack\n\n")
	fmt.Fprintf(&b, "Written by `make results` (`t2 eval --pack %s --table …`); do not edit by hand. "+
		"Every item's outcome is in [results.json](results.json).\n\n", rec.Pack)
	fmt.Fprintf(&b, "- pack: `%s` (pack.json sha256 `%s`)\n", rec.Pack, rec.Manifest[:16])
	fmt.Fprintf(&b, "- items: the first %d of the **%s** split of each task (tasks.Sample, seed %d); "+
		"experts were trained on the train split and chosen on the validation split\n", p.N, p.Split, p.Seed)
	fmt.Fprintf(&b, "- answers: greedy, at most %d tokens, checked by the task's extractor (svf/tasks)\n", p.MaxTokens)
	fmt.Fprintf(&b, "- cells: accuracy (right/n; 95 %% Wilson interval); chance is the share of the items' most common answer\n\n")

	fmt.Fprintf(&b, "## Training domains: base vs its SVF expert\n\n")
	fmt.Fprintf(&b, "The base model never saw these tasks (its mix is `tasks.General`); each expert was trained on its domain's train split.\n\n")
	fmt.Fprintf(&b, "| task | chance | base | SVF expert | expert |\n|---|---|---|---|---|\n")
	for _, t := range group(groupDomain) {
		e := cell[[2]string{t.Name, colExpert}]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` |\n", t.Name, chance(t),
			cellText(cell[[2]string{t.Name, colBase}]), cellText(e), e.Expert)
	}
	fmt.Fprintf(&b, "\n## Unseen tasks: base vs Transformer²\n\n")
	fmt.Fprintf(&b, "No model was trained on these tasks. "+
		"T²-prompt asks the base model which domain the question is (the classification prompt, every "+
		"label scored in one pass) and answers with that domain's expert, or the base weights for other; "+
		"T²-cls-expert asks with the classification expert applied; T²-few-shot mixes the domain experts "+
		"with α fitted by CEM as the page does by default (%s score, population %d, %d elites, at most %d iterations, "+
		"stopping at an elite spread of %g, seed %d) to the first %d validation items of the task, their worked solutions as outputs%s. "+
		"The last column applies the expert of the task's domain chosen by hand.\n\n",
		p.FewShot.Score, p.FewShot.Population, p.FewShot.Elites, p.FewShot.Iters, p.FewShot.MinStd, p.FewShot.Seed, p.FewShot.Examples, pickText(p.FewShot))
	cols := []string{colPrompt, colClsExpert, colFewShot}
	fmt.Fprintf(&b, "| task | chance | base | %s | domain expert (by hand) |\n|---|---|---|%s---|\n",
		strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, t := range group(groupUnseen) {
		fmt.Fprintf(&b, "| %s | %s | %s |", t.Name, chance(t), cellText(cell[[2]string{t.Name, colBase}]))
		for _, col := range cols {
			fmt.Fprintf(&b, " %s |", cellText(cell[[2]string{t.Name, col}]))
		}
		e := cell[[2]string{t.Name, colDomainExpert}]
		fmt.Fprintf(&b, " %s (`%s`) |\n", cellText(e), e.Expert)
	}
	if held := group(groupHeldOut); len(held) > 0 {
		fmt.Fprintf(&b, "\n## Held-out families: base vs few-shot adaptation\n\n")
		fmt.Fprintf(&b, "Question forms written for few-shot adaptation (`tasks.HeldOut`); no model was trained on them. "+
			"T²-prompt and T²-few-shot are as above; the new expert is trained on the same %d examples as the page's "+
			"\"Train a new expert\" trains with its defaults: z alone, the next-token loss of their worked solutions, "+
			"%.0f %% of them held out to keep the best iterate (most right, then likeliest), %g epochs, started from the "+
			"domain expert whose z makes them likeliest when one beats the base, seed %d.\n\n",
			p.FewShot.Examples, 100*protocol.DefaultTrain.ValShare,
			protocol.TrainEpochs(0, p.FewShot.Examples-tasks.HoldOut(p.FewShot.Examples, protocol.DefaultTrain.ValShare)), p.FewShot.Seed)
		cols := []string{colPrompt, colFewShot, colNewExpert}
		fmt.Fprintf(&b, "| family | chance | base | %s |\n|---|---|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
		for _, t := range held {
			fmt.Fprintf(&b, "| %s | %s | %s |", t.Name, chance(t), cellText(cell[[2]string{t.Name, colBase}]))
			for _, col := range cols {
				fmt.Fprintf(&b, " %s |", cellText(cell[[2]string{t.Name, col}]))
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "\n### What the first pass chose\n\n")
	fmt.Fprintf(&b, "Share of the items each strategy sent to each expert (the task's own domain in bold), and the few-shot α.\n\n")
	fmt.Fprintf(&b, "| task | strategy | chosen |\n|---|---|---|\n")
	for _, t := range append(group(groupUnseen), group(groupHeldOut)...) {
		task, err := tasks.Lookup(t.Name)
		if err != nil {
			continue
		}
		for _, col := range []string{colPrompt, colClsExpert} {
			r, ok := cell[[2]string{t.Name, col}]
			if !ok {
				continue
			}
			count := map[string]int{}
			for _, name := range r.Chosen {
				count[name]++
			}
			var names []string
			for name := range count {
				names = append(names, name)
			}
			slices.Sort(names)
			var parts []string
			for _, name := range names {
				part := fmt.Sprintf("%s %.1f %%", name, 100*float64(count[name])/float64(max(len(r.Chosen), 1)))
				if name == task.Domain() && t.Group == groupUnseen {
					part = "**" + part + "**"
				}
				parts = append(parts, part)
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, col, strings.Join(parts, ", "))
		}
		r := cell[[2]string{t.Name, colFewShot}]
		var parts []string
		for k, name := range r.Experts {
			if k < len(r.Alpha) {
				parts = append(parts, fmt.Sprintf("%s %s", name, formatAlpha(r.Alpha[k])))
			}
		}
		kept := ""
		switch r.Picked {
		case "":
		case svf.PickedBase:
			kept = " — the base weights kept (more of the examples right)"
		default:
			kept = " — " + r.Picked + " alone kept (more of the examples right)"
		}
		fmt.Fprintf(&b, "| %s | %s | α: %s%s |\n", t.Name, colFewShot, strings.Join(parts, ", "), kept)
		if r, ok := cell[[2]string{t.Name, colNewExpert}]; ok {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, colNewExpert, r.Trained)
		}
	}
	return b.Bytes()
}

// pickText says how the few-shot column ends when it picks on the examples.
func pickText(p fewShotProtocol) string {
	if !p.PickBest {
		return ""
	}
	return "; then the mixture, each expert alone and the base weights answer those items greedily, " +
		"and the one with most right is kept (a tie keeps the mixture)"
}

// chanceOf is the share of the most common reference answer of exs: what a model that
// always gives one answer scores on them.
func chanceOf(exs []tasks.Example) float64 {
	count, most := map[string]int{}, 0
	for _, ex := range exs {
		count[ex.Output]++
		most = max(most, count[ex.Output])
	}
	return float64(most) / float64(max(len(exs), 1))
}

// runResults measures the table on the pack in packDir and writes it.
func runResults(packDir, tablePath string, proto resultsProtocol, batch int, stderr io.Writer) error {
	p, err := svf.OpenDir(packDir)
	if err != nil {
		return err
	}
	manifest, err := os.ReadFile(filepath.Join(packDir, "pack.json"))
	if err != nil {
		return err
	}
	m, err := p.Load(svf.MergedPath)
	if err != nil {
		return fmt.Errorf("%s: %w", packDir, err)
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: batch})
	if err != nil {
		return err
	}
	defer e.Close()
	ts, rows, err := measureResults(m, e, p, proto, stderr)
	if err != nil {
		return err
	}
	if err := writeResults(tablePath, packDir, manifest, proto, ts, rows); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "results: wrote %s and results.json next to it\n", tablePath)
	card := filepath.Join(filepath.Dir(filepath.Clean(packDir)), "MODEL_CARD.md")
	if _, err := os.Stat(card); err != nil {
		return nil
	}
	table, err := os.ReadFile(tablePath)
	if err != nil {
		return err
	}
	if err := updateCard(card, table); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "results: updated the table of %s\n", card)
	return nil
}

// Markers of the results section of a model card, which make results rewrites.
const (
	cardBegin = "<!-- results: written by make results -->"
	cardEnd   = "<!-- /results -->"
)

// cardSection is what the card holds between its markers: the table without its title.
func cardSection(table []byte) string {
	body := string(table)
	if _, rest, ok := strings.Cut(body, "\n\n"); ok && strings.HasPrefix(body, "# ") {
		body = rest
	}
	return cardBegin + "\n" + body + cardEnd
}

// updateCard replaces the results section of the model card at path.
func updateCard(path string, table []byte) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(data)
	i, j := strings.Index(text, cardBegin), strings.Index(text, cardEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no results section (%q … %q) to update", path, cardBegin, cardEnd)
	}
	text = text[:i] + cardSection(table) + text[j+len(cardEnd):]
	return os.WriteFile(path, []byte(text), 0o644)
}
