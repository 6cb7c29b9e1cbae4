//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"

	"github.com/t2web/t2web/wasm/webfs"
	"github.com/vugu/vugu"
)

// Results is the Results view: the demo pack's results table (docs/RESULTS.md, made by
// make results) drawn as bars with their 95 % intervals, from the site's results.json.
// It fetches the file when first shown and keeps it.
type Results struct {
	File    *resultsFile
	Err     string
	started bool
}

// resultsFile is the part of results.json (build/results.go's record) the view draws.
type resultsFile struct {
	Pack     string `json:"pack"`
	Protocol struct {
		Split     string `json:"split"`
		Seed      uint64 `json:"seed"`
		N         int    `json:"n"`
		MaxTokens int    `json:"max_tokens"`
		FewShot   struct {
			Examples   int    `json:"examples"`
			Score      string `json:"score"`
			Population int    `json:"population"`
			Iters      int    `json:"iters"`
		} `json:"few_shot"`
	} `json:"protocol"`
	Tasks []resultTask `json:"tasks"`
	Rows  []resultRow  `json:"rows"`
}

// resultTask is one task of the table and the group it is shown in.
type resultTask struct {
	Name   string  `json:"name"`
	Group  string  `json:"group"` // "domain", "unseen" or "held-out"
	Chance float64 `json:"chance"`
}

// resultRow is one measured cell: a task answered by one column's model.
type resultRow struct {
	Task    string  `json:"task"`
	Column  string  `json:"column"`
	Expert  string  `json:"expert,omitempty"`
	N       int     `json:"n"`
	Correct int     `json:"correct"`
	Lo      float64 `json:"lo"` // 95 % Wilson interval of the accuracy
	Hi      float64 `json:"hi"`
}

// resultsURL is where the site keeps the record (build/site.go copies it there).
const resultsURL = "results.json"

// Init fetches results.json in the background.
func (r *Results) Init(ctx vugu.InitCtx) {
	if r.started {
		return
	}
	r.started = true
	fetchJSON(ctx.EventEnv(), resultsURL, func(f *resultsFile, err error) {
		if err != nil {
			r.Err = fmt.Sprintf("The results could not be read (%s): %v", resultsURL, err)
			return
		}
		r.File = f
	})
}

// groups are the table's sections, in order, with their headings and what they show.
var resultGroups = []struct{ group, title, about string }{
	{"domain", "Training domains: base model vs its SVF expert",
		"Each domain's expert was trained on that domain's train split; the base model never saw those tasks."},
	{"unseen", "Unseen tasks: base model vs Transformer²",
		"Tasks no model was trained on. T²-prompt lets the base model classify the question and answers with the chosen expert; T²-cls-expert classifies with the classification expert; T²-few-shot mixes the experts with α fitted by CEM to a few validation examples."},
	{"held-out", "Held-out families: base model vs few-shot adaptation",
		"Question forms written for few-shot adaptation, which no model was trained on."},
}

// summary says what the bars measure.
func (r *Results) summary() string {
	p := r.File.Protocol
	return fmt.Sprintf("Accuracy on the first %d items of the %s split of each task (greedy answers of at most %d tokens), "+
		"with the 95 %% Wilson interval as a whisker and chance as a dashed line. Pack: %s. Every number comes from "+
		"results.json, written by make results.", p.N, p.Split, p.MaxTokens, r.File.Pack)
}

// sections returns the groups that have tasks.
func (r *Results) sections() []resultSection {
	var out []resultSection
	for _, g := range resultGroups {
		s := resultSection{Title: g.title, About: g.about}
		for _, t := range r.File.Tasks {
			if t.Group == g.group {
				s.Tasks = append(s.Tasks, t)
			}
		}
		if len(s.Tasks) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// resultSection is one group of tasks.
type resultSection struct {
	Title, About string
	Tasks        []resultTask
}

// taskSVG draws task t's cells as horizontal bars on [0, 100] %: the accuracy as a bar, the
// interval as a whisker, chance as a dashed line, and the figures as text.
func (r *Results) taskSVG(t resultTask) vugu.HTML {
	var rows []resultRow
	for _, row := range r.File.Rows {
		if row.Task == t.Name {
			rows = append(rows, row)
		}
	}
	const label, plot, text, bar, gap = 118.0, 190.0, 150.0, 16.0, 7.0
	w := label + plot + text
	h := float64(len(rows))*(bar+gap) + gap + 12
	x := func(p float64) float64 { return label + p*plot }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" role="img" aria-label="%s: accuracy per model">`, w, h, html.EscapeString(t.Name))
	for i, row := range rows {
		y := gap + float64(i)*(bar+gap)
		acc := float64(row.Correct) / float64(max(row.N, 1))
		class := "bar"
		if row.Column == "base" {
			class = "bar base"
		}
		fmt.Fprintf(&b, `<text x="0" y="%.1f">%s</text>`, y+bar-4, html.EscapeString(columnLabel(row)))
		fmt.Fprintf(&b, `<rect class="%s" x="%g" y="%.1f" width="%.1f" height="%g"><title>%s</title></rect>`,
			class, label, y, acc*plot, bar, html.EscapeString(cellLine(row)))
		mid := y + bar/2
		fmt.Fprintf(&b, `<line class="whisker" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x(row.Lo), mid, x(row.Hi), mid)
		for _, e := range []float64{row.Lo, row.Hi} {
			fmt.Fprintf(&b, `<line class="whisker" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x(e), mid-4, x(e), mid+4)
		}
		fmt.Fprintf(&b, `<text x="%g" y="%.1f">%s</text>`, label+plot+6, y+bar-4, html.EscapeString(cellLine(row)))
	}
	axis := h - 10
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, label, axis, label+plot, axis)
	for _, p := range []float64{0, 0.5, 1} {
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g">%.0f %%</text>`, x(p)-6, h-1, 100*p)
	}
	if t.Chance > 0 {
		fmt.Fprintf(&b, `<line class="chance" x1="%.1f" y1="%g" x2="%.1f" y2="%g"><title>chance %.0f %%</title></line>`,
			x(t.Chance), gap/2, x(t.Chance), axis, 100*t.Chance)
	}
	b.WriteString(`</svg>`)
	return vugu.HTML(b.String())
}

// columnLabel names a cell's model for people.
func columnLabel(row resultRow) string {
	switch row.Column {
	case "base":
		return "base model"
	case "expert", "domain-expert":
		return "expert " + row.Expert
	}
	return row.Column
}

// cellLine writes a cell as "41.2 % (206/500; 36.9–45.6)".
func cellLine(row resultRow) string {
	return fmt.Sprintf("%.1f %% (%d/%d; %.1f–%.1f)", 100*float64(row.Correct)/float64(max(row.N, 1)),
		row.Correct, row.N, 100*row.Lo, 100*row.Hi)
}

// fetchJSON fetches url in the background, decodes its JSON body into a T, and calls
// done with it, or with the error, under ee's lock, then renders.
func fetchJSON[T any](ee vugu.EventEnv, url string, done func(*T, error)) {
	go func() {
		var v T
		err := getJSON(url, &v)
		ee.Lock()
		defer ee.UnlockRender()
		if err != nil {
			done(nil, err)
			return
		}
		done(&v, nil)
	}()
}

// getJSON fetches url and decodes its JSON body into v. It waits for promises: call it
// from a goroutine.
func getJSON(url string, v any) error {
	resp, err := webfs.Fetch(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.Code/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}
