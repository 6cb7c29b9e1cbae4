package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/t2web/t2web/internal/need"
)

// TestE2E builds the site with buildSite, serves it with cmdServe's handler, and drives
// the page in headless Chromium: its greedy tokens must be exactly t2 generate --greedy's,
// a missing model must show a visible error naming the 404, and "stop" must end a
// generation early.
func TestE2E(t *testing.T) {
	browser := findChromium(t)

	site := buildTestSite(t)
	srv := httptest.NewServer(siteHandler(site, log.New(testWriter{t}, "serve: ", 0)))
	defer srv.Close()

	bctx, browserOut := startBrowser(t, browser)

	// The default model is a pack; a checkpoint folder beside it is loaded with ?model=.
	packDir := filepath.Join(site, "models", "default")
	hfDir := filepath.Join(site, "models", "hf")
	if err := writeRandomModel(defaultModelConfig, 2, hfDir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query, prompt string
		chat                bool
		source              []string // where t2 generate finds the same model
	}{
		{"chat", "", "Hello, t2web! What is 2+2?", true, []string{"--pack", packDir}},
		{"plain", "", "The quick brown fox", false, []string{"--pack", packDir}},
		{"checkpoint", "?model=models/hf/", "The quick brown fox", false, []string{"--model", hfDir}},
	} {
		t.Run("generate/"+tc.name, func(t *testing.T) {
			p := openPage(t, bctx, srv.URL+"/"+tc.query)
			p.waitReady()
			if got := p.value("#temperature"); got != "0" {
				p.fatalf("temperature field is %q, want 0 (greedy by default)", got)
			}
			if chat := run1(p, chromedp.Evaluate[bool](`document.querySelector('#chat').checked`)); chat != tc.chat {
				run1(p, chromedp.Click("#chat"))
			}
			if tc.chat && tc.query == "" {
				// The demo pack's default is Transformer²; t2 generate answers with the base weights.
				p.waitOption("#strategy", "none")
				p.setSelect("#strategy", "none")
			}
			p.setField("#max-tokens", "16")
			run1(p, chromedp.SendKeys("#prompt", tc.prompt))
			if got := p.value("#prompt"); got != tc.prompt {
				p.fatalf("prompt field is %q after typing %q", got, tc.prompt)
			}
			run1(p, chromedp.Click("#generate"))
			if s := p.waitState(2*time.Minute, "done", "error"); s != "done" {
				p.fatalf("page state %q, want done; #error: %s", s, p.text("#error"))
			}
			var got []int
			if err := json.Unmarshal([]byte(p.text("#ids")), &got); err != nil {
				p.fatalf("#ids: %v", err)
			}
			want := nativeGenerate(t, tc.source, tc.prompt, tc.chat, 16)
			if !slices.Equal(got, want) {
				p.fatalf("page generated %v\nt2 generate --greedy %v gives %v", got, tc.source, want)
			}
			status := p.text("#status")
			if !strings.Contains(status, "tokens/s") {
				p.fatalf("#status %q does not report tokens/s", status)
			}
			t.Logf("%d tokens %v; status: %s; summary: %s", len(got), got, status, p.text("#summary"))
			p.checkConsole(nil)
			p.screenshot("page-" + tc.name)
		})
	}

	t.Run("missing-model", func(t *testing.T) {
		p := openPage(t, bctx, srv.URL+"/?model=missing/")
		if s := p.waitState(time.Minute, "error", "ready"); s != "error" {
			p.fatalf("page state %q, want error", s)
		}
		run1(p, chromedp.WaitVisible("#error"))
		msg := p.text("#error")
		if want := "missing/config.json: HTTP 404 Not Found"; !strings.Contains(msg, want) {
			p.fatalf("#error says %q, want it to contain %q", msg, want)
		}
		t.Logf("#error: %s", msg)
		p.checkConsole(func(m chromedp.ConsoleMessage) bool { return strings.Contains(m.Text, "404") })
	})

	// stop drives the engine worker directly: stop after the first token of a long
	// generation must end it early, with Done.stopped set. The demo model's greedy answer
	// to this prompt runs past 400 tokens (t2 generate --greedy), so the stop wins however
	// slowly it comes back through the page; "stop" ended after 14 tokens, which a busy
	// page's main thread could take longer than.
	t.Run("stop", func(t *testing.T) {
		p := openPage(t, bctx, srv.URL+"/")
		p.waitReady()
		const maxTokens = 400
		type result struct {
			Tokens  int     `json:"tokens"`
			IDs     []int   `json:"ids"`
			Stopped bool    `json:"stopped"`
			TPS     float64 `json:"tokensPerSecond"`
		}
		r := run1(p, chromedp.Evaluate[result](fmt.Sprintf(`new Promise((resolve, reject) => {
			const w = new Worker('worker.js');
			let tokens = 0;
			const end = (f) => { clearTimeout(timer); w.terminate(); f(); };
			const timer = setTimeout(() => end(() => reject(new Error('no done after 60 s'))), 60000);
			w.onerror = (e) => end(() => reject(new Error('worker: ' + e.message)));
			w.onmessage = (e) => {
				const m = e.data;
				switch (m.type) {
				case 'loaded':
					w.postMessage({type: 'generate', prompt: 'Count: 1, 2, 3,', chat: false, maxTokens: %d, temperature: 0, seed: 0});
					break;
				case 'token':
					if (++tokens === 1) w.postMessage({type: 'stop'});
					break;
				case 'done':
					end(() => resolve({tokens, ids: m.ids, stopped: m.stopped, tokensPerSecond: m.tokensPerSecond}));
					break;
				case 'error':
					end(() => reject(new Error(m.message)));
					break;
				}
			};
			w.postMessage({type: 'load', url: 'models/default/'});
		})`, maxTokens), chromedp.EvalAwaitPromise))
		t.Logf("stopped after %d of at most %d tokens", len(r.IDs), maxTokens)
		if !r.Stopped && len(r.IDs) < maxTokens {
			// Greedy decoding of a fixed model: this is the same on every run.
			p.fatalf("the model ended by itself after %d tokens, before the stop could be seen: pick a prompt that runs longer", len(r.IDs))
		}
		if !r.Stopped || len(r.IDs) >= maxTokens || len(r.IDs) != r.Tokens {
			p.fatalf("stop: stopped=%v after %d ids (%d token messages), want stopped before %d", r.Stopped, len(r.IDs), r.Tokens, maxTokens)
		}
		p.checkConsole(nil)
	})
	if t.Failed() {
		t.Logf("browser output:\n%s", browserOut.String())
	}
}

