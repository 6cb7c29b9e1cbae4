package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestE2EIsolation serves the site as GitHub Pages does, without COOP/COEP headers, and
// checks that sw.js makes the page cross-origin isolated, so that the CPU engine runs on
// two workers (TestE2EWorkers holds their tokens to t2 generate's), and that where it
// cannot the page runs on one and says why:
//
//	first-visit   the page reloads once, when sw.js controls it, and is isolated, and
//	              stays so when reloaded
//	next-visit    sw.js answers the page isolated at once: no reload
//	hard-reload   a hard reload skips sw.js: one worker, and the page says so
//	one-worker    ?workers=1: one worker, not isolated, no reload
//	frame         the page in a frame of a page that is not isolated cannot be: it
//	              reloads once, then says why, with no reload loop
//	foreign-pack  a pack on another origin, served with CORS and no CORP, loads in
//	              the isolated page
func TestE2EIsolation(t *testing.T) {
	browser := findChromium(t)
	site, srv := serveSite(t)
	packDir := filepath.Join(site, "models", "default")
	if err := os.WriteFile(filepath.Join(site, "frame.html"), []byte(
		`<!doctype html><title>t2web in a frame</title><link rel="icon" href="icon.svg"><iframe src="./?engine=cpu" width="900" height="700"></iframe>`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Another origin (another port) that lets any page read its files, as a pack host must.
	files := siteHandler(site, nil)
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(foreign.Close)
	bctx, _ := startBrowser(t, browser)

	const prompt, maxTokens = "The quick brown fox", 8
	want := nativeGenerate(t, []string{"--pack", packDir}, prompt, false, maxTokens)
	const (
		twoWorkers = " kernels) on 2 workers"
		oneWorker  = " kernels) on 1 worker ("
	)
	for _, c := range []struct {
		name, path string
		loads      int    // how many times the page (the frame's, for frame.html) loads
		isolated   bool   // crossOriginIsolated, in the page
		engine     string // what #engine says
		reload     bool   // a hard reload after opening the page, which the rest is of
	}{
		{"first-visit", "/?engine=cpu", 2, true, twoWorkers, false},
		{"next-visit", "/?engine=cpu", 1, true, twoWorkers, false},
		{"hard-reload", "/?engine=cpu", 2, false, oneWorker + "not cross-origin isolated: a hard reload skips the service worker", true},
		{"one-worker", "/?engine=cpu&workers=1", 1, false, oneWorker + "the address asks for one: ?workers=1)", false},
		{"frame", "/frame.html", 2, false, oneWorker + "not cross-origin isolated: the browser did not isolate the page when it reloaded", false},
		{"foreign-pack", "/?engine=cpu&pack=" + foreign.URL + "/models/default/", 1, true, twoWorkers, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPage(t, bctx)
			loads := p.countLoads(c.path == "/frame.html")
			p.navigate(srv.URL + c.path)
			if c.reload {
				p.waitReady()
				hard := true // as Shift+reload
				if _, err := chromedp.Call(p.ctx, cdppage.Reload, cdppage.ReloadParams{IgnoreCache: &hard}); err != nil {
					p.fatalf("hard reload: %v", err)
				}
				for deadline := time.Now().Add(time.Minute); loads() < c.loads; time.Sleep(50 * time.Millisecond) {
					if time.Now().After(deadline) {
						p.fatalf("no load a minute after the hard reload")
					}
				}
			}
			win := "window"
			if c.path == "/frame.html" {
				// The frame's page, once it is t2web's and ready.
				win = "document.querySelector('iframe').contentWindow"
				p.pollTrue(win+`.document.querySelector('main.app')?.dataset.state === 'ready'`, time.Minute)
			} else {
				p.waitReady()
			}
			engine := p.eval(win + `.document.querySelector('#engine').textContent`)
			if !strings.Contains(engine, c.engine) {
				p.fatalf("#engine %q, want it to say %q", engine, c.engine)
			}
			if iso := p.eval(`String(` + win + `.crossOriginIsolated)`); iso != strconv.FormatBool(c.isolated) {
				p.fatalf("crossOriginIsolated %s, want %v", iso, c.isolated)
			}
			// A reload would come once sw.js controls the page: long before it is ready.
			if n := loads(); n != c.loads {
				p.fatalf("the page loaded %d times, want %d", n, c.loads)
			}
			if c.path != "/frame.html" {
				if got := p.generate(prompt, false, maxTokens); !slices.Equal(got, want) {
					p.fatalf("page generated %v, t2 generate --greedy %v", got, want)
				}
			}
			t.Logf("%s", engine)
			p.checkConsole(nil)
			if c.name == "first-visit" || c.name == "frame" {
				p.screenshot("isolation-" + c.name)
			}
			if c.name == "first-visit" {
				// The page before the reload may be kept in the back/forward cache, and
				// DevTools' reload shows it again: it goes on to the isolated page.
				ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
				defer cancel()
				if _, err := chromedp.Run(ctx, chromedp.Reload()); err != nil {
					p.fatalf("reload: %v", err)
				}
				p.waitReady()
				if iso := p.eval(`String(crossOriginIsolated)`); iso != "true" {
					p.fatalf("after a reload, crossOriginIsolated %s", iso)
				}
			}
		})
	}
}

// countLoads counts the loads of the page's main frame from now on, or with frame, of
// the frames in it.
func (p *page) countLoads(frame bool) func() int {
	var mu sync.Mutex
	n := 0
	if err := chromedp.Listen(p.ctx, func(ev any) {
		if e, ok := ev.(*cdppage.EventFrameNavigated); ok && (e.Frame.ParentID != "") == frame {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}); err != nil {
		p.fatalf("listening to the page's loads: %v", err)
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
