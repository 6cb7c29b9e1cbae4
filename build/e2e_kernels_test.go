package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/wasm/protocol"
)

// TestE2EKernels runs the page's CPU engine on each of its kernels — Go's, the SIMD128
// module, the relaxed-SIMD module and, where the browser's relaxed dot product reads
// unsigned 8-bit (the page's default then names it), the u8 module (?kernels=) — and
// holds its greedy tokens to
// t2 generate --greedy's, whose Go kernels the fixture tests hold to llama.cpp: the demo
// pack (int8 matrices, an exact rank and f32 embeddings), an int8 pack of the llama-tiny
// fixture (int8 lm_head over a 128k vocabulary) and the fixture checkpoint itself (f32
// matmuls). Every kernel gives Go's bits, so the tokens must be the same.
func TestE2EKernels(t *testing.T) {
	browser := findChromium(t)
	site, srv := serveSite(t)
	bctx, _ := startBrowser(t, browser)
	models := []struct{ name, query string }{{"demo-pack", "pack=models/default/"}}
	sources := map[string][]string{"demo-pack": {"--pack", filepath.Join(site, "models", "default")}}
	if fixtures.Present(t) {
		hf, dst := writeFixtureModels(t, site)
		models = append(models, struct{ name, query string }{"fixture-pack", "pack=models/llama-tiny-pack/"},
			struct{ name, query string }{"fixture-checkpoint", "model=models/llama-tiny/"})
		sources["fixture-pack"] = []string{"--pack", dst}
		sources["fixture-checkpoint"] = []string{"--model", hf}
	}
	const prompt = "The quick brown fox"
	kernels := []string{protocol.KernelsGo, protocol.KernelsSIMD, protocol.KernelsRelaxed, protocol.KernelsRelaxedU8}
	p := openPage(t, bctx, srv.URL+"/?engine=cpu")
	p.waitReady()
	best := p.text("#engine")
	t.Logf("the page's default: %s", best)
	for _, m := range models {
		want := nativeGenerate(t, sources[m.name], prompt, false, 16)
		for _, k := range kernels {
			t.Run(m.name+"/"+k, func(t *testing.T) {
				if k == protocol.KernelsRelaxedU8 && !strings.Contains(best, k+" kernels") {
					t.Skipf("this browser's relaxed dot product does not read unsigned 8-bit (the page's default: %s)", best)
				}
				p := openPage(t, bctx, srv.URL+"/?engine=cpu&kernels="+k+"&"+m.query)
				p.waitReady()
				if e := p.text("#engine"); !strings.Contains(e, "("+"WebAssembly, "+k+" kernels)") {
					p.fatalf("#engine %q does not name the %s kernels", e, k)
				}
				got := p.generate(prompt, false, 16)
				if !slices.Equal(got, want) {
					p.fatalf("page with %s kernels generated %v\nt2 generate --greedy %v gives %v", k, got, sources[m.name], want)
				}
				t.Logf("%v; status: %s", got, p.text("#status"))
				p.checkConsole(nil)
			})
		}
	}
}

// writeFixtureModels puts the llama-tiny fixture into the site twice: the checkpoint in
// models/llama-tiny/ and an int8 pack of it (MLP and attention adapted) in
// models/llama-tiny-pack/; it returns the two folders.
func writeFixtureModels(t *testing.T, site string) (checkpoint, packDir string) {
	t.Helper()
	src := fixtures.Dir(t, "llama-tiny")
	checkpoint, packDir = filepath.Join(site, "models", "llama-tiny"), filepath.Join(site, "models", "llama-tiny-pack")
	if err := copyTree(src, checkpoint); err != nil {
		t.Fatal(err)
	}
	if _, err := convert.Convert(os.DirFS(src), packDir, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}}); err != nil {
		t.Fatal(err)
	}
	return checkpoint, packDir
}
