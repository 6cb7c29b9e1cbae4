package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestE2EProduct checks the page as a person uses it, on a pack with experts served
// under a sub-path through a proxy that can go offline (as TestE2EOffline):
//
//   - persist: a dropped few-shot set adapts and the chat answers with the mixture, with
//     no main-thread task of over 100 ms of work (taskTrace) during the adaptation or the
//     generation; then, the network off, a reload brings back the page,
//     the pack, the few-shot rows, the conversation and the expert, which answers with
//     the same tokens as before;
//   - a full storage quota (IndexedDB's transaction aborted with QuotaExceededError) is
//     shown with what to remove, the rows typed stay, and they are saved once there is
//     room;
//   - Esc stops a running generation;
//   - the pack chosen as a local folder (CDP DOM.setFileInputFiles on the webkitdirectory
//     field), or dropped on the page (CDP Input.dispatchDragEvent), answers as the same
//     pack loaded by URL;
//   - screenshots of the chat, few-shot, experts and model views, light and dark, desktop
//     and phone width (with T2_SCREENSHOTS set).
func TestE2EProduct(t *testing.T) {
	browser := findChromium(t)
	site := buildTestSite(t)
	packDir := filepath.Join(site, "models", "t2")
	writeExpertPack(t, packDir)

	s := newOfflineServer(t, site)
	bctx, browserOut := startBrowser(t, browser,
		chromedp.ProxyServer(s.srv.URL),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
	)
	defer func() {
		if t.Failed() {
			t.Logf("browser output:\n%s", browserOut.String())
		}
	}()
	base := s.srv.URL + subPath
	url := base + "?pack=models/t2/&engine=cpu"

	t.Run("persist", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		p.show("fewshot")
		var set strings.Builder
		for i := range 4 {
			fmt.Fprintf(&set, `{"input": "What is %d plus %d?", "output": "%d"}`+"\n", i, i+1, 2*i+1)
		}
		p.drop("sums.jsonl", []byte(set.String()))
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 4`, 10*time.Second)
		p.setField("#iters", "3")
		p.setField("#population", "8")
		p.setSelect("#score", "likelihood")

		tasks := p.traceTasks()
		run1(p, chromedp.Click("#adapt"))
		if st := p.waitState(3*time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q after Adapt, want done; #error: %s", st, p.text("#error"))
		}
		tasks.check("the adaptation")
		p.checkConsole(nil)

		p.show("chat")
		p.pollTrue(`document.querySelector('#strategy').value === 'expert:task'`, 10*time.Second)
		p.setField("#max-tokens", "8")
		// A question the mixture answers with some tokens (random weights may end at once).
		var before []int
		question := ""
		for _, q := range []string{"What is 12 plus 30?", "What is 7 plus 5?", "Add 3 and 4.", "Hello"} {
			question = q
			run1(p, chromedp.Evaluate[bool](`(() => { const b = document.querySelector('#clear-chat'); if (!b.disabled) b.click(); return true; })()`))
			tasks := p.traceTasks()
			run1(p, chromedp.SendKeys("#prompt", question+kb.Enter))
			if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
				p.fatalf("page state %q, want done; #error: %s", st, p.text("#error"))
			}
			tasks.check("the generation")
			if before = p.ids(); len(before) > 0 {
				break
			}
			if note := p.text("#messages li.assistant:last-child .note"); !strings.Contains(note, "ended its answer at once") {
				p.fatalf("an answer of 0 tokens says %q, want that the model ended it at once", note)
			}
		}
		onlineWhy := p.text("#messages li.assistant:last-child .why")
		t.Logf("online: %s; ids %v", onlineWhy, before)
		if !strings.HasPrefix(onlineWhy, "Mixture: task — α ") {
			p.fatalf("online: expert line %q, want the mixture task and its α", onlineWhy)
		}

		// Everything is saved and the pack cached before the network goes.
		p.show("model")
		for _, kind := range []string{"fewshot", "chats", "experts"} {
			p.pollTrue(fmt.Sprintf(`!!document.querySelector('#saved li[data-kind=%q]')`, kind), 20*time.Second)
		}
		// the conversation with its answer, not only the strategy picked before it
		p.pollTrue(`Number(document.querySelector('#saved li[data-kind="chats"]').dataset.size) > 100`, 20*time.Second)
		waitPack(p, base+"models/t2/", func(pk cachedPack) bool { return pk.Complete }, time.Minute)
		p.pollTrue(`!!document.querySelector('#packs li[data-pack]')`, 10*time.Second)
		t.Logf("model view: %s; packs: %s; saved: %s", p.text("#usage"), p.text("#packs"), p.text("#saved"))

		s.setOffline(true)
		defer s.setOffline(false)
		setBrowserOffline(p, true)
		defer setBrowserOffline(p, false)
		run1(p, chromedp.Reload())
		p.waitReady()
		p.pollTrue(`!!document.querySelector('#strategy option[value="expert:task"]')`, 20*time.Second)
		if v := p.value("#strategy"); v != "expert:task" {
			p.fatalf("after the reload #strategy is %q, want the saved expert:task", v)
		}
		if v := p.text(`#strategy option[value="expert:task"]`); v != "few-shot task: task" {
			p.fatalf("after the reload the strategy is offered as %q, want the few-shot task's label", v)
		}
		p.pollTrue(`document.querySelectorAll('#messages li').length === 2`, 10*time.Second)
		p.show("fewshot")
		if n := p.count("#fewshot-table tbody tr"); n != 4 {
			p.fatalf("after the reload the few-shot table has %d rows, want the 4 saved", n)
		}
		if v := p.value(`#fewshot-table textarea[aria-label="output of row 4"]`); v != "7" {
			p.fatalf("after the reload row 4's output is %q, want 7", v)
		}
		p.show("experts")
		p.pollTrue(`!!document.querySelector('.card[data-expert="task"]')`, 10*time.Second)
		p.show("chat")
		// The same question as online, without the saved conversation before it.
		run1(p, chromedp.Click("#clear-chat"))
		p.pollTrue(`document.querySelectorAll('#messages li').length === 0`, 10*time.Second)
		p.setField("#max-tokens", "8")
		run1(p, chromedp.SendKeys("#prompt", question+kb.Enter))
		if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
			p.fatalf("offline: page state %q, want done; #error: %s", st, p.text("#error"))
		}
		why := p.text("#messages li.assistant:last-child .why")
		after := p.ids()
		if why != onlineWhy {
			p.fatalf("offline: expert line %q, want the saved mixture's, as online: %q", why, onlineWhy)
		}
		if !slices.Equal(after, before) {
			p.fatalf("offline the saved expert answered %v, online %v", after, before)
		}
		t.Logf("offline after a reload: %s; ids %v; the server refused %d requests", why, after, len(s.refused()))
		p.checkConsole(func(m chromedp.ConsoleMessage) bool { return strings.Contains(m.Text, "ERR_INTERNET_DISCONNECTED") })

		setBrowserOffline(p, false)
		s.setOffline(false)
		for _, v := range []string{"chat", "fewshot", "experts", "model"} {
			p.show(v)
			p.screenshots("product-" + v)
			// At phone width the page does not scroll sideways (a wide table scrolls in its box).
			run1(p, chromedp.EmulateViewport(390, 844))
			wide := p.eval(`(() => { const w = document.documentElement.clientWidth; const out = [];
				if (document.documentElement.scrollWidth <= w) return '';
				for (const e of document.querySelectorAll('main *')) { const r = e.getBoundingClientRect(); if (r.width > 0 && r.right > w + 0.5) out.push((e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + e.className) + ' ' + Math.round(r.right)); }
				return out.slice(0, 8).join(', '); })()`)
			run1(p, chromedp.EmulateViewport(1280, 900))
			if wide != "" {
				p.fatalf("the %s view at 390 px: wider than the screen: %s", v, wide)
			}
		}
	})

	// quota: IndexedDB refuses writes as a full disk does (the transaction aborts with a
	// QuotaExceededError); the page says so and what takes the room, keeps the rows typed,
	// and saves them once there is room again.
	t.Run("quota", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		p.forget()
		run1(p, chromedp.Evaluate[bool](`(() => {
			const put = IDBObjectStore.prototype.put;
			window.t2Full = false;
			IDBObjectStore.prototype.put = function (...args) {
				const req = put.apply(this, args);
				if (window.t2Full) {
					const tx = this.transaction;
					Object.defineProperty(tx, 'error', {value: new DOMException('The quota has been exceeded.', 'QuotaExceededError')});
					tx.abort();
				}
				return req;
			};
			return true;
		})()`))
		p.show("fewshot")
		run1(p, chromedp.Click("#fewshot-add-row"))
		// Whole values at once: the message appearing above re-renders the table.
		p.setField(`#fewshot-table textarea[aria-label="input of row 1"]`, "kept question")
		p.setField(`#fewshot-table textarea[aria-label="output of row 1"]`, "kept answer")
		// The quota fills once the row is saved, so the one write refused is the edit's
		// below, not a save of the row still half typed.
		p.waitStored("fewshot", "kept answer")
		run1(p, chromedp.Evaluate[bool](`(() => { window.t2Full = true; return true; })()`))
		p.setField(`#fewshot-table textarea[aria-label="output of row 1"]`, "kept answer.")
		msg := p.poll(`document.querySelector('#store-message')?.textContent ?? ""`, 10*time.Second)
		if !strings.HasPrefix(msg, "Storage is full") || !strings.Contains(msg, "Model view: Remove") {
			p.fatalf("a full quota: #store-message %q, want it to say so and what to remove", msg)
		}
		if p.value(`#fewshot-table textarea[aria-label="output of row 1"]`) != "kept answer." {
			p.fatalf("a full quota: the typed row changed")
		}
		t.Logf("full quota: %s", msg)
		var refused int
		if m := regexp.MustCompile(`the few-shot rows \((\d+) B\) could not be saved`).FindStringSubmatch(msg); m != nil {
			refused, _ = strconv.Atoi(m[1])
		} else {
			p.fatalf("a full quota: #store-message %q does not name the refused few-shot rows", msg)
		}
		p.screenshots("product-quota")

		run1(p, chromedp.Evaluate[bool](`(() => { window.t2Full = false; return true; })()`))
		p.setField(`#fewshot-table textarea[aria-label="output of row 1"]`, "kept answer!")
		p.pollTrue(`!document.querySelector('#store-message')`, 10*time.Second)
		p.show("model") // the saved rows, as long as the refused ones
		p.pollTrue(fmt.Sprintf(`Number(document.querySelector('#saved li[data-kind="fewshot"]')?.dataset.size) === %d`, refused), 10*time.Second)
		run1(p, chromedp.Reload())
		p.waitReady()
		p.pollTrue(`document.querySelector('main.app').dataset.store !== 'opening'`, 20*time.Second)
		p.show("fewshot")
		p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 1`, 10*time.Second)
		if v := p.value(`#fewshot-table textarea[aria-label="output of row 1"]`); v != "kept answer!" {
			p.fatalf("after room was made and a reload, row 1's output is %q, want the typed \"kept answer!\"", v)
		}
		p.checkConsole(nil)
	})

	t.Run("esc", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		p.forget()
		const maxTokens = 400
		p.setField("#max-tokens", fmt.Sprint(maxTokens))
		// Enter sends (the page is generating once its handler returns), Esc right after stops.
		run1(p, chromedp.SendKeys("#prompt", "stop"+kb.Enter))
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := chromedp.Call(p.ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Escape", Code: "Escape", WindowsVirtualKeyCode: 27, NativeVirtualKeyCode: 27}); err != nil {
				p.fatalf("Esc: %v", err)
			}
		}
		if st := p.waitState(time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q after Esc, want done; #error: %s", st, p.text("#error"))
		}
		ids := p.ids()
		status := p.text("#status")
		if !strings.Contains(status, "stopped") && len(ids) < maxTokens {
			// Greedy (the page's default) on a fixed model: the same on every run.
			p.fatalf("the model ended by itself after %d tokens, before Esc could be seen: pick a prompt that runs longer", len(ids))
		}
		if !strings.Contains(status, "stopped") || len(ids) >= maxTokens {
			p.fatalf("Esc: %d tokens, status %q; want stopped before %d", len(ids), status, maxTokens)
		}
		t.Logf("Esc stopped after %d tokens: %s", len(ids), status)
	})

	t.Run("local-folder", func(t *testing.T) {
		p := openPage(t, bctx, url)
		p.waitReady()
		p.forget()
		want := p.answer("Hello there", 10)

		p.show("model")
		nodes := run1(p, chromedp.Nodes("#pack-folder"))
		if len(nodes) != 1 {
			p.fatalf("%d #pack-folder fields", len(nodes))
		}
		if _, err := chromedp.Call(p.ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{packDir}, BackendNodeID: nodes[0].BackendNodeID}); err != nil {
			p.fatalf("DOM.setFileInputFiles %s: %v", packDir, err)
		}
		summary := p.localPack("choosing the folder")
		p.show("chat")
		if got := p.answer("Hello there", 10); !slices.Equal(got, want) {
			p.fatalf("the local folder answered %v, the URL-loaded pack %v", got, want)
		}
		t.Logf("%s; answered %v as the URL-loaded pack", summary, want)
		p.show("model")
		p.screenshots("product-model-local")
		p.checkConsole(nil)

		// The same folder dropped on the page, as from a file manager (CDP
		// Input.dispatchDragEvent with the folder's path).
		q := openPage(t, bctx, url)
		q.waitReady()
		data := &input.DragData{Files: []string{packDir}, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := chromedp.Call(q.ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: 200, Y: 200, Data: data}); err != nil {
				q.fatalf("Input.dispatchDragEvent %s: %v", typ, err)
			}
		}
		q.localPack("dropping the folder")
		if got := q.answer("Hello there", 10); !slices.Equal(got, want) {
			q.fatalf("the dropped folder answered %v, the URL-loaded pack %v", got, want)
		}
		q.checkConsole(nil)
	})
}

