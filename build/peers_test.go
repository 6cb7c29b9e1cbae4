package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/t2web/t2web/internal/need"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
)

// The peers of `make bench-peers` — wllama (llama.cpp compiled to wasm) — are installed
// from npm into build/peers/node_modules at bench time (make peers); nothing of them
// ships in the site. build/peers/wllama.html runs one in the page.

// The peers' benchmarks run on the same SmolLM2-135M-shaped weights, prompt and length.
const (
	peerPrompt = "abcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefghabcdefgh" // 64 byte-level tokens
	peerTokens = 128                                                                // new tokens, greedy
	// smolWeights are the weights a token reads: 106 M layer weights + 28 M lm_head
	// (tied embedding).
	smolWeights = 30*(2*576*576+2*192*576+3*1536*576) + 49152*576
)

// smolPeerModels writes random SmolLM2-135M-shaped weights into dir as the peers run
// them: the checkpoint (smollm2), its int8 pack (smollm2-pack), and from the pack a GGUF
// of each of types (smollm2-TYPE.gguf, t2 export). It returns the pack's folder.
func smolPeerModels(b *testing.B, dir string, types ...string) string {
	b.Helper()
	hf, pack := filepath.Join(dir, "smollm2"), filepath.Join(dir, "smollm2-pack")
	if err := writeRandomModel([]byte(fixtures.SmolLM2Config), 1, hf); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := convert.Convert(os.DirFS(hf), pack, convert.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("converted to an int8 pack in %v", time.Since(start).Round(time.Second))
	for _, typ := range types {
		if code, out, errOut := t2("export", "--pack", pack, "--gguf", filepath.Join(dir, "smollm2-"+typ+".gguf"), "--type", typ); code != 0 {
			b.Fatalf("export: %s", errOut)
		} else {
			b.Log(strings.TrimSpace(out))
		}
	}
	return pack
}

// peersDir returns build/peers when wllama is installed there, and skips otherwise.
func peersDir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "build", "peers")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@wllama", "wllama", "esm", "index.js")); err != nil {
		need.Skip(t, fmt.Sprintf("wllama is not installed in %s: make peers installs it from npm", dir))
	}
	return dir
}

// servePeers serves the site with build/peers under /peers/, twice: plainly, and cross-
// origin isolated (COOP same-origin, COEP require-corp), where wllama runs threads.
func servePeers(t testing.TB, site, peers string) (plain, isolated *httptest.Server) {
	mux := http.NewServeMux()
	mux.Handle("/peers/", http.StripPrefix("/peers/", http.FileServer(http.Dir(peers))))
	mux.Handle("/", siteHandler(site, log.New(testWriter{t}, "serve: ", 0)))
	plain = httptest.NewServer(mux)
	isolated = httptest.NewServer(isolate(mux))
	t.Cleanup(plain.Close)
	t.Cleanup(isolated.Close)
	return plain, isolated
}

// wllamaResult is what wllama.html's t2Run returns: times in ms of its
// performance.now().
type wllamaResult struct {
	Text        string  `json:"text"`
	Chunks      int     `json:"chunks"`
	LoadMs      float64 `json:"loadMs"`
	FirstMs     float64 `json:"firstMs"`
	DecodeMs    float64 `json:"decodeMs"`
	Multithread bool    `json:"multithread"`
	Isolated    bool    `json:"isolated"`
	Timings     *struct {
		PromptN           int     `json:"prompt_n"`
		PromptPerSecond   float64 `json:"prompt_per_second"`
		PredictedN        int     `json:"predicted_n"`
		PredictedPerSecon float64 `json:"predicted_per_second"`
	} `json:"timings"`
}

// runWllama opens wllama.html on srv in a fresh tab and completes prompt greedily with
// the GGUF at model (a URL path).
func runWllama(t testing.TB, bctx context.Context, srv, model string, threads int, prompt string, maxTokens int, ignoreEOS bool) wllamaResult {
	t.Helper()
	p := openPage(t, bctx, srv+"/peers/wllama.html")
	p.pollTrue(`window.t2Ready === true`, time.Minute)
	return run1(p, chromedp.Evaluate[wllamaResult](fmt.Sprintf(`t2Run({model: %q, threads: %d, prompt: %q, maxTokens: %d, ignoreEOS: %v})`,
		model, threads, prompt, maxTokens, ignoreEOS), chromedp.EvalAwaitPromise))
}