// startBrowser starts headless Chromium with WebGPU enabled, for the rest of the test,
// with more allocator options after the defaults (a later option of the same flag wins:
// chromedp.Flag("enable-unsafe-webgpu", false) runs it without). The browser's own
// output collects in the returned buffer.
func startBrowser(t testing.TB, browser string, opts ...chromedp.ExecAllocatorOption) (context.Context, *syncBuffer) {
	var out syncBuffer
	all := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.CombinedOutput(&out),
	}, opts...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), all...)
	t.Cleanup(cancel)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", browser, err, out.String())
	}
	return bctx, &out
}

// buildTestSite builds the site (buildSite) into a temporary folder and returns it.
func buildTestSite(t testing.TB) string {
	t.Helper()
	site := t.TempDir()
	var buildLog bytes.Buffer
	start := time.Now()
	if err := buildSite(site, "", &buildLog); err != nil {
		t.Fatalf("buildSite: %v\n%s", err, buildLog.String())
	}
	t.Logf("built the site in %v", time.Since(start).Round(time.Millisecond))
	return site
}

// findChromium returns the path of a Chromium or Chrome binary, or skips the test: when
// there is none, and with -short (every browser test builds the site and runs Chromium).
func findChromium(t testing.TB) string {
	if testing.Short() {
		t.Skip("builds the site and runs Chromium; skipped with -short")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	need.Skip(t, "no Chromium found (looked for chromium, chromium-browser, google-chrome): apt-get install chromium, or run make test, which installs it")
	return ""
}

// nativeGenerate runs t2 generate --greedy --print-ids on the CPU engine in process and
// returns its ids.
func nativeGenerate(t *testing.T, source []string, prompt string, chat bool, maxTokens int) []int {
	t.Helper()
	return nativeGenerateOn(t, "cpu", source, prompt, chat, maxTokens)
}

// nativeGenerateOn is nativeGenerate on engine ("cpu" or "gpu": Vulkan, lavapipe here).
func nativeGenerateOn(t *testing.T, engine string, source []string, prompt string, chat bool, maxTokens int) []int {
	t.Helper()
	args := append([]string{"generate", "--engine", engine, "--prompt", prompt, "--greedy",
		"--max-tokens", fmt.Sprint(maxTokens), "--print-ids"}, source...)
	if chat {
		args = append(args, "--chat")
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("t2 %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var ids []int
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &ids); err != nil {
		t.Fatalf("t2 %s: last line %q: %v", strings.Join(args, " "), lines[len(lines)-1], err)
	}
	return ids
}

// page is one tab of the browser, with the console messages it has written so far.
type page struct {
	t   testing.TB
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// openPage opens url in a new tab that closes when the test ends.
func openPage(t testing.TB, browser context.Context, url string) *page {
	p := newPage(t, browser)
	p.navigate(url)
	return p
}

// newPage opens a blank tab that closes when the test ends.
func newPage(t testing.TB, browser context.Context) *page {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	if err := chromedp.Do(ctx); err != nil {
		p.fatalf("opening a tab: %v", err)
	}
	return p
}

// navigate loads url in the page's tab.
func (p *page) navigate(url string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Navigate(url)); err != nil {
		p.fatalf("navigate to %s: %v", url, err)
	}
}

// run1 runs one action on the page, failing the test (with the console) on error.
func run1[T any](p *page, a chromedp.Action[T]) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, a)
	if err != nil {
		p.fatalf("%v", err)
	}
	return v
}

