package main

import (
	"encoding/json"
	"log"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/t2web/t2web/wasm/protocol"
)

// TestE2EWebGPU drives the page in headless Chromium with WebGPU on SwiftShader: with
// ?engine=gpu the engine worker must run the GPU engine (package shaders' WGSL on the
// browser's WebGPU), say so with the adapter it used and that W' is held in float32
// (a small model on a CPU adapter), and generate exactly the greedy
// tokens of the native GPU engine (t2 generate --greedy --engine gpu: the same WGSL on
// Vulkan, held to the CPU engine by package shaders' tests) on the same pack — not the
// CPU engine's, since the GPU engine's float32 arithmetic (its W' in float32 on this
// CPU adapter, shaders.PreferMergedF32; Q8 on a GPU) is not the CPU engine's int8 path
// (activations in Q8_0 too), and this small model's greedy answers part where its logits
// are near ties;
// without ?engine the page must take the CPU engine on this software fallback adapter
// and say why.
func TestE2EWebGPU(t *testing.T) {
	browser := findChromium(t)
	site, srv := serveSite(t)
	bctx, browserOut := startBrowser(t, browser)
	packDir := filepath.Join(site, "models", "default")

	for _, tc := range []struct {
		name, prompt string
		chat         bool
	}{
		{"chat", "Hello, t2web! What is 2+2?", true},
		{"plain", "The quick brown fox", false},
	} {
		t.Run("gpu/"+tc.name, func(t *testing.T) {
			p := openPage(t, bctx, srv.URL+"/?engine=gpu")
			if s := p.waitState(3*time.Minute, "ready", "error"); s != "ready" {
				p.fatalf("page state %q, want ready; #error: %s", s, p.text("#error"))
			}
			a := p.engine(protocol.EngineGPU)
			t.Logf("#engine: %s; adapter %+v", p.text("#engine"), a)
			if !strings.Contains(p.text("#engine"), "WebGPU") {
				p.fatalf("#engine %q does not say WebGPU", p.text("#engine"))
			}
			// SwiftShader is a CPU adapter and the demo small: W' in float32, said so.
			if !strings.Contains(p.text("#engine"), "W′ in float32") {
				p.fatalf("#engine %q does not say W′ is held in float32", p.text("#engine"))
			}
			got := p.generate(tc.prompt, tc.chat, 16)
			want := nativeGenerateOn(t, "gpu", []string{"--pack", packDir}, tc.prompt, tc.chat, 16)
			if !slices.Equal(got, want) {
				p.fatalf("page on WebGPU generated %v\nt2 generate --greedy --engine gpu gives %v", got, want)
			}
			t.Logf("the CPU engine (float32 W') gives %v", nativeGenerate(t, []string{"--pack", packDir, "--dequantize"}, tc.prompt, tc.chat, 16))
			t.Logf("%d tokens %v; status: %s", len(got), got, p.text("#status"))
			p.checkConsole(nil)
			p.screenshot("page-webgpu-" + tc.name)
		})
	}

	t.Run("auto-fallback", func(t *testing.T) {
		p := openPage(t, bctx, srv.URL+"/")
		p.waitReady()
		// On a real GPU the page rightly runs the GPU engine: look at the adapter first.
		if a := p.adapter(); !a.Fallback {
			t.Skipf("the WebGPU adapter %+v is not a fallback one: the page rightly uses it", a)
		}
		p.engine(protocol.EngineCPU)
		msg := p.text("#engine")
		t.Logf("#engine: %s", msg)
		if want := "WebGPU adapter is a software fallback"; !strings.Contains(msg, want) {
			p.fatalf("#engine %q does not say %q", msg, want)
		}
		p.checkConsole(nil)
	})

	// The GPU engine runs packs: forced on a checkpoint folder, it says so.
	t.Run("gpu/checkpoint", func(t *testing.T) {
		if err := writeRandomModel(defaultModelConfig, 2, filepath.Join(site, "models", "hf")); err != nil {
			t.Fatal(err)
		}
		p := openPage(t, bctx, srv.URL+"/?engine=gpu&model=models/hf/")
		if s := p.waitState(time.Minute, "error", "ready"); s != "error" {
			p.fatalf("page state %q, want error", s)
		}
		msg := p.text("#error")
		t.Logf("#error: %s", msg)
		if want := "runs packs"; !strings.Contains(msg, want) {
			p.fatalf("#error %q does not say %q", msg, want)
		}
	})
	if t.Failed() {
		t.Logf("browser output:\n%s", browserOut.String())
	}
}

