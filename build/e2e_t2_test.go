package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/wasm/protocol"
)

// TestE2ET2 drives Transformer²'s views of the page on a pack with experts (math, code
// and cls, random z): an ask with the prompt strategy streams the tokens t2 ask's code
// gives natively and names its expert; a JSONL few-shot set dropped on the page adapts
// with a plot that grows each iteration, an α chart, and a chat answered by the mixture;
// bad few-shot files show a message and keep the rows there are; the experts view shows
// every expert's card and z map; an exported expert decodes, and one dropped back is
// imported.
func TestE2ET2(t *testing.T) {
	browser := findChromium(t)
	site, srv := serveSite(t)
	bctx, browserOut := startBrowser(t, browser)
	packDir := filepath.Join(site, "models", "t2")
	writeExpertPack(t, packDir)
	url := srv.URL + "/?pack=models/t2/&engine=cpu"
	const question = "What is 12 plus 30?"

	t.Run("ask/prompt", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		p.waitOption("#strategy", "prompt")
		p.setSelect("#strategy", "prompt")
		p.setField("#max-tokens", "12")
		run1(p, chromedp.SendKeys("#prompt", question+kb.Enter))
		if s := p.waitState(2*time.Minute, "done", "error"); s != "done" {
			p.fatalf("page state %q, want done; #error: %s", s, p.text("#error"))
		}
		why := p.text("#messages li.assistant:last-child .why")
		times := p.text("#messages li.assistant:last-child .times")
		expert, want := nativeAsk(t, packDir, question, 12)
		if !strings.Contains(why, "Expert: "+expert+" ") || !strings.Contains(why, "log-likelihoods") {
			p.fatalf("expert line %q, want it to name %s (t2 ask's choice) and the label log-likelihoods", why, expert)
		}
		if !strings.Contains(times, "first pass") || !strings.Contains(times, "second pass") {
			p.fatalf("times line %q, want first and second pass", times)
		}
		// The second pass put the chosen expert's z on the weights first (recomposing
		// its matrices: 5 ms here); the line says how much of the pass that took.
		if expert != "base" && !regexp.MustCompile(`second pass [0-9.]+ m?s \([0-9.]+ m?s switching the weights\)`).MatchString(times) {
			p.fatalf("times line %q, want the second pass's time switching the weights to %s", times, expert)
		}
		var got []int
		if err := json.Unmarshal([]byte(p.text("#ids")), &got); err != nil {
			p.fatalf("#ids: %v", err)
		}
		if !slices.Equal(got, want) {
			p.fatalf("page answered %v\nt2 ask gives %v", got, want)
		}
		if v := p.value("#prompt"); v != "" {
			p.fatalf("the composer holds %q after Enter sent the message", v)
		}
		t.Logf("%s; %s; %d tokens", why, times, len(got))
		p.checkConsole(nil)
		p.screenshots("t2-chat")
	})

	t.Run("fewshot", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		run1(p, chromedp.Click("#tab-fewshot"))
		// A typed row first: bad files must leave it as it is.
		run1(p, chromedp.Click("#fewshot-add-row"))
		run1(p, chromedp.SendKeys(`#fewshot-table textarea[aria-label="input of row 1"]`, "typed question"))
		run1(p, chromedp.SendKeys(`#fewshot-table textarea[aria-label="output of row 1"]`, "typed answer"))
		for _, bad := range []struct{ name, data, want string }{
			{"notes.txt", "hello, this is not JSON\nnor this", "line 1"},
			{"set.csv", "question,reply\nhi,there\n", "set.csv"},
			{"empty.jsonl", "", "empty"},
		} {
			p.drop(bad.name, []byte(bad.data))
			msg := p.poll(`document.querySelector('#fewshot-message')?.textContent ?? ""`, 10*time.Second)
			if !strings.Contains(msg, bad.want) {
				p.fatalf("dropping %s: #fewshot-message %q, want it to contain %q", bad.name, msg, bad.want)
			}
			if n := p.count("#fewshot-table tbody tr"); n != 1 {
				p.fatalf("dropping %s: %d rows, want the 1 typed row kept", bad.name, n)
			}
			if v := p.value(`#fewshot-table textarea[aria-label="output of row 1"]`); v != "typed answer" {
				p.fatalf("dropping %s: the typed row's output is %q", bad.name, v)
			}
			t.Logf("%s: %s", bad.name, msg)
		}
		p.screenshots("t2-fewshot-errors")

		var set strings.Builder
		for i := range 4 {
			fmt.Fprintf(&set, `{"input": "What is %d plus %d?", "output": "%d"}`+"\n", i, i+1, 2*i+1)
		}
		p.drop("add.jsonl", []byte(set.String()))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 5`, 10*time.Second)
		if msg := p.text("#fewshot-message"); msg != "" {
			p.fatalf("a good file left the message %q", msg)
		}
		p.setField("#population", "8")
		p.setSelect("#score", "likelihood")
		// Stop (Esc) ends an adaptation after the iteration under way, and keeps nothing.
		// Esc is pressed in the same task as the click on Adapt, so the stop reaches the
		// worker milliseconds after the request; with α per layer and 32 candidates, this
		// seed's search takes 4 iterations of about 250 ms to converge (a converged search
		// is adapted, stop or not), so the stop wins by a wide margin whatever the load.
		p.setField("#iters", "40")
		p.setField("#population", "32")
		run1(p, chromedp.Click("#per-layer"))
		run1(p, chromedp.Evaluate[bool](`(() => {
			document.querySelector('#adapt').click();
			return document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}));
		})()`))
		if st := p.waitState(time.Minute, "done", "error"); st != "done" {
			p.fatalf("after Stop: page state %q, want done (a stop is no failure); #error %q", st, p.text("#error"))
		}
		if msg, n := p.text("#status"), p.count("#plot circle.best"); !strings.Contains(msg, "stopped: nothing was kept") || n >= 4 {
			p.fatalf("after Esc: #status %q with %d iterations plotted; want stopped before the search converges", msg, n)
		} else {
			t.Logf("Esc: %s, %d iteration(s) plotted", msg, n)
		}
		if opts := p.eval(`[...document.querySelectorAll('#strategy option')].map(o => o.value).join(' ')`); strings.Contains(opts, "expert:task") {
			p.fatalf("a stopped adaptation left a mixture among the strategies: %s", opts)
		}
		// The Stop button does the same once it is enabled; scored by accuracy, this
		// search takes 9 iterations (about 4 s) to converge, so the click, a render after
		// Adapt, comes well before.
		p.setSelect("#score", "accuracy")
		run1(p, chromedp.Click("#adapt"))
		run1(p, chromedp.WaitEnabled("#adapt-stop"))
		run1(p, chromedp.Click("#adapt-stop"))
		if st := p.waitState(time.Minute, "done", "error"); st != "done" {
			p.fatalf("after Stop: page state %q, want done; #error %q", st, p.text("#error"))
		}
		if msg, n := p.text("#status"), p.count("#plot circle.best"); !strings.Contains(msg, "stopped: nothing was kept") || n >= 9 {
			p.fatalf("after Stop: #status %q with %d iterations plotted; want stopped before the search converges", msg, n)
		}
		p.setSelect("#score", "likelihood")
		p.setField("#iters", "3")
		// 32 candidates an iteration, so that each takes long enough to render on its own:
		// with 8, two iterations could reach the page in one batch of the worker's messages.
		// α stays per layer (checked above). On this pack (the same every run:
		// writeExpertPack) the search converges after 2 iterations; with one α per expert,
		// after 1, too few to see the plot grow.
		p.setField("#population", "32")
		// Count the plot's points as it changes.
		run1(p, chromedp.Evaluate[bool](`(() => {
			window.t2Points = [];
			new MutationObserver(() => {
				const n = document.querySelectorAll('#plot circle.best').length;
				if (n && window.t2Points[window.t2Points.length - 1] !== n) window.t2Points.push(n);
			}).observe(document.body, {subtree: true, childList: true, attributes: true});
			return true;
		})()`))
		tasks := p.traceTasks()
		run1(p, chromedp.Click("#adapt"))
		if s := p.waitState(3*time.Minute, "done", "error"); s != "done" {
			p.fatalf("page state %q after Adapt, want done; #error: %s", s, p.text("#error"))
		}
		var points []int
		if err := json.Unmarshal([]byte(p.eval(`JSON.stringify(window.t2Points)`)), &points); err != nil {
			p.fatalf("points: %v", err)
		}
		// One more point each iteration, as it ends: 1, 2, … up to the iterations run.
		end := p.count("#plot circle.best")
		want := make([]int, end)
		for i := range want {
			want[i] = i + 1
		}
		if end < 2 || !slices.Equal(points, want) {
			p.fatalf("the plot showed %v points as it changed, want 1, 2, … %d (one more each iteration, at least 2); #adapt-status %q",
				points, end, p.text("#adapt-status"))
		}
		// The score axis names two different ends, however close the scores are.
		var ticks []string
		if err := json.Unmarshal([]byte(p.eval(`JSON.stringify([...document.querySelectorAll('#plot text.tick')].slice(0, 2).map(t => t.textContent))`)), &ticks); err != nil || len(ticks) != 2 || ticks[0] == ticks[1] {
			p.fatalf("the plot's score axis reads %q (%v), want two different ends", ticks, err)
		}
		if n := p.count("#alpha rect.bar"); n != 2 {
			p.fatalf("the α chart has %d bars, want 2 (math, code)", n)
		}
		tasks.check("the adaptation")
		t.Logf("plot points %v, score axis %q; %s; %s", points, ticks, p.text("#adapt-status"), p.text("#alpha figcaption"))
		p.screenshots("t2-fewshot")

		// Export: the download's bytes are the mixture as an expert file.
		data := p.download("#download-expert")
		x, err := svf.DecodeExpert(data, "task.safetensors")
		if err != nil {
			p.fatalf("the downloaded expert: %v", err)
		}
		pack, err := svf.OpenDir(packDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := pack.Check(x); x.Name != "task" || err != nil {
			p.fatalf("the downloaded expert is %q (%v), want task, fitting the pack", x.Name, err)
		}

		// The chat answers with the mixture.
		run1(p, chromedp.Click("#use-mixture"))
		if v := p.value("#strategy"); v != "expert:task" {
			p.fatalf("#strategy is %q after Use for the chat, want expert:task", v)
		}
		p.setField("#max-tokens", "8")
		run1(p, chromedp.SendKeys("#prompt", question+kb.Enter))
		if s := p.waitState(2*time.Minute, "done", "error"); s != "done" {
			p.fatalf("page state %q, want done; #error: %s", s, p.text("#error"))
		}
		why := p.text("#messages li.assistant:last-child .why")
		if !strings.Contains(why, "Mixture: task") || !strings.Contains(why, "math") || !strings.Contains(why, "code") {
			p.fatalf("expert line %q, want the mixture task with α for math and code", why)
		}
		t.Logf("%s", why)

		// Import: an expert file dropped on the page joins the experts.
		x.Name = "imported-task"
		data, err = x.Encode()
		if err != nil {
			t.Fatal(err)
		}
		p.drop("imported-task.safetensors", data)
		run1(p, chromedp.Click("#tab-experts"))
		p.pollTrue(`!!document.querySelector('.card[data-expert="imported-task"]')`, 10*time.Second)
		if n := p.count(".card"); n != 5 {
			p.fatalf("%d expert cards, want 5 (math, code, cls, task, imported-task)", n)
		}
		if n := p.count(`.card[data-expert="math"] rect.cell`); n != 2*7 {
			p.fatalf("math's heat map has %d cells, want 2 layers × 7 matrices", n)
		}
		p.checkConsole(nil)
		p.screenshots("t2-experts")
	})

	t.Run("train", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		run1(p, chromedp.Click("#tab-fewshot"))
		run1(p, chromedp.Click("#fewshot-clear"))
		var set strings.Builder
		for i := range 24 {
			fmt.Fprintf(&set, `{"input": "What is %d plus %d?", "output": "%d+%d=%d. Answer: %d"}`+"\n", i, 30-i, i, 30-i, 30, 30)
		}
		lines := strings.SplitAfter(set.String(), "\n")
		p.drop("few.jsonl", []byte(strings.Join(lines[:5], "")))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 5`, 10*time.Second)
		if intro := p.text("#train-intro"); !strings.Contains(intro, "at least 10") || p.attr("#train-start", "disabled") == "" {
			p.fatalf("with 5 examples: #train-intro %q and the button enabled; want it disabled, saying 10 are needed", intro)
		}
		p.drop("more.jsonl", []byte(strings.Join(lines[5:10], "")))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 10`, 10*time.Second)
		// An example longer than the model's context: a clear error, nothing lost.
		p.drop("long.jsonl", []byte(fmt.Sprintf(`{"input": %q, "output": "1"}`+"\n", strings.Repeat("very long ", 60))))
		p.drop("rest.jsonl", []byte(strings.Join(lines[10:], "")))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 25`, 10*time.Second)
		run1(p, chromedp.Click("#train-start"))
		msg := p.poll(`document.querySelector('#train-error')?.textContent ?? ""`, 2*time.Minute)
		if !strings.Contains(msg, "example") || !strings.Contains(msg, "very long") || p.count("#fewshot-table tbody tr") != 25 {
			p.fatalf("training with an example longer than the context: #train-error %q, %d rows; want the example named, 25 rows kept", msg, p.count("#fewshot-table tbody tr"))
		}
		t.Logf("long example: %s", msg)
		// 25 rows fold to the first 10: the long example, row 11, is behind "Show all".
		if !run1(p, chromedp.Evaluate[bool](`document.querySelector('#fewshot-table tbody tr:nth-child(11)').hidden`)) ||
			p.text("#fewshot-fold") != "Show all 25 rows" {
			p.fatalf("with 25 rows, row 11 is not folded away or #fewshot-fold says %q, want \"Show all 25 rows\"", p.text("#fewshot-fold"))
		}
		run1(p, chromedp.Click("#fewshot-fold"))
		p.pollTrue(`!document.querySelector('#fewshot-table tbody tr:nth-child(11)').hidden`, 10*time.Second)
		run1(p, chromedp.Click(`#fewshot-table button[aria-label="remove row 11"]`))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 24`, 10*time.Second)

		if intro := p.text("#train-intro"); !strings.Contains(intro, "19 of the 24") || !strings.Contains(intro, "5 (a fifth)") {
			p.fatalf("#train-intro %q, want the split stated: 19 of the 24, 5 held out", intro)
		}
		p.setField("#train-epochs", "2")
		p.setField("#train-domain", "sums")
		tasks := p.traceTasks()
		run1(p, chromedp.Click("#train-start"))
		status := p.poll(`(document.querySelector('#train-status')?.textContent ?? "").startsWith('Expert "new-skill"') ? document.querySelector('#train-status').textContent : ""`, 5*time.Minute)
		if n := p.count("#train-loss circle.loss"); n != 2 {
			p.fatalf("the loss plot has %d points, want 2 (19 examples, batch 19, 2 epochs)", n)
		}
		if n := p.count("#train-accuracy circle.best"); n != 2 {
			p.fatalf("the accuracy plot has %d points, want one per epoch", n)
		}
		t.Logf("%s", status)
		tasks.check("training")
		p.screenshots("t2-train")

		// The expert is the page's and the CLI's, for the same examples and seed.
		run1(p, chromedp.Click("#tab-experts"))
		p.pollTrue(`!!document.querySelector('.card[data-expert="new-skill"]')`, 10*time.Second)
		data := p.download(`.card[data-expert="new-skill"] button[aria-label="download new-skill"]`)
		page, err := svf.DecodeExpert(data, "new-skill.safetensors")
		if err != nil {
			p.fatalf("the trained expert: %v", err)
		}
		native := nativeTrain(t, packDir, set.String(), 2)
		var worst float64
		for name, z := range native.Z {
			for i := range z {
				worst = max(worst, math.Abs(float64(page.Z[name][i]-z[i])))
			}
		}
		t.Logf("page vs t2 train-expert: max |Δz| %.3g; page score %v, native %v; %s", worst, *page.Score, *native.Score, page.Trained)
		if worst > zTolerance || *page.Score != *native.Score {
			p.fatalf("the page's z differs from t2 train-expert's by %.3g (tolerance %g), scores %v and %v", worst, zTolerance, *page.Score, *native.Score)
		}

		// With a first-pass label of its own, the new expert takes part in the first pass.
		p.show("chat")
		p.waitOption("#strategy", "prompt")
		p.setSelect("#strategy", "prompt")
		p.setField("#max-tokens", "4")
		run1(p, chromedp.SendKeys("#prompt", question+kb.Enter))
		if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q, want done; #error: %s", st, p.text("#error"))
		}
		if why := p.text("#messages li.assistant:last-child .why"); !strings.Contains(why, "sums") {
			p.fatalf("first pass %q: want the new expert's label sums among the labels", why)
		}

		// Stop keeps the best iterate; a tab closed mid-training loses neither the
		// examples nor the best iterate so far.
		longRun := func(name string) {
			p.show("fewshot")
			p.setField("#train-name", name)
			p.setField("#train-epochs", "60")
			run1(p, chromedp.Click("#train-start"))
			p.pollTrue(`document.querySelectorAll('#train-accuracy circle.best').length >= 1`, 2*time.Minute)
		}
		longRun("stopped-skill")
		run1(p, chromedp.Click("#train-stop"))
		status = p.poll(`(document.querySelector('#train-status')?.textContent ?? "").includes('stopped') ? document.querySelector('#train-status').textContent : ""`, time.Minute)
		if !strings.Contains(status, `Expert "stopped-skill"`) || p.count("#train-loss circle.loss") >= 60 {
			p.fatalf("after Stop: %q with %d iterations plotted; want the stopped expert, well before 60", status, p.count("#train-loss circle.loss"))
		}
		t.Logf("stopped: %s", status)
		longRun("closed-skill")
		p.waitSaved("closed-skill", 30*time.Second)
		run1(p, chromedp.Reload()) // the trainer worker goes with the page
		p.waitReady()
		p.show("experts")
		for _, name := range []string{"new-skill", "stopped-skill", "closed-skill"} {
			p.pollTrue(fmt.Sprintf(`!!document.querySelector('.card[data-expert=%q]')`, name), 20*time.Second)
		}
		p.show("fewshot")
		if n := p.count("#fewshot-table tbody tr"); n != 24 {
			p.fatalf("after closing the page mid-training the few-shot table has %d rows, want the 24", n)
		}
		p.checkConsole(nil)
	})
	if t.Failed() {
		t.Logf("browser output:\n%s", browserOut.String())
	}
}

// TestWriteExpertPackSame: writeExpertPack writes the same files every time, so a page
// test on its pack (an adaptation's scores, the iterations its search takes) goes the
// same way every run.
func TestWriteExpertPackSame(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeExpertPack(t, a)
	writeExpertPack(t, b)
	for _, name := range []string{"pack.json", "experts/index.json", "experts/math.safetensors", "experts/code.safetensors", "experts/cls.safetensors"} {
		x, errA := os.ReadFile(filepath.Join(a, name))
		y, errB := os.ReadFile(filepath.Join(b, name))
		if errA != nil || errB != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two writes (%v, %v)", name, errA, errB)
		}
	}
}

// writeExpertPack writes a random model's pack (MLP and attention adapted) to dir with
// experts math, code and cls, each z drawn uniformly from [0.2, 1.8].
func writeExpertPack(t *testing.T, dir string) {
	t.Helper()
	hf := t.TempDir()
	if err := writeRandomModel(defaultModelConfig, 3, hf); err != nil {
		t.Fatal(err)
	}
	if _, err := convert.Convert(os.DirFS(hf), dir, convert.Options{Targets: []string{"mlp", "attn"}}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for _, d := range []string{"math", "code", "cls"} {
		p, err := svf.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		x := p.Uniform(d, 1)
		x.Domain, x.Description = d, "random z for the page tests"
		// In the pack's order, not the map's (which Go varies from run to run): the same
		// experts every run, so the page's searches on them are the same every run.
		for _, name := range p.Manifest.Matrices {
			z := x.Z[name]
			for i := range z {
				z[i] = 0.2 + 1.6*r.Float32()
			}
		}
		if err := svf.SaveExpert(dir, p, x); err != nil {
			t.Fatal(err)
		}
	}
}

// nativeAsk runs t2 ask --strategy prompt on the CPU engine and returns the expert it
// names, with the greedy answer's ids from the same two passes (firstPass, then the
// second pass as cmdAsk runs it).
func nativeAsk(t *testing.T, packDir, question string, maxTokens int) (string, []int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := []string{"ask", "--pack", packDir, "--engine", "cpu", "--strategy", "prompt", "--max-tokens", fmt.Sprint(maxTokens), question}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("t2 %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	var expert string
	fmt.Sscanf(stdout.String(), "expert: %s", &expert)

	p, err := svf.OpenDir(packDir)
	if err != nil {
		t.Fatal(err)
	}
	e, m, closeEngine, err := openEngine("cpu", &source{pack: packDir}, engineOptions{MaxSeqs: 8}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEngine()
	s, err := firstPass(strategyPrompt, m, e, p, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Choose(question)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expert != expert {
		t.Fatalf("t2 ask chose %q, its first pass here %q", expert, c.Expert)
	}
	if err := e.SetZ(c.Z); err != nil {
		t.Fatal(err)
	}
	prompt, err := svf.Prompt(m, question)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := model.Generate(context.Background(), e, prompt, model.Greedy(), maxTokens, m.EOS, nil)
	if err != nil {
		t.Fatal(err)
	}
	return expert, ids
}

// drop drops a file called name with data on the page, as a user dragging it in.
func (p *page) drop(name string, data []byte) {
	p.t.Helper()
	run1(p, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const bytes = Uint8Array.from(atob(%q), (c) => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([bytes], %q));
		const main = document.querySelector('main.app');
		main.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
		return main.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`, base64.StdEncoding.EncodeToString(data), name)))
	// The page reads the file in the background: let it.
	time.Sleep(300 * time.Millisecond)
}