// waitState waits until the page's data-state is one of states, and returns it.
func (p *page) waitState(timeout time.Duration, states ...string) string {
	p.t.Helper()
	list, _ := json.Marshal(states)
	expr := fmt.Sprintf(`(() => { const s = document.querySelector('main.app')?.dataset.state; return %s.includes(s) ? s : false; })()`, list)
	deadline := time.Now().Add(timeout)
	s, err := chromedp.Run(p.ctx, chromedp.Poll[string](expr,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	// A first visit reloads the page once, to be cross-origin isolated (t2cache.js),
	// which ends a poll of the page that was: poll the new one.
	for retries := 0; err != nil && !errors.Is(err, chromedp.ErrPollingTimeout) && retries < 5 && time.Now().Before(deadline); retries++ {
		time.Sleep(100 * time.Millisecond)
		s, err = chromedp.Run(p.ctx, chromedp.Poll[string](expr,
			chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(50*time.Millisecond)))
	}
	if err != nil {
		p.fatalf("waiting for data-state in %v: %v (now %q; #status %q; #error %q)",
			states, err, p.attr("main.app", "data-state"), p.text("#status"), p.text("#error"))
	}
	return s
}

// waitStored waits until a value of the page's IndexedDB store kind holds text: the
// page saves a moment after typing, and a case that navigates away earlier would test
// the save, not the bad input.
func (p *page) waitStored(kind, text string) {
	p.t.Helper()
	js := fmt.Sprintf(`new Promise((resolve) => {
		const r = indexedDB.open('t2web');
		r.onerror = () => resolve(false);
		r.onsuccess = () => {
			const db = r.result;
			const g = db.transaction(%[1]q).objectStore(%[1]q).getAll();
			g.onerror = () => { db.close(); resolve(false); };
			g.onsuccess = () => { db.close(); resolve(g.result.some((e) => new TextDecoder().decode(e.value).includes(%[2]q))); };
		};
	})`, kind, text)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if run1(p, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)) {
			return
		}
		if time.Now().After(deadline) {
			p.fatalf("after 20 s no %s value in IndexedDB holds %q", kind, text)
		}
	}
}

// waitReady waits for the default model to load.
func (p *page) waitReady() {
	p.t.Helper()
	if s := p.waitState(time.Minute, "ready", "error"); s != "ready" {
		p.fatalf("page state %q, want ready; #error: %s", s, p.text("#error"))
	}
}

// text is the text of the element sel, "" when there is none.
func (p *page) text(sel string) string {
	return p.eval(fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel))
}

// value is the value of the form field sel.
func (p *page) value(sel string) string {
	return p.eval(fmt.Sprintf(`document.querySelector(%q)?.value ?? ""`, sel))
}

func (p *page) attr(sel, name string) string {
	return p.eval(fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, sel, name))
}

func (p *page) eval(expr string) string {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return s
}

// setField sets the form field sel to value as typing would: the page sees an input event.
func (p *page) setField(sel, value string) {
	p.t.Helper()
	run1(p, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		e.value = %q;
		return e.dispatchEvent(new Event('input', {bubbles: true}));
	})()`, sel, value)))
}

// checkConsole fails the test if the page wrote an error or an exception to its console,
// other than those allowed accepts.
func (p *page) checkConsole(allowed func(chromedp.ConsoleMessage) bool) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		bad := m.Type == chromedp.ConsoleError || m.IsException() ||
			(strings.HasPrefix(m.Text, "engine: ") && strings.Contains(m.Text, "panic"))
		if bad && (allowed == nil || !allowed(m)) {
			p.t.Fatalf("the page's console has an error: %s\nconsole:\n%s", m, p.consoleTextLocked())
		}
	}
}

// fatalf fails the test with the page's console appended.
func (p *page) fatalf(format string, args ...any) {
	p.t.Helper()
	p.mu.Lock()
	console := p.consoleTextLocked()
	p.mu.Unlock()
	p.t.Fatalf(format+"\nconsole:\n%s", append(args, console)...)
}

func (p *page) consoleTextLocked() string {
	var b strings.Builder
	for _, m := range p.console {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	if b.Len() == 0 {
		return "  (empty)\n"
	}
	return b.String()
}

// testWriter writes to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// syncBuffer is a bytes.Buffer that is safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