// TestE2EWllama is the GGUF interop test: the demo pack exported as an f32 GGUF (t2
// export), run by wllama in the page, greedily answers questions of the task suite —
// rendered with the chat template by t2 template and given to both as plain text, its
// special tokens included — with exactly the text of t2 generate --greedy --dequantize
// (the f32 model the file holds). The demo's tokenizer is byte-level: the same text is
// the same tokens.
func TestE2EWllama(t *testing.T) {
	browser := findChromium(t)
	peers := peersDir(t)
	site := buildTestSite(t)
	srv, _ := servePeers(t, site, peers)
	bctx, _ := startBrowser(t, browser)
	pack := filepath.Join(site, "models", "default")
	if code, _, errOut := t2("export", "--pack", pack, "--gguf", filepath.Join(site, "models", "demo-f32.gguf")); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	var questions []string
	for _, name := range []string{tasks.MathHard, tasks.CodeJS, tasks.ReasoningHard} {
		task, _ := tasks.Lookup(name)
		exs, err := tasks.Sample(task, tasks.Test, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		questions = append(questions, exs[0].Input)
	}
	var tokens int
	for i, q := range questions {
		msgs, _ := json.Marshal([]map[string]string{{"role": "user", "content": q}})
		file := filepath.Join(t.TempDir(), "messages.json")
		if err := os.WriteFile(file, msgs, 0o644); err != nil {
			t.Fatal(err)
		}
		code, prompt, errOut := t2("template", "--model", pack, "--messages", file, "--add-generation-prompt")
		if code != 0 {
			t.Fatalf("template: %s", errOut)
		}
		code, want, errOut := t2("generate", "--pack", pack, "--dequantize", "--greedy", "--max-tokens", "64", "--prompt", prompt)
		if code != 0 {
			t.Fatalf("generate: %s", errOut)
		}
		r := runWllama(t, bctx, srv.URL, "/models/demo-f32.gguf", 1, prompt, 64, false)
		t.Logf("question %d → wllama %q (%d pieces)", i, r.Text, r.Chunks)
		if r.Text != want {
			t.Errorf("question %d: wllama generated %q, t2 generate --greedy --dequantize %q", i, r.Text, want)
		}
		tokens += len(want)
	}
	if tokens < 40 {
		t.Errorf("the answers have %d tokens in all: too few to hold the two engines to each other", tokens)
	}
}

// BenchmarkPeers runs this page's CPU engine and wllama side by side in the same
// headless Chromium, on the same SmolLM2-135M-shaped random weights (t2 random-model,
// t2 convert to an int8 pack, t2 export to GGUF): the same 64-token prompt, 128 greedy
// tokens (wllama ignores EOS; ours stops only at EOS), a fresh page per run, the engines
// interleaved, a warm-up round dropped, then the median and range of 5 rounds. Each
// engine times itself with its worker's clock (performance.now()): ours from its Done
// message (prefill: prompt tokens over the time to the first new token; decode: the
// tokens after it over their time), wllama from llama.cpp's timings (prompt and
// predicted tokens per second); loads are timed by the page. It logs the table — with threads, cross-origin isolation, SIMD and relaxed-SIMD
// support, the load average, effective GB/s (weight bytes a token × tokens/s) — and
// the ratios of our decode and prefill to each peer's. make bench-peers runs it.
func BenchmarkPeers(b *testing.B) {
	browser := findChromium(b)
	peers := peersDir(b)
	site := buildTestSite(b)
	plain, isolated := servePeers(b, site, peers)
	smolPeerModels(b, filepath.Join(site, "models"), "q8_0", "f32")
	bctx, _ := startBrowser(b, browser)
	const promptText, maxTokens, weights = peerPrompt, peerTokens, smolWeights
	ours := func() (float64, float64, float64, string) {
		p := openPage(b, bctx, plain.URL+"/")
		type done struct {
			LoadMs  float64       `json:"loadMs"`
			Done    protocol.Done `json:"done"`
			Kernels string        `json:"kernels"`
			Simd    bool          `json:"simd"`
			Relaxed bool          `json:"relaxed"`
			Iso     bool          `json:"iso"`
		}
		r := run1(p, chromedp.Evaluate[done](fmt.Sprintf(`(async () => {
			const valid = async (f) => WebAssembly.validate(await (await fetch(f)).arrayBuffer());
			const simd = await valid('kernels-simd128.wasm'), relaxed = await valid('kernels-relaxed.wasm');
			return await new Promise((resolve, reject) => {
				const w = new Worker('worker.js');
				const t0 = performance.now();
				let loadMs = 0, kernels = '';
				w.onerror = (e) => reject(new Error('worker: ' + e.message));
				w.onmessage = (e) => {
					const m = e.data;
					if (m.type === 'loaded') {
						loadMs = performance.now() - t0; kernels = m.kernels;
						w.postMessage({type: 'generate', prompt: %q, chat: false, maxTokens: %d, temperature: 0, seed: 0});
					}
					if (m.type === 'done') { w.terminate(); resolve({loadMs, done: m, kernels, simd, relaxed, iso: self.crossOriginIsolated}); }
					if (m.type === 'error') { w.terminate(); reject(new Error(m.message)); }
				};
				w.postMessage({type: 'load', url: 'models/smollm2-pack/', engine: 'cpu'});
			});
		})()`, promptText, maxTokens), chromedp.EvalAwaitPromise))
		info := fmt.Sprintf("1 thread, %s kernels (SIMD128 %v, relaxed %v), crossOriginIsolated %v, %d prompt + %d new tokens",
			r.Kernels, r.Simd, r.Relaxed, r.Iso, r.Done.PromptTokens, len(r.Done.IDs))
		return r.LoadMs / 1000, r.Done.PrefillTokensPerSecond, r.Done.TokensPerSecond, info
	}
	wl := func(srv *httptest.Server, model string, threads int) func() (float64, float64, float64, string) {
		return func() (float64, float64, float64, string) {
			r := runWllama(b, bctx, srv.URL, model, threads, promptText, maxTokens, true)
			if r.Timings == nil {
				b.Fatalf("wllama gave no timings: %+v", r)
			}
			// llama.cpp's own timings, taken in wllama's worker (emscripten's clock is that
			// worker's performance.now()): streamed pieces of a byte-level model's random
			// output are mostly incomplete UTF-8, which the server holds back, so the page
			// cannot time tokens from them.
			tm := r.Timings
			info := fmt.Sprintf("%d thread(s) asked, multithread %v, crossOriginIsolated %v, %d prompt + %d new tokens", threads, r.Multithread, r.Isolated, tm.PromptN, tm.PredictedN)
			return r.LoadMs / 1000, tm.PromptPerSecond, tm.PredictedPerSecon, info
		}
	}
	engines := []*peerEngine{
		{name: "t2web CPU engine, int8 pack", bytes: weights * (1 + 4.0/32), run: ours},
		{name: "wllama 3.13, Q8_0, 1 thread", bytes: weights * 34.0 / 32, run: wl(plain, "/models/smollm2-q8_0.gguf", 1)},
		{name: "wllama 3.13, Q8_0, 2 threads (isolated)", bytes: weights * 34.0 / 32, run: wl(isolated, "/models/smollm2-q8_0.gguf", 2)},
		{name: "wllama 3.13, f32, 1 thread", bytes: weights * 4, run: wl(plain, "/models/smollm2-f32.gguf", 1)},
	}
	racePeers(b, engines, 5)
	o := engines[0]
	b.ReportMetric(median(o.runs[2]), "decode-tok/s")
	b.ReportMetric(median(o.runs[1]), "prefill-tok/s")
	b.ReportMetric(median(o.runs[2])/median(engines[1].runs[2]), "x-wllama1t-decode")
}

// peerEngine is one engine of a peers benchmark: run completes the prompt and returns the
// load time in s (0: loaded once, before), prefill and decode in tokens/s, and what it ran.
type peerEngine struct {
	name   string
	bytes  float64 // weight bytes a token
	run    func() (load, prefill, decode float64, info string)
	runs   [3][]float64 // the rounds' load, prefill and decode
	detail string
}

// racePeers runs the engines in turn, a warm-up round dropped, then rounds more. It logs
// every run, then the table — the median and range of each figure, with the load average
// and effective GB/s (weight bytes a token × tokens/s) — and the ratios of the first
// engine's decode and prefill to each other's.
func racePeers(b *testing.B, engines []*peerEngine, rounds int) {
	loadavg := func() string {
		data, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(data))[:3], " ")
	}
	b.Logf("load average before: %s; %d CPUs", loadavg(), runtime.NumCPU())
	b.ResetTimer()
	for round := range rounds + 1 {
		for _, e := range engines {
			load, prefill, decode, info := e.run()
			b.Logf("round %d, %s: load %.1f s, prefill %.1f, decode %.1f tok/s — %s", round, e.name, load, prefill, decode, info)
			if round == 0 {
				continue // warm-up
			}
			e.runs[0], e.runs[1], e.runs[2] = append(e.runs[0], load), append(e.runs[1], prefill), append(e.runs[2], decode)
			e.detail = info
		}
	}
	b.StopTimer()
	b.Logf("load average after: %s", loadavg())
	var table strings.Builder
	fmt.Fprintf(&table, "\n| engine | decode tok/s | prefill tok/s | load s | effective GB/s (decode) |\n|---|---|---|---|---|\n")
	for _, e := range engines {
		r := func(x []float64) string {
			return fmt.Sprintf("%.1f (%.1f–%.1f)", median(x), slices.Min(x), slices.Max(x))
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %.2f |\n", e.name, r(e.runs[2]), r(e.runs[1]), r(e.runs[0]), e.bytes*median(e.runs[2])/1e9)
	}
	o := engines[0]
	for _, e := range engines[1:] {
		fmt.Fprintf(&table, "%s / %s: decode %.2f×, prefill %.2f×\n", o.name, e.name, median(o.runs[2])/median(e.runs[2]), median(o.runs[1])/median(e.runs[1]))
	}
	for _, e := range engines {
		fmt.Fprintf(&table, "%s: %s\n", e.name, e.detail)
	}
	b.Log(table.String())
}

// median is the middle value of x (the upper one of an even count).
func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	return y[len(y)/2]
}