// setSelect picks value in the <select> sel, as a user would.
func (p *page) setSelect(sel, value string) {
	p.t.Helper()
	run1(p, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		e.value = %q;
		return e.dispatchEvent(new Event('change', {bubbles: true}));
	})()`, sel, value)))
}

// waitOption waits until the <select> sel offers value.
func (p *page) waitOption(sel, value string) {
	p.t.Helper()
	p.pollTrue(fmt.Sprintf(`!!document.querySelector('%s option[value="%s"]')`, sel, value), 10*time.Second)
}

// count is the number of elements matching sel.
func (p *page) count(sel string) int {
	p.t.Helper()
	return run1(p, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// poll waits for expr to give a non-empty string and returns it.
func (p *page) poll(expr string, timeout time.Duration) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Poll[string](fmt.Sprintf(`(() => { const v = %s; return v === "" ? false : v; })()`, expr),
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		p.fatalf("waiting for %s: %v", expr, err)
	}
	return s
}

// pollTrue waits for expr to be true.
func (p *page) pollTrue(expr string, timeout time.Duration) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		p.fatalf("waiting for %s: %v", expr, err)
	}
}

// screenshots writes the page light and dark at desktop and phone width (with
// T2_SCREENSHOTS set), then puts the page back as it was.
func (p *page) screenshots(name string) {
	p.t.Helper()
	if os.Getenv("T2_SCREENSHOTS") == "" {
		return
	}
	for _, scheme := range []string{"light", "dark"} {
		for _, size := range []struct {
			name string
			w, h int64
		}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
			err := chromedp.Do(p.ctx,
				chromedp.EmulateViewport(size.w, size.h),
				chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
					_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
					return err
				}))
			if err != nil {
				p.t.Errorf("screenshot %s: %v", name, err)
				return
			}
			// Two animation frames: the page lays out and paints at the new size before
			// the capture (the first capture once showed textareas still blank).
			run1(p, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
			p.screenshot(fmt.Sprintf("%s-%s-%s", name, scheme, size.name))
		}
	}
	chromedp.Do(p.ctx, chromedp.EmulateViewport(1280, 900))
}

// zTolerance bounds |Δz| between the page's trained expert and t2 train-expert's: the
// page's matmuls run in the SIMD module (GoKernels' order), the CLI's in package train's
// gemm, so the gradients differ in float32 rounding (3.6e-7 measured). Each Adam step
// moves p by at most lr = 0.01 (z by 0.0025), so a wrong gradient or a different split,
// batch or seed is far outside it.
const zTolerance = 1e-4

// nativeTrain runs t2 train-expert on the examples (JSONL) as the page's trainer does
// (DefaultTrain's settings, seed 1) on a copy of the pack, and returns the expert.
func nativeTrain(t *testing.T, packDir, examples string, epochs int) *svf.Expert {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pack")
	if err := os.CopyFS(dir, os.DirFS(packDir)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "examples.jsonl")
	if err := os.WriteFile(file, []byte(examples), 0o644); err != nil {
		t.Fatal(err)
	}
	d := protocol.DefaultTrain
	args := []string{"train-expert", "--pack", dir, "--examples", file, "--name", "new-skill", "--objective", "ce",
		"--epochs", fmt.Sprint(epochs), "--val-share", fmt.Sprint(d.ValShare), "--batch", fmt.Sprint(d.Batch), "--micro", fmt.Sprint(d.Batch),
		"--lr", fmt.Sprint(d.LR), "--seed", "1", "--start-from-experts"}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("t2 %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	p, err := svf.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	x, err := p.Expert("new-skill")
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// waitSaved waits until the page's IndexedDB (web/store, which builds for the browser
// only) holds an expert called name.
func (p *page) waitSaved(name string, timeout time.Duration) {
	p.t.Helper()
	expr := fmt.Sprintf(`new Promise((resolve) => {
		const open = indexedDB.open(%q);
		open.onerror = () => resolve(false);
		open.onsuccess = () => {
			const db = open.result;
			const keys = db.transaction(%q).objectStore(%q).getAllKeys();
			keys.onerror = () => { db.close(); resolve(false); };
			keys.onsuccess = () => { db.close(); resolve(keys.result.some((k) => String(k).endsWith('|' + %q))); };
		};
	})`, "t2web", "experts", "experts", name) // web/store's DefaultName and Experts
	for end := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		if run1(p, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise)) {
			return
		}
		if time.Now().After(end) {
			p.fatalf("expert %s was not saved in IndexedDB within %v", name, timeout)
		}
	}
}

// download clicks sel and returns the bytes of the file the page offers for download
// (the first blob it makes an object URL of).
func (p *page) download(sel string) []byte {
	p.t.Helper()
	run1(p, chromedp.Evaluate[bool](`(() => {
		window.t2Blobs = [];
		const create = URL.createObjectURL;
		URL.createObjectURL = (b) => { window.t2Blobs.push(b); return create.call(URL, b); };
		return true;
	})()`))
	run1(p, chromedp.Click(sel))
	p.pollTrue(`window.t2Blobs.length > 0`, 10*time.Second)
	b64 := run1(p, chromedp.Evaluate[string](`window.t2Blobs[0].arrayBuffer().then((b) => {
		let s = ''; for (const x of new Uint8Array(b)) s += String.fromCharCode(x); return btoa(s); })`, chromedp.EvalAwaitPromise))
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		p.fatalf("download: %v", err)
	}
	return data
}