// localPack waits for the page to load the pack folder t2/ the user gave it (how: for
// errors) and returns the summary line, which must name the folder and its 3 experts.
func (p *page) localPack(how string) string {
	p.t.Helper()
	p.pollTrue(`document.querySelector('main.app').dataset.state === 'loading' || (document.querySelector('#summary')?.textContent ?? '').includes('local folder')`, 20*time.Second)
	p.waitReady()
	summary := p.text("#summary")
	if !strings.Contains(summary, "local folder t2/") || !strings.Contains(summary, "3 experts") {
		p.fatalf("after %s #summary is %q, want the local folder t2/ with its 3 experts", how, summary)
	}
	return summary
}

// answer clears the chat, asks prompt with at most maxTokens tokens and returns the
// answer's token ids.
func (p *page) answer(prompt string, maxTokens int) []int {
	p.t.Helper()
	p.forget()
	p.setField("#max-tokens", fmt.Sprint(maxTokens))
	p.setField("#prompt", prompt)
	run1(p, chromedp.Click("#generate"))
	if st := p.waitState(time.Minute, "done", "error"); st != "done" {
		p.fatalf("page state %q, want done; #error: %s", st, p.text("#error"))
	}
	return p.ids()
}

// forget waits for the page to restore what earlier subtests saved, then clears the
// conversation and the few-shot rows and picks no expert: a fresh start.
func (p *page) forget() {
	p.t.Helper()
	p.pollTrue(`document.querySelector('main.app').dataset.store !== 'opening'`, 20*time.Second)
	p.setSelect("#strategy", "none")
	clear := func(tab, button, rows string) {
		p.show(tab)
		p.pollTrue(fmt.Sprintf(`!!document.querySelector(%q)`, button), 10*time.Second)
		run1(p, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const b = document.querySelector(%q); if (!b.disabled) b.click(); return true; })()`, button)))
		p.pollTrue(fmt.Sprintf(`document.querySelectorAll(%q).length === 0`, rows), 10*time.Second)
	}
	clear("fewshot", "#fewshot-clear", "#fewshot-table tbody tr")
	clear("chat", "#clear-chat", "#messages li")
}

// show clicks view's tab and waits for the page to show it.
func (p *page) show(view string) {
	p.t.Helper()
	run1(p, chromedp.Click("#tab-"+view))
	p.pollTrue(fmt.Sprintf(`document.querySelector('main.app').dataset.view === %q`, view), 10*time.Second)
}

// ids is the last generation's token ids (#ids).
func (p *page) ids() []int {
	p.t.Helper()
	var ids []int
	if err := json.Unmarshal([]byte(p.text("#ids")), &ids); err != nil {
		p.fatalf("#ids %q: %v", p.text("#ids"), err)
	}
	return ids
}

// BenchmarkPageLoad measures the site's default pack in Chromium: the cold load (a new
// browser profile: nothing cached) and the warm load (a reload once the service worker
// has cached the shell and the pack), each from navigation to the first generated token
// (a one-token greedy generation done). It reports the wasm binaries' sizes raw and
// gzipped too.
func BenchmarkPageLoad(b *testing.B) {
	browser := findChromium(b)
	site, srv := serveSite(b)
	for _, name := range []string{"ui.wasm", "engine.wasm"} {
		data, err := os.ReadFile(filepath.Join(site, name))
		if err != nil {
			b.Fatal(err)
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(data)
		w.Close()
		b.Logf("%s: %d bytes raw (%.2f MiB), %d bytes gzip -9 (%.2f MiB)", name, len(data), float64(len(data))/(1<<20), gz.Len(), float64(gz.Len())/(1<<20))
		b.ReportMetric(float64(len(data))/(1<<20), strings.TrimSuffix(name, ".wasm")+"-MiB")
		b.ReportMetric(float64(gz.Len())/(1<<20), strings.TrimSuffix(name, ".wasm")+"-gzip-MiB")
	}
	var packBytes int64
	filepath.Walk(filepath.Join(site, "models", "default"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			packBytes += fi.Size()
		}
		return nil
	})
	b.Logf("default pack: %d bytes", packBytes)
	firstToken := func(p *page, start time.Time) time.Duration {
		p.waitReady()
		p.setField("#max-tokens", "1")
		p.setField("#prompt", "Hi")
		run1(p, chromedp.Click("#generate"))
		if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
			p.fatalf("page state %q; #error: %s", st, p.text("#error"))
		}
		return time.Since(start)
	}
	var cold, warm time.Duration
	for range b.N {
		bctx, _ := startBrowser(b, browser)
		start := time.Now()
		p := openPage(b, bctx, srv.URL+"/")
		cold += firstToken(p, start)
		waitPack(p, srv.URL+"/models/default/", func(pk cachedPack) bool { return pk.Complete }, time.Minute)
		start = time.Now()
		if _, err := chromedp.Run(p.ctx, chromedp.Reload()); err != nil {
			b.Fatal(err)
		}
		warm += firstToken(p, start)
		b.Logf("engine: %s", p.text("#engine"))
	}
	b.ReportMetric(cold.Seconds()/float64(b.N), "cold-s")
	b.ReportMetric(warm.Seconds()/float64(b.N), "warm-s")
}
