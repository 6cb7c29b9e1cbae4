package main

import (
	"bytes"
	"github.com/t2web/t2web/model/fixtures"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkPageSmolLM2 loads a random-weight SmolLM2-135M-shaped checkpoint into the page
// in headless Chromium and reports the engine worker's prefill and decode tokens/s (the
// CPU engine compiled to wasm), as the page's status line gives them. Compare with
// model's BenchmarkDecode and BenchmarkPrefill for the native figures.
func BenchmarkPageSmolLM2(b *testing.B) {
	browser := findChromium(b)
	site := b.TempDir()
	var buildLog bytes.Buffer
	if err := buildSite(site, &buildLog); err != nil {
		b.Fatalf("buildSite: %v\n%s", err, buildLog.String())
	}
	if err := writeRandomModel([]byte(fixtures.SmolLM2Config), 1, filepath.Join(site, "models", "smollm2")); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(siteHandler(site, log.New(testWriter{b}, "serve: ", 0)))
	defer srv.Close()
	bctx, _ := startBrowser(b, browser)
	p := openPage(b, bctx, srv.URL+"/?model=models/smollm2/")
	start := time.Now()
	if s := p.waitState(5*time.Minute, "ready", "error"); s != "ready" {
		p.fatalf("page state %q; #error: %s", s, p.text("#error"))
	}
	b.Logf("loaded in %v", time.Since(start).Round(time.Millisecond))
	// 64 bytes of prompt are 64 tokens of the byte-level tokenizer.
	prompt := strings.Repeat("abcdefgh", 8)
	p.setField("#max-tokens", "32")
	p.setField("#prompt", prompt)
	b.ResetTimer()
	for range b.N {
		run1(p, chromedp.Click("#generate"))
		if s := p.waitState(10*time.Minute, "done", "error"); s != "done" {
			p.fatalf("page state %q; #error: %s", s, p.text("#error"))
		}
	}
	b.StopTimer()
	status := p.text("#status")
	b.Logf("status: %s", status)
	m := regexp.MustCompile(`([0-9.]+) tokens/s · prompt (\d+) tokens at ([0-9.]+) tokens/s`).FindStringSubmatch(status)
	if m == nil {
		b.Fatalf("#status %q does not give decode and prefill tokens/s", status)
	}
	decode, _ := strconv.ParseFloat(m[1], 64)
	prefill, _ := strconv.ParseFloat(m[3], 64)
	b.ReportMetric(decode, "decode-tok/s")
	b.ReportMetric(prefill, "prefill-tok/s")
	p.screenshot("page-smollm2")
}

// screenshot writes a PNG of the page (quality 100 makes Chromium encode PNG) to $T2_SCREENSHOTS/name.png when that variable
// names a folder, so a person can look at what the tests saw.
func (p *page) screenshot(name string) {
	dir := os.Getenv("T2_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := run1(p, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Errorf("screenshot: %v", err)
	}
}
