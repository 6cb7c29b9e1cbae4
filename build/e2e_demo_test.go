package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestE2EDemo checks what a newcomer meets on the site's default model, the demo pack:
//
//   - Transformer² is the chat's strategy (the classification expert's first pass), not
//     the base weights;
//   - example questions are one click away, and one asked is answered with the expert
//     its first pass chose, saying so;
//   - compare mode answers with the base weights and with the chosen expert side by side,
//     each exactly as t2 generate answers greedily with those weights;
//   - the Results view draws every task of results.json with a bar and an interval
//     whisker per measured model;
//   - an example few-shot set fills the table with one click, replacing the rows typed
//     before, which Undo gives back.
//
// With T2_SCREENSHOTS set it writes screenshots of the compare mode and the Results view.
func TestE2EDemo(t *testing.T) {
	browser := findChromium(t)
	site, srv := serveSite(t)
	bctx, browserOut := startBrowser(t, browser)
	defer func() {
		if t.Failed() {
			t.Logf("browser output:\n%s", browserOut.String())
		}
	}()
	packDir := filepath.Join(site, "models", "default")
	tok, err := loadTokenizer(packDir)
	if err != nil {
		t.Fatal(err)
	}
	var ex siteExamples
	data, err := os.ReadFile(filepath.Join(site, "examples.json"))
	if err == nil {
		err = json.Unmarshal(data, &ex)
	}
	if err != nil || len(ex.Questions) == 0 || len(ex.FewShot) == 0 {
		t.Fatalf("examples.json: %v (%d questions, %d few-shot sets)", err, len(ex.Questions), len(ex.FewShot))
	}

	p := openPage(t, bctx, srv.URL+"/?engine=cpu")
	p.waitReady()
	p.pollTrue(`document.querySelector('#strategy').value === 'cls-expert'`, 20*time.Second)
	p.setField("#max-tokens", "48")

	// Example questions.
	{
		p.pollTrue(`document.querySelectorAll('#try button').length > 0`, 20*time.Second)
		if n := p.count("#try button"); n != len(ex.Questions) {
			p.fatalf("%d example questions offered, examples.json has %d", n, len(ex.Questions))
		}
		run1(p, chromedp.Click(`#try button[data-task="math"]`))
		if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q after an example question, want done; #error: %s", st, p.text("#error"))
		}
		why := p.text("#messages li.assistant:last-child .why")
		if !strings.HasPrefix(why, "Expert: ") || !strings.Contains(why, "strategy cls-expert") {
			p.fatalf("the answer's expert line is %q, want the expert the cls-expert first pass chose", why)
		}
		if p.text("#messages li.user .text") == "" || p.text("#messages li.assistant:last-child .text") == "" {
			p.fatalf("the example question or its answer is empty")
		}
		t.Logf("asked %q: %s", p.text("#messages li.user .text"), why)
	}

	// Compare mode.
	{
		question := ""
		for _, q := range ex.Questions {
			if q.Task == "math" { // where the expert changes the answer most
				question = q.Text
				break
			}
		}
		run1(p, chromedp.Click("#clear-chat"))
		run1(p, chromedp.Click("#compare"))
		p.setField("#prompt", question)
		run1(p, chromedp.Click("#generate"))
		if st := p.waitState(3*time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q after a compared ask, want done; #error: %s", st, p.text("#error"))
		}
		last := "#messages li.assistant:last-child"
		expert := strings.TrimPrefix(p.text(last+" .compare .adapted figcaption"), "with ")
		if p.count(last+" .compare .column") != 2 || expert == "" {
			p.fatalf("a compared answer shows %d columns, expert %q: want the base weights beside the expert", p.count(last+" .compare .column"), expert)
		}
		base, adapted := p.text(last+" .compare .base pre"), p.text(last+" .compare .adapted pre")
		wantBase := tok.Decode(nativeGenerate(t, []string{"--pack", packDir}, question, true, 48), true)
		wantAdapted := tok.Decode(nativeGenerate(t, []string{"--pack", packDir, "--expert", expert}, question, true, 48), true)
		if base != wantBase || adapted != wantAdapted {
			p.fatalf("compared answers\nbase    %q\nexpert  %q\nt2 generate gives\nbase    %q\n%-7s %q", base, adapted, wantBase, expert, wantAdapted)
		}
		t.Logf("base: %q; %s: %q", base, expert, adapted)
		p.screenshots("demo-compare")
	}

	// A question the first pass sends to no expert, right after an expert's answer: the
	// second pass runs the base weights, not the z the engine held before.
	{
		const question = "What is your name?"
		run1(p, chromedp.Click("#clear-chat"))
		run1(p, chromedp.Click("#compare"))
		p.setSelect("#strategy", "prompt")
		p.setField("#prompt", question)
		run1(p, chromedp.Click("#generate"))
		if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q, want done; #error: %s", st, p.text("#error"))
		}
		last := "#messages li.assistant:last-child"
		if why := p.text(last + " .why"); !strings.HasPrefix(why, "Expert: base — strategy prompt") {
			p.fatalf("the answer to %q says %q, want the base weights chosen by the prompt strategy", question, why)
		}
		want := tok.Decode(nativeGenerate(t, []string{"--pack", packDir}, question, true, 48), true)
		if got := p.text(last + " .text"); got != want {
			p.fatalf("the page answered %q with the base weights as %q; t2 generate gives %q", question, got, want)
		}
	}

	// The Results view.
	{
		var rec resultsFile
		data, err := os.ReadFile(filepath.Join(site, "results.json"))
		if err == nil {
			err = json.Unmarshal(data, &rec)
		}
		if err != nil || len(rec.Tasks) == 0 {
			t.Fatalf("the site's results.json: %v (%d tasks)", err, len(rec.Tasks))
		}
		p.show("results")
		p.pollTrue(`document.querySelectorAll('#results-view figure.result-task').length > 0`, 20*time.Second)
		if n := p.count("#results-view figure.result-task"); n != len(rec.Tasks) {
			p.fatalf("the Results view draws %d tasks, results.json has %d", n, len(rec.Tasks))
		}
		for _, task := range rec.Tasks {
			rows := 0
			for _, r := range rec.Rows {
				if r.Task == task.Name {
					rows++
				}
			}
			sel := `#results-view figure[data-task="` + task.Name + `"]`
			if bars, whiskers := p.count(sel+" rect.bar"), p.count(sel+" line.whisker"); bars != rows || whiskers != 3*rows {
				p.fatalf("%s: %d bars and %d whisker lines for %d measured rows, want a bar and 3 lines each", task.Name, bars, whiskers, rows)
			}
		}
		p.screenshots("demo-results")
		p.checkConsole(nil)
	}

	// An example few-shot set.
	{
		p.show("fewshot")
		run1(p, chromedp.Click("#fewshot-add-row"))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 1`, 10*time.Second)
		set := ex.FewShot[0]
		run1(p, chromedp.Click(`#example-sets button[data-set="`+set.Name+`"]`))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === `+strconv.Itoa(len(set.Examples)), 10*time.Second)
		if v := p.value("#task-name"); v != set.Name {
			p.fatalf("the task name is %q after loading the set %s", v, set.Name)
		}
		if first := p.value(`#fewshot-table tbody tr:first-child td:nth-child(2) textarea`); first != set.Examples[0].Input {
			p.fatalf("the first row's input is %q, want the set's %q", first, set.Examples[0].Input)
		}
		run1(p, chromedp.Click("#undo-example-set"))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 1`, 10*time.Second)
	}
}
