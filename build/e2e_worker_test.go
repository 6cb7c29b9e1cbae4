package main

import (
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestE2EWorkerRestart: a script of the engine worker that fails to load once (here a
// 503 for the worker's wasm_exec.js, as a busy server or a network hiccup gives) does
// not end the page: the worker starts again, gets the load request again and the model
// loads. sw.js answers 404, so the page runs without its service worker and the worker's
// scripts come from this server, not from the shell cache. ui.wasm comes a second late,
// so the worker index.html starts early has failed before ui.wasm takes it over: the
// failure reaches ui.wasm as one of the worker's early events.
func TestE2EWorkerRestart(t *testing.T) {
	browser := findChromium(t)
	site := buildTestSite(t)
	files := siteHandler(site, log.New(testWriter{t}, "serve: ", 0))
	var failed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/sw.js":
			http.NotFound(w, r)
			return
		case r.URL.Path == "/ui.wasm":
			time.Sleep(time.Second)
		case r.URL.Path == "/wasm_exec.js" && strings.HasSuffix(r.Referer(), "/worker.js") && failed.Add(1) == 1:
			t.Logf("503 for the worker's %s", r.URL.Path)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bctx, _ := startBrowser(t, browser)

	p := openPage(t, bctx, srv.URL+"/?engine=cpu")
	p.waitReady()
	if n := failed.Load(); n < 2 {
		p.fatalf("the worker asked for wasm_exec.js %d times, want a failure and a second try", n)
	}
	// The restarted worker answers as the CPU engine does natively (the model may stop
	// before the limit: the tokens, not their count, are what a person relies on).
	const prompt = "The quick brown fox"
	want := nativeGenerate(t, []string{"--pack", filepath.Join(site, "models", "default")}, prompt, false, 8)
	if got := p.generate(prompt, false, 8); len(got) == 0 || !slices.Equal(got, want) {
		p.fatalf("after the restart the page generated %v, want %v as t2 generate gives", got, want)
	}
	restarted := false
	p.mu.Lock()
	for _, m := range p.console {
		restarted = restarted || strings.Contains(m.Text, "the engine worker failed to start; starting it again")
	}
	p.mu.Unlock()
	if !restarted {
		p.fatalf("the console does not say the engine worker was started again")
	}
	// The 404 of sw.js (the only script that 404s) and the 503 are this test's doing.
	p.checkConsole(func(m chromedp.ConsoleMessage) bool {
		return strings.Contains(m.Text, "(404) was received when fetching the script") || strings.Contains(m.Text, "503")
	})
}
