package main

import (
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// isolate serves h cross-origin isolated: COOP same-origin and COEP require-corp, and
// CORP same-origin on every response, so that the page may share memory between workers.
func isolate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// serveIsolated serves the site in dir cross-origin isolated (isolate), beside serveSite's
// plain server of the same folder.
func serveIsolated(t testing.TB, site string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(isolate(siteHandler(site, log.New(testWriter{t}, "serve: ", 0))))
	t.Cleanup(srv.Close)
	return srv
}

// TestE2EWorkers runs the page's CPU engine where the page is cross-origin isolated (here
// by the server; TestE2EIsolation has sw.js isolate it), where its large matmuls run on
// two workers sharing the engine's memory (goworker.js, kernels.js), and where the
// address asks for one worker (?workers=1, which keeps sw.js from isolating the page);
// the #engine line says which and why. Both
// give the greedy tokens of t2 generate --greedy, whose Go kernels the fixture tests hold
// to llama.cpp: a row's sums are the same whichever worker runs them. A 400-token prompt
// of the llama-tiny fixture has matmuls large enough to be split (its MLP's and the
// lm_head's, 128,256 × 64): int8 in its pack (matmul_q8), float32 in the checkpoint
// (matmul_f32).
func TestE2EWorkers(t *testing.T) {
	browser := findChromium(t)
	site, plain := serveSite(t)
	isolated := serveIsolated(t, site)
	hf, dst := writeFixtureModels(t, site)
	bctx, _ := startBrowser(t, browser)
	// About 400 tokens: the prompt's MLP matmuls are large enough to be split too, so a
	// wrong row there changes every later token.
	prompt := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)
	for _, m := range []struct {
		name, query string
		args        []string
	}{
		{"pack", "pack=models/llama-tiny-pack/", []string{"--pack", dst}},
		{"checkpoint", "model=models/llama-tiny/", []string{"--model", hf}},
	} {
		want := nativeGenerate(t, m.args, prompt, false, 16)
		for _, c := range []struct {
			name   string
			srv    *httptest.Server
			engine string
		}{
			{"isolated", isolated, " kernels) on 2 workers"},
			{"one-worker", plain, " kernels) on 1 worker (the address asks for one: ?workers=1)"},
		} {
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				query := "/?engine=cpu&" + m.query
				if c.name == "one-worker" {
					query += "&workers=1"
				}
				p := openPage(t, bctx, c.srv.URL+query)
				p.waitReady()
				if e := p.text("#engine"); !strings.Contains(e, c.engine) {
					p.fatalf("#engine %q, want it to say %q", e, c.engine)
				}
				got := p.generate(prompt, false, 16)
				if !slices.Equal(got, want) {
					p.fatalf("page generated %v\nt2 generate --greedy %v gives %v", got, m.args, want)
				}
				t.Logf("%s; status: %s", p.text("#engine"), p.text("#status"))
				p.checkConsole(nil)
			})
		}
	}
}
