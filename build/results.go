package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// The results table (P1·5) compares, on the test split of every task of the suite, the
// base model with what Transformer² makes of it: each training domain answered by its own
// SVF expert, and each unseen task by the strategies of the first pass (P1·6's; their
// columns say "not yet" until they land) and, as a bound, by its domain's expert chosen by
// hand. The experts were trained on the train split and chosen on the validation split;
// the test split is only ever measured here.

// resultsProtocol is how every row of the table is measured.
type resultsProtocol struct {
	Split     string `json:"split"`      // always test
	Seed      uint64 `json:"seed"`       // of tasks.Sample
	N         int    `json:"n"`          // items per task
	MaxTokens int    `json:"max_tokens"` // longest greedy answer
}

// defaultResults is the protocol of docs/RESULTS.md.
var defaultResults = resultsProtocol{Split: "test", Seed: 1, N: 200, MaxTokens: 100}

// The columns of the table: the base model, the task's own expert (training domains),
// the expert of the task's domain chosen by hand (unseen tasks), and the strategies of
// P1·6.
const (
	colBase         = "base"
	colExpert       = "expert"
	colDomainExpert = "domain-expert"
)

// pendingColumns are the unseen-task columns P1·6 fills.
var pendingColumns = []string{"T²-prompt", "T²-cls-expert", "T²-few-shot"}

// resultRow is one measured cell: a task answered by the base model or an expert.
type resultRow struct {
	Task    string `json:"task"`
	Column  string `json:"column"`
	Expert  string `json:"expert,omitempty"` // "" for the base model
	N       int    `json:"n"`
	Correct int    `json:"correct"`
	// Outcomes has one byte per item, in the sample's order: '1' right, '0' wrong.
	Outcomes string `json:"outcomes"`
}

// resultsFile is results.json, the per-item record next to the table.
type resultsFile struct {
	Pack     string          `json:"pack"`        // as given to t2 eval
	Manifest string          `json:"pack_sha256"` // of the pack's pack.json
	Protocol resultsProtocol `json:"protocol"`
	Rows     []resultRow     `json:"rows"`
}

// resultCells lists the cells to measure: every question task and cls with the base model;
// training tasks with their domain's expert (cls with the classification expert); unseen
// tasks with their domain's expert.
func resultCells() []resultRow {
	var cells []resultRow
	for _, t := range tasks.All() {
		cells = append(cells, resultRow{Task: t.Name(), Column: colBase})
		col := colExpert
		if t.Unseen() {
			col = colDomainExpert
		}
		cells = append(cells, resultRow{Task: t.Name(), Column: col, Expert: t.Domain()})
	}
	return cells
}

// measureResults evaluates every cell on pack p (loaded as m, run by e) under proto,
// saying each row on progress.
func measureResults(m *model.Model, e model.Engine, p *svf.Pack, proto resultsProtocol, progress io.Writer) ([]resultRow, error) {
	split, err := tasks.ParseSplit(proto.Split)
	if err != nil {
		return nil, err
	}
	cells := resultCells()
	for i := range cells {
		c := &cells[i]
		t, err := tasks.Lookup(c.Task)
		if err != nil {
			return nil, err
		}
		exs, err := tasks.Sample(t, split, proto.Seed, proto.N)
		if err != nil {
			return nil, err
		}
		var z map[string][]float32
		if c.Expert != "" {
			x, err := p.Expert(c.Expert)
			if err != nil {
				return nil, err
			}
			z = x.Z
		}
		if err := e.SetZ(z); err != nil {
			return nil, err
		}
		res, err := svf.Evaluate(m, e, exs, t.Check, proto.MaxTokens)
		if err != nil {
			return nil, fmt.Errorf("%s with %s: %w", c.Task, cellModel(*c), err)
		}
		out := make([]byte, len(res.Items))
		for j, it := range res.Items {
			out[j] = '0'
			if it.Correct {
				out[j] = '1'
			}
		}
		c.N, c.Correct, c.Outcomes = res.N, res.Correct, string(out)
		fmt.Fprintf(progress, "results: %-14s %-24s %s\n", c.Task, cellModel(*c), cellText(*c))
	}
	return cells, nil
}