// TestE2EGPULost crashes the browser's GPU process (CDP Browser.crashGpuProcess: every
// WebGPU device is lost, as when a driver resets) under the page's GPU engine, once while
// it is idle and once in the middle of an answer. Either way the model must move to the
// CPU engine and say why; an answer cut off must fail with a message that says to ask
// again, with the question back in the box; and the next answer must be the CPU engine's.
// Each case has a browser of its own: a crashed GPU process may not give WebGPU back.
func TestE2EGPULost(t *testing.T) {
	chromium := findChromium(t)
	site, srv := serveSite(t)
	packDir := filepath.Join(site, "models", "default")
	const prompt = "The quick brown fox"
	want := nativeGenerate(t, []string{"--pack", packDir}, prompt, false, 8)

	for _, tc := range []struct {
		name      string
		answering bool // crash during an answer, else while idle
	}{
		{"idle", false},
		{"answering", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bctx, browserOut := startBrowser(t, chromium)
			defer func() {
				if t.Failed() {
					t.Logf("browser output:\n%s", browserOut.String())
				}
			}()
			p := openPage(t, bctx, srv.URL+"/?engine=gpu")
			if s := p.waitState(3*time.Minute, "ready", "error"); s != "ready" {
				p.fatalf("page state %q, want ready; #error: %s", s, p.text("#error"))
			}
			p.engine(protocol.EngineGPU)
			if tc.answering {
				// The prompt's prefill takes seconds on SwiftShader: the crash comes
				// before the first token, whatever the model would answer.
				p.waitOption("#strategy", "none")
				p.setSelect("#strategy", "none")
				if on := run1(p, chromedp.Evaluate[bool](`document.querySelector('#chat').checked`)); on {
					run1(p, chromedp.Click("#chat"))
				}
				p.setField("#max-tokens", "200")
				p.setField("#prompt", prompt)
				run1(p, chromedp.Click("#generate"))
				p.waitState(time.Minute, "generating")
			}
			if _, err := chromedp.CallBrowser(p.ctx, browser.CrashGPUProcess, cdp.Empty{}); err != nil {
				t.Fatalf("Browser.crashGpuProcess: %v", err)
			}
			if tc.answering {
				if s := p.waitState(3*time.Minute, "error", "done"); s != "error" {
					p.fatalf("page state %q after the GPU process crashed mid-answer, want error", s)
				}
				msg := p.text("#error")
				t.Logf("#error: %s", msg)
				for _, part := range []string{"the WebGPU device was lost", "CPU engine: ask again", "back in the box"} {
					if !strings.Contains(msg, part) {
						p.fatalf("#error %q does not say %q", msg, part)
					}
				}
				if got := p.value("#prompt"); got != prompt {
					p.fatalf("the question is not back in the box: #prompt is %q", got)
				}
				p.screenshot("page-gpu-lost-message")
			}
			// The move to the CPU engine shows in the engine line, with the reason.
			if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](`document.querySelector('#engine')?.dataset.engine === 'cpu'`,
				chromedp.WithPollingTimeout(3*time.Minute))); err != nil {
				p.fatalf("the page did not move to the CPU engine: #engine %q (%v)", p.text("#engine"), err)
			}
			p.engine(protocol.EngineCPU)
			engine := p.text("#engine")
			t.Logf("#engine: %s", engine)
			if !strings.Contains(engine, "the WebGPU device was lost") {
				p.fatalf("#engine %q does not say the WebGPU device was lost", engine)
			}
			if tc.answering && run1(p, chromedp.Evaluate[bool](`document.querySelector('#chat').checked`)) {
				p.fatalf("the move to the CPU engine turned the chat template back on")
			}
			if got := p.generate(prompt, false, 8); !slices.Equal(got, want) {
				p.fatalf("after the move the page generated %v, the CPU engine (t2 generate) %v", got, want)
			}
			p.screenshot("page-gpu-lost-" + tc.name)
		})
	}
}

