package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
)

// BenchmarkPageSmolLM2 loads a random-weight SmolLM2-135M-shaped model into the page in
// headless Chromium (WebGPU on SwiftShader) and reports the engine worker's prefill and
// decode tokens/s, as the page's status line gives them (the median of -benchtime Nx
// answers, each to the same 64-token prompt in a fresh conversation):
//
//	checkpoint  the checkpoint folder (bf16) on the CPU engine compiled to wasm, on one
//	            worker (?workers=1: the page is not cross-origin isolated)
//	pack-cpu    its int8 MLP pack on the CPU engine (?engine=cpu), the best kernels, on
//	            one worker
//	pack-cpu-isolated  the same, the page cross-origin isolated by sw.js, as a visitor
//	            gets it: two workers
//	pack-cpu-relaxed  pack-cpu with the relaxed-SIMD module, the u8 module's reference
//	pack-gpu    the same pack on the WebGPU engine (?engine=gpu; W' recomposed to Q8)
//	switch-cpu  pack-cpu switching to an expert (every adapted matrix recomposed) and
//	            back to the base weights (kept): the median of N each
//
// Compare with model's BenchmarkDecode and BenchmarkPrefill for the native figures.
// Converting the pack takes minutes; run with -benchtime 1x.
// A pack's tokens are timed once sw.js has stored its shards (a first visit's load ends
// before that).
func BenchmarkPageSmolLM2(b *testing.B) {
	browser := findChromium(b)
	site, srv := serveSite(b)
	hf := filepath.Join(site, "models", "smollm2")
	if err := writeRandomModel([]byte(fixtures.SmolLM2Config), 1, hf); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := convert.Convert(os.DirFS(hf), filepath.Join(site, "models", "smollm2-pack"), convert.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("converted to an int8 pack in %v", time.Since(start).Round(time.Millisecond))
	bctx, _ := startBrowser(b, browser)
	for _, bc := range []struct{ name, query string }{
		{"checkpoint", "?workers=1&model=models/smollm2/"},
		{"pack-cpu", "?workers=1&engine=cpu&pack=models/smollm2-pack/"},
		{"pack-cpu-isolated", "?engine=cpu&pack=models/smollm2-pack/"},
		{"pack-cpu-relaxed", "?workers=1&engine=cpu&kernels=simd128-relaxed&pack=models/smollm2-pack/"},
		{"pack-gpu", "?engine=gpu&pack=models/smollm2-pack/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := openPage(b, bctx, srv.URL+"/"+bc.query)
			start := time.Now()
			if s := p.waitState(10*time.Minute, "ready", "error"); s != "ready" {
				p.fatalf("page state %q; #error: %s", s, p.text("#error"))
			}
			b.Logf("loaded in %v; %s", time.Since(start).Round(time.Millisecond), p.text("#engine"))
			if strings.Contains(bc.query, "pack=") {
				// The shards are stored for offline use once the load is done (sw.js, on the
				// same two cores): time the tokens after that, as a person gets them after the
				// first seconds of a first visit, and every visit after it.
				ready := time.Now()
				waitPack(p, srv.URL+"/models/smollm2-pack/", func(pk cachedPack) bool { return pk.Complete }, 2*time.Minute)
				b.Logf("stored for offline use %v after that", time.Since(ready).Round(time.Millisecond))
			}
			// 64 bytes of prompt are 64 tokens of the byte-level tokenizer.
			prompt := strings.Repeat("abcdefgh", 8)
			p.setField("#max-tokens", "32")
			statusRe := regexp.MustCompile(`([0-9.]+) tokens/s · prompt (\d+) tokens at ([0-9.]+) tokens/s`)
			var decode, prefill []float64
			b.ResetTimer()
			for range b.N {
				// The page restores and continues a conversation (the cases share an
				// origin), which would lengthen the prompt: each answer starts afresh.
				p.forget()
				p.setField("#prompt", prompt)
				run1(p, chromedp.Click("#generate"))
				if s := p.waitState(20*time.Minute, "done", "error"); s != "done" {
					p.fatalf("page state %q; #error: %s", s, p.text("#error"))
				}
				status := p.text("#status")
				b.Logf("status: %s", status)
				m := statusRe.FindStringSubmatch(status)
				if m == nil {
					b.Fatalf("#status %q does not give decode and prefill tokens/s", status)
				}
				d, _ := strconv.ParseFloat(m[1], 64)
				f, _ := strconv.ParseFloat(m[3], 64)
				decode, prefill = append(decode, d), append(prefill, f)
			}
			b.StopTimer()
			// The median of -benchtime Nx answers: one answer's rates vary by ±15 % here.
			b.ReportMetric(median(decode), "decode-tok/s")
			b.ReportMetric(median(prefill), "prefill-tok/s")
			p.checkConsole(nil)
			p.screenshot("page-smollm2-" + bc.name)
		})
	}
	// Switching between an expert and the base weights on the CPU engine: every
	// adapted matrix of the int8 pack recomposed into int8 W′, as a person's first
	// question with another expert waits for.
	b.Run("switch-cpu", func(b *testing.B) {
		if err := addRandomExpert(filepath.Join(site, "models", "smollm2-pack"), "scaled"); err != nil {
			b.Fatal(err)
		}
		p := openReady(b, bctx, srv.URL+"/?engine=cpu&pack=models/smollm2-pack/")
		// After sw.js has stored the shards, as pack-cpu's tokens.
		waitPack(p, srv.URL+"/models/smollm2-pack/", func(pk cachedPack) bool { return pk.Complete }, 2*time.Minute)
		p.waitOption("#strategy", protocol.StrategyExpert+"scaled")
		p.setField("#max-tokens", "1")
		switchRe := regexp.MustCompile(`\(([0-9.]+) (ms|s) switching the weights\)`)
		var toExpert, toBase []float64
		b.ResetTimer()
		for range b.N {
			for _, strategy := range []string{protocol.StrategyExpert + "scaled", protocol.StrategyNone} {
				p.setSelect("#strategy", strategy)
				p.setField("#prompt", "abcdefgh")
				p.clickDone("#generate", 5*time.Minute)
				if strategy == protocol.StrategyNone {
					// The engine keeps the base weights' W′: going back may take under a
					// millisecond, which the page does not show.
					took := 0.0
					if m := switchRe.FindStringSubmatch(p.text("#messages li.assistant:last-child .times")); m != nil {
						took = seconds(m[1], m[2])
					}
					toBase = append(toBase, took)
					continue
				}
				m := p.match("#messages li.assistant:last-child .times", switchRe, "the time switching the weights")
				toExpert = append(toExpert, seconds(m[1], m[2]))
			}
		}
		b.StopTimer()
		b.Logf("to the expert: %v s; back to the base weights: %v s", toExpert, toBase)
		slices.Sort(toExpert)
		slices.Sort(toBase)
		b.ReportMetric(toExpert[len(toExpert)/2], "to-expert-s")
		b.ReportMetric(toBase[len(toBase)/2], "to-base-s")
		p.checkConsole(nil)
	})
}