// cellModel names what answered a cell.
func cellModel(c resultRow) string {
	if c.Expert == "" {
		return "base"
	}
	return "expert " + c.Expert
}

// cellText writes a cell as "23.5 % (47/200; 18.2–29.8)": accuracy, counts and the 95 %
// Wilson interval.
func cellText(c resultRow) string {
	lo, hi := svf.Wilson(c.Correct, c.N)
	return fmt.Sprintf("%.1f %% (%d/%d; %.1f–%.1f)", 100*float64(c.Correct)/float64(max(c.N, 1)), c.Correct, c.N, 100*lo, 100*hi)
}

// writeResults writes the table to tablePath and the per-item record to results.json in
// the same folder.
func writeResults(tablePath, packDir string, manifest []byte, proto resultsProtocol, rows []resultRow) error {
	sum := sha256.Sum256(manifest)
	rec := resultsFile{Pack: filepath.ToSlash(packDir), Manifest: hex.EncodeToString(sum[:]), Protocol: proto, Rows: rows}
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
	var b bytes.Buffer
	p := rec.Protocol
	fmt.Fprintf(&b, "# Results of the demo pack\n\n")
	fmt.Fprintf(&b, "Written by `make results` (`t2 eval --pack %s --table …`); do not edit by hand. "+
		"Every item's outcome is in [results.json](results.json).\n\n", rec.Pack)
	fmt.Fprintf(&b, "- pack: `%s` (pack.json sha256 `%s`)\n", rec.Pack, rec.Manifest[:16])
	fmt.Fprintf(&b, "- items: the first %d of the **%s** split of each task (tasks.Sample, seed %d); "+
		"experts were trained on the train split and chosen on the validation split\n", p.N, p.Split, p.Seed)
	fmt.Fprintf(&b, "- answers: greedy, at most %d tokens, checked by the task's extractor (svf/tasks)\n", p.MaxTokens)
	fmt.Fprintf(&b, "- cells: accuracy (right/n; 95 %% Wilson interval)\n\n")

	fmt.Fprintf(&b, "## Training domains: base vs its SVF expert\n\n")
	fmt.Fprintf(&b, "| task | chance | base | SVF expert | expert |\n|---|---|---|---|---|\n")
	for _, t := range tasks.All() {
		if t.Unseen() {
			continue
		}
		e := cell[[2]string{t.Name(), colExpert}]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` |\n", t.Name(), chance(t.Name()),
			cellText(cell[[2]string{t.Name(), colBase}]), cellText(e), e.Expert)
	}
	fmt.Fprintf(&b, "\n## Unseen tasks: base vs Transformer²\n\n")
	fmt.Fprintf(&b, "The T² columns are the first-pass strategies of P1·6 (not yet built). "+
		"The last column applies the expert of the task's domain chosen by hand: "+
		"what a perfect first pass with single experts would reach.\n\n")
	fmt.Fprintf(&b, "| task | chance | base | %s | domain expert (by hand) |\n|---|---|---|%s---|\n",
		strings.Join(pendingColumns, " | "), strings.Repeat("---|", len(pendingColumns)))
	for _, t := range tasks.All() {
		if !t.Unseen() {
			continue
		}
		e := cell[[2]string{t.Name(), colDomainExpert}]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s (`%s`) |\n", t.Name(), chance(t.Name()),
			cellText(cell[[2]string{t.Name(), colBase}]),
			strings.TrimSuffix(strings.Repeat("not yet | ", len(pendingColumns)), " | "), cellText(e), e.Expert)
	}
	return b.Bytes()
}

// chance is the share of the most common answer of a task, as svf/tasks documents it.
func chance(task string) string {
	return map[string]string{
		tasks.Math: "4 %", tasks.MathHard: "1 %", tasks.Code: "5 %", tasks.CodeJS: "5 %",
		tasks.Reasoning: "33 %", tasks.ReasoningHard: "25 %", tasks.Cls: "33 %",
	}[task]
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
	rows, err := measureResults(m, e, p, proto, stderr)
	if err != nil {
		return err
	}
	if err := writeResults(tablePath, packDir, manifest, proto, rows); err != nil {
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