// TestE2ENoWebGPU runs the page in a Chromium without WebGPU (no
// --enable-unsafe-webgpu, and WebGPU switched off): the CPU engine must answer, and the
// page must say that there is no WebGPU adapter.
func TestE2ENoWebGPU(t *testing.T) {
	browser := findChromium(t)
	site, srv := serveSite(t)
	bctx, browserOut := startBrowser(t, browser, chromedp.Flag("enable-unsafe-webgpu", false), chromedp.Flag("disable-features", "WebGPU"))
	packDir := filepath.Join(site, "models", "default")

	for _, query := range []string{"", "?engine=gpu"} {
		p := openPage(t, bctx, srv.URL+"/"+query)
		if query == "" {
			p.waitReady()
			p.engine(protocol.EngineCPU)
			msg := p.text("#engine")
			t.Logf("#engine: %s", msg)
			if want := "no WebGPU adapter: "; !strings.Contains(msg, want) {
				p.fatalf("#engine %q does not say %q", msg, want)
			}
			const prompt = "The quick brown fox"
			got := p.generate(prompt, false, 8)
			if want := nativeGenerate(t, []string{"--pack", packDir}, prompt, false, 8); !slices.Equal(got, want) {
				p.fatalf("page generated %v, t2 generate %v", got, want)
			}
			p.checkConsole(nil)
			continue
		}
		// Forcing a GPU that does not exist is an error that says so.
		if s := p.waitState(time.Minute, "error", "ready"); s != "error" {
			p.fatalf("with %s: page state %q, want error", query, s)
		}
		msg := p.text("#error")
		t.Logf("with %s: #error: %s", query, msg)
		if !strings.Contains(msg, "engine=gpu") || !strings.Contains(msg, "no GPU adapter") {
			p.fatalf("with %s: #error %q does not say that there is no adapter", query, msg)
		}
	}
	if t.Failed() {
		t.Logf("browser output:\n%s", browserOut.String())
	}
}

// serveSite builds the site into a temporary folder and serves it until the test ends.
func serveSite(t testing.TB) (string, *httptest.Server) {
	t.Helper()
	site := buildTestSite(t)
	srv := httptest.NewServer(siteHandler(site, log.New(testWriter{t}, "serve: ", 0)))
	t.Cleanup(srv.Close)
	return site, srv
}

// engine checks that the page's #engine line reports engine kind and returns the
// adapter it reports; with the GPU engine there must be one.
func (p *page) engine(kind string) protocol.Adapter {
	p.t.Helper()
	if got := p.attr("#engine", "data-engine"); got != kind {
		p.fatalf("#engine data-engine %q, want %q; #engine: %s", got, kind, p.text("#engine"))
	}
	js := p.attr("#engine", "data-adapter")
	if js == "" && kind == protocol.EngineGPU {
		p.fatalf("the page runs the GPU engine but reports no adapter; #engine: %s", p.text("#engine"))
	}
	a := p.adapter()
	if kind == protocol.EngineGPU && a.Vendor == "" && a.Architecture == "" && a.Description == "" {
		p.fatalf("the page runs the GPU engine on an adapter it cannot name: %s", js)
	}
	return a
}

// adapter returns the WebGPU adapter the page reports (#engine data-adapter), the zero
// Adapter when it reports none, whichever engine it runs.
func (p *page) adapter() protocol.Adapter {
	p.t.Helper()
	var a protocol.Adapter
	js := p.attr("#engine", "data-adapter")
	if js == "" {
		return a
	}
	if err := json.Unmarshal([]byte(js), &a); err != nil {
		p.fatalf("#engine data-adapter %q: %v", js, err)
	}
	return a
}

// generate types prompt, asks for maxTokens greedy tokens and returns their ids.
func (p *page) generate(prompt string, chat bool, maxTokens int) []int {
	p.t.Helper()
	if got := p.value("#temperature"); got != "0" {
		p.fatalf("temperature field is %q, want 0 (greedy by default)", got)
	}
	if on := run1(p, chromedp.Evaluate[bool](`document.querySelector('#chat').checked`)); on != chat {
		run1(p, chromedp.Click("#chat"))
	}
	// The page answers with T² by default; this holds its base weights to t2 generate's.
	p.waitOption("#strategy", "none")
	p.setSelect("#strategy", "none")
	p.setField("#max-tokens", strconv.Itoa(maxTokens))
	p.setField("#prompt", prompt)
	run1(p, chromedp.Click("#generate"))
	if s := p.waitState(5*time.Minute, "done", "error"); s != "done" {
		p.fatalf("page state %q, want done; #error: %s", s, p.text("#error"))
	}
	var ids []int
	if err := json.Unmarshal([]byte(p.text("#ids")), &ids); err != nil {
		p.fatalf("#ids: %v", err)
	}
	return ids
}