// addRandomExpert adds an expert of z drawn in [0.2, 1.8] to the pack in dir, with no
// domain (the page's default strategy stays the base weights).
func addRandomExpert(dir, name string) error {
	p, err := svf.OpenDir(dir)
	if err != nil {
		return err
	}
	x := p.Uniform(name, 1)
	x.Z = packtest.RandomZ(p, 3, 0.2, 1.8)
	return svf.SaveExpert(dir, p, x)
}

// BenchmarkPageKernels times the GPU kernels in the page's engine worker on the
// browser's WebGPU adapter (SwiftShader here), all in one run on one device:
// shaders.BenchKernels' plain copy, f32 and int8 matvecs (GB/s of weights; the figure is
// their ratio to the copy's read bandwidth, half its GB/s: x-copy-read), the Q8
// recomposition and a plain f32 matmul of the same
// shape (GFLOP/s). Each kernel is a sub-benchmark reporting the worker's own timing;
// compare with shaders' BenchmarkCopy, BenchmarkMatVec and BenchmarkRecompose natively.
func BenchmarkPageKernels(b *testing.B) {
	browser := findChromium(b)
	_, srv := serveSite(b)
	bctx, _ := startBrowser(b, browser)
	p := openPage(b, bctx, srv.URL+"/")
	r := run1(p, chromedp.Evaluate[protocol.BenchResult](`new Promise((resolve, reject) => {
		const w = new Worker('worker.js');
		const end = (f) => { clearTimeout(timer); w.terminate(); f(); };
		const timer = setTimeout(() => end(() => reject(new Error('no benchResult after 10 min'))), 600000);
		w.onerror = (e) => end(() => reject(new Error('worker: ' + e.message)));
		w.onmessage = (e) => {
			const m = e.data;
			if (m.type === 'benchResult') end(() => resolve(m));
			if (m.type === 'error') end(() => reject(new Error(m.message)));
		};
		w.postMessage({type: 'bench', seconds: 2});
	})`, chromedp.EvalAwaitPromise))
	if r.Adapter != nil {
		b.Logf("adapter: %+v", *r.Adapter)
	}
	var copyGBps float64
	for _, k := range r.Kernels {
		if strings.HasPrefix(k.Name, "copy/") {
			copyGBps = k.GBps
		}
		b.Run(k.Name, func(b *testing.B) {
			b.ReportMetric(k.Seconds*1e9, "ns/op")
			if k.GBps > 0 {
				b.ReportMetric(k.GBps, "GB/s")
			}
			if k.GFLOPs > 0 {
				b.ReportMetric(k.GFLOPs, "GFLOP/s")
			}
			if strings.HasPrefix(k.Name, "matvec") && copyGBps > 0 {
				b.ReportMetric(2*k.GBps/copyGBps, "x-copy-read")
			}
		})
	}
	p.checkConsole(nil)
}

// screenshot writes a PNG of the page (quality 100 makes Chromium encode PNG) to
// $T2_SCREENSHOTS/name.png when that variable names a folder (made when missing), so a
// person can look at what the tests saw.
func (p *page) screenshot(name string) {
	dir := os.Getenv("T2_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := run1(p, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Errorf("screenshot: %v", err)
	}
}

// BenchmarkPageTwoPass times Transformer²'s two passes in the page on the demo pack (the
// site's default model), on the WebGPU engine (SwiftShader here) and the CPU engine: for
// the prompt and cls-expert strategies, four questions of each unseen task answered with
// at most 100 tokens, as the answers' time lines give them, after one question of the
// strategy that is not counted (its first question copies no prompt opening and may
// merge the classification expert, once a page). The figures are the mean first-pass
// and second-pass ms; compare with BenchmarkTwoPass natively.
//
//	go test -run '^$' -bench PageTwoPass -benchtime 1x ./build/
func BenchmarkPageTwoPass(b *testing.B) {
	browser := findChromium(b)
	_, srv := serveSite(b)
	bctx, _ := startBrowser(b, browser)
	var questions []string
	for _, name := range []string{tasks.MathHard, tasks.CodeJS, tasks.ReasoningHard} {
		t, _ := tasks.Lookup(name)
		exs, err := tasks.Sample(t, tasks.Test, 1, 4)
		if err != nil {
			b.Fatal(err)
		}
		for _, ex := range exs {
			questions = append(questions, ex.Input)
		}
	}
	t, _ := tasks.Lookup(tasks.ReasoningHard)
	warmup, err := tasks.Sample(t, tasks.Validation, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	warm := warmup[0].Input
	times := regexp.MustCompile(`first pass ([0-9.]+) (ms|s) · second pass ([0-9.]+) (ms|s)`)
	for _, engine := range []string{"gpu", "cpu"} {
		for _, strategy := range []string{protocol.StrategyPrompt, protocol.StrategyClsExpert} {
			b.Run(engine+"/"+strategy, func(b *testing.B) {
				p := openReady(b, bctx, srv.URL+"/?engine="+engine)
				p.setField("#max-tokens", "100")
				ask := func(q string) (first, second float64) {
					// One question a conversation: the history would pass the context.
					run1(p, chromedp.Evaluate[bool](`(() => { const b = document.querySelector('#clear-chat'); if (!b.disabled) b.click(); return true; })()`))
					p.pollTrue(`document.querySelectorAll('#messages li').length === 0`, 10*time.Second)
					p.setSelect("#strategy", strategy)
					p.setField("#prompt", q)
					p.clickDone("#generate", 10*time.Minute)
					m := p.match("#messages li.assistant:last-child .times", times, "the first and second pass times")
					// Each question's, to tell a second pass that recomposed W' from one that did not.
					b.Logf("%.40q…: first pass %s %s, second pass %s %s", q, m[1], m[2], m[3], m[4])
					return seconds(m[1], m[2]), seconds(m[3], m[4])
				}
				ask(warm)
				var first, second float64
				b.ResetTimer()
				for range b.N {
					for _, q := range questions {
						f, s := ask(q)
						first += f
						second += s
					}
				}
				b.StopTimer()
				n := float64(b.N * len(questions))
				b.ReportMetric(1000*first/n, "first-ms")
				b.ReportMetric(1000*second/n, "second-ms")
				b.ReportMetric(100*first/second, "first/second-%")
				p.checkConsole(nil)
			})
		}
	}
}

// BenchmarkPageAdapt times few-shot adaptation in the page on the demo pack as a person
// runs it: 10 examples of math-hard (validation items, worked solutions as outputs)
// dropped as JSONL, its 3 domain experts, the page's default settings (svf.DefaultFewShot:
// likelihood score, population 8, 2 elites, at most 8 iterations), on the CPU engine
// and on WebGPU (SwiftShader here). The figure is the page's own "adapted … in" time for
// the whole adaptation; compare with t2 adapt natively.
//
//	go test -run '^$' -bench PageAdapt -benchtime 1x ./build/
func BenchmarkPageAdapt(b *testing.B) {
	browser := findChromium(b)
	_, srv := serveSite(b)
	bctx, _ := startBrowser(b, browser)
	jsonl := solutionsJSONL(b, tasks.MathHard, tasks.Validation, 1, 10)
	took := regexp.MustCompile(`adapted "[^"]*" in ([0-9.]+) (ms|s)`)
	for _, engine := range []string{"cpu", "gpu"} {
		b.Run(engine, func(b *testing.B) {
			p := openReady(b, bctx, srv.URL+"/?engine="+engine)
			p.forget()
			p.show("fewshot")
			p.drop("math-hard.jsonl", jsonl)
			p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 10`, 10*time.Second)
			var secs float64
			b.ResetTimer()
			for range b.N {
				p.clickDone("#adapt", 30*time.Minute)
				m := p.match("#status", took, "how long the adaptation took")
				secs += seconds(m[1], m[2])
			}
			b.StopTimer()
			b.ReportMetric(secs/float64(b.N), "s/adapt")
			p.checkConsole(nil)
		})
	}
}

// BenchmarkPageTrain times "Train a new expert" in the page on the demo pack as a person
// runs it: 100 examples of a held-out family (train-split items, worked solutions as
// outputs) dropped as JSONL, the page's defaults (a fifth held out, 6 epochs, batch 20),
// on the CPU engine (the trainer always trains on the CPU). The figures are the page's
// own: the run's time, and the held-out accuracy of the kept iterate beside the base
// model's. Natively: t2 train-expert --examples FILE --objective ce --epochs 6 --batch 20.
//
//	go test -run '^$' -bench PageTrain -benchtime 1x ./build/
func BenchmarkPageTrain(b *testing.B) {
	browser := findChromium(b)
	_, srv := serveSite(b)
	bctx, _ := startBrowser(b, browser)
	done := regexp.MustCompile(`Expert "[^"]*": ([0-9]+) % of the held-out examples right, the base model ([0-9]+) %, in ([0-9.]+) (ms|s)`)
	for _, family := range []string{tasks.Give, tasks.LostFound, tasks.Totals} {
		b.Run(family, func(b *testing.B) {
			jsonl := solutionsJSONL(b, family, tasks.Train, 7, 100)
			p := openReady(b, bctx, srv.URL+"/?engine=cpu")
			p.forget()
			p.show("fewshot")
			p.drop(family+".jsonl", jsonl)
			p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 100`, 10*time.Second)
			var secs, best, base float64
			b.ResetTimer()
			for range b.N {
				run1(p, chromedp.Click("#train-start"))
				text := p.poll(`(document.querySelector('#train-status')?.textContent ?? "").startsWith('Expert') || document.querySelector('#train-error') ? document.querySelector('#train-status').textContent + (document.querySelector('#train-error')?.textContent ?? "") : ""`, 30*time.Minute)
				m := done.FindStringSubmatch(text)
				if m == nil {
					p.fatalf("training ended with %q", text)
				}
				secs += seconds(m[3], m[4])
				b.Logf("ms at each iteration: %s", p.attr("#train-loss", "data-ms"))
				v, _ := strconv.ParseFloat(m[1], 64)
				w, _ := strconv.ParseFloat(m[2], 64)
				best, base = best+v, base+w
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(secs/n, "s/train")
			b.ReportMetric(secs/n/float64(protocol.DefaultTrain.Epochs), "s/epoch")
			b.ReportMetric(best/n, "heldout-%")
			b.ReportMetric(base/n, "base-%")
			p.screenshots("train-" + family)
			p.checkConsole(nil)
		})
	}
}

// solutionsJSONL is n items of task's split (drawn by seed) as a few-shot file, worked
// solutions as outputs.
func solutionsJSONL(b *testing.B, task string, split tasks.Split, seed uint64, n int) []byte {
	t, err := tasks.Lookup(task)
	if err != nil {
		b.Fatal(err)
	}
	examples, err := tasks.Sample(t, split, seed, n)
	if err != nil {
		b.Fatal(err)
	}
	var jsonl bytes.Buffer
	for _, ex := range examples {
		line, _ := json.Marshal(map[string]string{"input": ex.Input, "output": ex.Solution})
		jsonl.Write(append(line, '\n'))
	}
	return jsonl.Bytes()
}

// clickDone clicks sel and waits until the page is done with what it started.
func (p *page) clickDone(sel string, timeout time.Duration) {
	p.t.Helper()
	run1(p, chromedp.Click(sel))
	if s := p.waitState(timeout, "done", "error"); s != "done" {
		p.fatalf("page state %q after %s; #error: %s", s, sel, p.text("#error"))
	}
}

// seconds reads a time the page writes with msText: v in unit "ms" or "s".
func seconds(v, unit string) float64 {
	x, _ := strconv.ParseFloat(v, 64)
	if unit == "ms" {
		x /= 1000
	}
	return x
}

// openReady opens url and waits until its model is loaded, logging the engine line.
func openReady(t testing.TB, bctx context.Context, url string) *page {
	t.Helper()
	p := openPage(t, bctx, url)
	if s := p.waitState(10*time.Minute, "ready", "error"); s != "ready" {
		p.fatalf("page state %q; #error: %s", s, p.text("#error"))
	}
	t.Logf("%s", p.text("#engine"))
	return p
}

// match returns re's submatches in the text of sel, failing the test with what it
// wanted to read there when there are none.
func (p *page) match(sel string, re *regexp.Regexp, what string) []string {
	p.t.Helper()
	text := p.text(sel)
	m := re.FindStringSubmatch(text)
	if m == nil {
		p.fatalf("%s %q does not give %s", sel, text, what)
	}
	return m
}
