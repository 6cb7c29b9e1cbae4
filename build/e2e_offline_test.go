package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// subPath is where TestE2EOffline serves the site, as GitHub Pages serves a project.
const subPath = "/t2web/"

// TestE2EOffline serves the built site under a sub-path and checks, in headless
// Chromium, that it works there and offline: a greedy generation equals t2 generate's;
// after the service worker has cached the shell and the pack, a reload with the network
// off (the server refusing every request, and CDP's offline emulation) loads the pack and
// answers the same; no request leaves the page's origin (the browser's proxy is the test
// server, which records every request); a shard with a wrong sha256 and a pack that
// 404s each show a visible error and are not cached; a full storage quota is reported
// with the pack's name and size; a pack can be removed from the cache; and package
// store's IndexedDB data survives a reload.
func TestE2EOffline(t *testing.T) {
	browser := findChromium(t)

	site := buildTestSite(t)
	packDir := filepath.Join(site, "models", "default")
	copyPack(t, packDir, filepath.Join(site, "models", "bad"), true)
	copyPack(t, packDir, filepath.Join(site, "models", "big"), false)
	buildProbe(t, site)

	s := newOfflineServer(t, site)
	bctx, browserOut := startBrowser(t, browser,
		chromedp.ProxyServer(s.srv.URL),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"), // loopback too goes through the proxy
	)
	defer func() {
		if t.Failed() {
			t.Logf("browser output:\n%s", browserOut.String())
		}
	}()
	origin := s.srv.URL
	base := origin + subPath
	defaultPack := base + "models/default/"

	p := openPage(t, bctx, base)
	var pageRequests []string // every request of the page's target, as CDP reports it
	var mu sync.Mutex
	if err := chromedp.Listen(p.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			pageRequests = append(pageRequests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	const prompt, maxTokens = "The quick brown fox", 8
	var want []int

	t.Run("online", func(t *testing.T) {
		p.t = t
		p.waitReady()
		got, chat := generateIDs(p, prompt, maxTokens)
		want = nativeGenerate(t, []string{"--pack", packDir}, prompt, chat, maxTokens)
		if !slices.Equal(got, want) {
			p.fatalf("under %s the page generated %v, t2 generate --greedy %v", subPath, got, want)
		}
		// The service worker controls the page and has stored the whole pack.
		pk := waitPack(p, defaultPack, func(pk cachedPack) bool { return pk.Complete }, time.Minute)
		u := evalJSON[struct{ Usage, Quota int64 }](p, `t2cache.estimate()`)
		t.Logf("cached %s: %d files, %d bytes, %d/%d shards; storage %d of %d bytes", pk.URL, pk.Files, pk.Bytes, pk.CachedShards, pk.Shards, u.Usage, u.Quota)
		if u.Usage <= pk.Bytes {
			t.Errorf("storage estimate %d bytes, less than the cached pack's %d", u.Usage, pk.Bytes)
		}
		// The trainer is cached once the page has loaded: after the pack's shards, which
		// the engine reads before it is ready, and not while the service worker installs.
		for deadline := time.Now().Add(time.Minute); !evalJSON[bool](p, `(async () => {
			for (const k of await caches.keys()) if (k.startsWith('t2-shell-') && await (await caches.open(k)).match('trainer.wasm')) return true;
			return false;
		})()`); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				p.fatalf("a minute after the load, the shell cache has no trainer.wasm")
			}
		}
		order := s.servedOrder()
		trainer, lastShard := slices.Index(order, "trainer.wasm"), -1
		for i, path := range order {
			if strings.HasPrefix(path, "models/default/") && strings.HasSuffix(path, ".safetensors") {
				lastShard = i
			}
		}
		if trainer < 0 || lastShard < 0 || trainer < lastShard {
			t.Errorf("requests in order %q: want trainer.wasm after the last shard of models/default", order)
		}
		p.checkConsole(nil)
	})
	if want == nil {
		t.Fatal("no generation online: the offline checks need one")
	}

	t.Run("offline", func(t *testing.T) {
		p.t = t
		s.setOffline(true)
		defer s.setOffline(false)
		setBrowserOffline(p, true)
		defer setBrowserOffline(p, false)
		if _, err := http.Get(base); err == nil {
			t.Fatal("the server still answers while offline")
		}
		run1(p, chromedp.Reload())
		p.waitReady()
		got, _ := generateIDs(p, prompt, maxTokens)
		if !slices.Equal(got, want) {
			p.fatalf("offline the page generated %v, online %v", got, want)
		}
		// The trainer, cached after the first load, starts offline too.
		if n := evalJSON[int](p, `fetch('trainer.wasm').then((r) => r.ok ? r.arrayBuffer() : new ArrayBuffer(0)).then((b) => b.byteLength)`); n < 1<<20 {
			p.fatalf("offline, trainer.wasm is %d bytes, want the cached module", n)
		}
		t.Logf("offline: loaded and generated %v; the server refused %d requests meanwhile: %v", got, len(s.refused()), s.refused())
	})

	t.Run("origin", func(t *testing.T) {
		mu.Lock()
		reqs := slices.Clone(pageRequests)
		mu.Unlock()
		for _, u := range reqs {
			if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
				t.Errorf("the page requested %s, outside its origin %s", u, origin)
			}
		}
		// Chromium's own services (component updates, network time, accounts, autofill)
		// reach the proxy too, without the page; anything else would be the page's.
		var browserOwn int
		for _, f := range s.foreignRequests() {
			if chromiumService(f.host) && !strings.HasPrefix(f.referer, origin) {
				browserOwn++
				continue
			}
			t.Errorf("a request outside the page's origin reached the proxy: %s %s (referer %q)", f.method, f.url, f.referer)
		}
		t.Logf("%d requests of the page's target, all to %s; the proxy saw %d requests, %d of them Chromium's own services", len(reqs), origin, s.count.Load(), browserOwn)
	})

	t.Run("bad-sha256", func(t *testing.T) {
		q := openPage(t, bctx, base+"?pack=models/bad/")
		if st := q.waitState(time.Minute, "error", "ready"); st != "error" {
			q.fatalf("page state %q, want error", st)
		}
		run1(q, chromedp.WaitVisible("#error"))
		msg := q.text("#error")
		if !strings.Contains(msg, "sha256") || !strings.Contains(msg, "weights-00001.safetensors") {
			q.fatalf("#error says %q, want it to name the shard and its sha256", msg)
		}
		t.Logf("#error: %s", msg)
		for _, pk := range evalJSON[[]cachedPack](q, `t2cache.packs()`) {
			if pk.URL == base+"models/bad/" && pk.CachedShards != 0 {
				t.Errorf("the corrupted shard was cached: %+v", pk)
			}
		}
	})

	t.Run("missing-pack", func(t *testing.T) {
		q := openPage(t, bctx, base+"?pack=models/missing/")
		if st := q.waitState(time.Minute, "error", "ready"); st != "error" {
			q.fatalf("page state %q, want error", st)
		}
		run1(q, chromedp.WaitVisible("#error"))
		msg := q.text("#error")
		if !strings.Contains(msg, "models/missing/") || !strings.Contains(msg, "404") {
			q.fatalf("#error says %q, want the missing pack's 404", msg)
		}
		t.Logf("#error: %s", msg)
		for _, pk := range evalJSON[[]cachedPack](q, `t2cache.packs()`) {
			if strings.Contains(pk.URL, "missing") {
				t.Errorf("a pack that 404s has a cache: %+v", pk)
			}
		}
	})

	t.Run("quota", func(t *testing.T) {
		q := openPage(t, bctx, base)
		q.waitReady()
		u := evalJSON[struct{ Usage int64 }](q, `t2cache.estimate()`)
		quota := float64(u.Usage + 16<<10) // room for pack.json, not for the shard
		if _, err := chromedp.Call(q.ctx, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin, QuotaSize: &quota}); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Call(q.ctx, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: origin})
		r := openPage(t, bctx, base+"?pack=models/big/")
		r.waitReady() // the pack loads; only storing it fails
		type cacheErr struct{ Name, Pack, Text string }
		var e cacheErr
		deadline := time.Now().Add(30 * time.Second)
		for {
			errs := evalJSON[[]cacheErr](r, `Promise.resolve(t2cache.errors)`)
			if len(errs) > 0 {
				e = errs[0]
				break
			}
			if time.Now().After(deadline) {
				r.fatalf("no storage error after 30 s with a quota of %.0f bytes (usage %d)", quota, u.Usage)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("%s: %s", e.Name, e.Text)
		if e.Name != "QuotaExceededError" || e.Pack != base+"models/big/" ||
			!strings.Contains(e.Text, "Storage is full") || !strings.Contains(e.Text, "models/big/") || !strings.Contains(e.Text, defaultPack) {
			r.fatalf("storage error %+v: want a QuotaExceededError naming models/big/ and, to remove, %s", e, defaultPack)
		}
		if handled := r.eval(`String(!!t2cache.onerror)`); handled == "false" {
			run1(r, chromedp.WaitVisible("#storage-error"))
		}
	})

	t.Run("remove", func(t *testing.T) {
		if !evalJSON[bool](p, `t2cache.remove('models/default/')`) {
			t.Fatal("t2cache.remove('models/default/') found no cached pack")
		}
		for _, pk := range evalJSON[[]cachedPack](p, `t2cache.packs()`) {
			if pk.URL == defaultPack {
				t.Fatalf("the removed pack is still listed: %+v", pk)
			}
		}
	})

	t.Run("store", func(t *testing.T) {
		q := openPage(t, bctx, base+"probe.html")
		waitProbe(q)
		expert := strings.Repeat("z\u00e9\x00\x01", 1000) // a string: the probe passes text
		for _, c := range [][3]string{{"chats", "c1", `{"messages":["hi"]}`}, {"fewshot", "math", "a,b\n1,2\n"}, {"experts", "mine", expert}} {
			evalJSON[bool](q, fmt.Sprintf(`t2probe.put(%q, %q, %q).then(JSON.parse)`, c[0], c[1], c[2]))
		}
		run1(q, chromedp.Reload())
		waitProbe(q)
		if got := evalJSON[string](q, `t2probe.get("experts", "mine").then(JSON.parse)`); got != expert {
			t.Errorf("after a reload experts/mine is %d bytes, want the %d put", len(got), len(expert))
		}
		if got := evalJSON[string](q, `t2probe.get("chats", "c1").then(JSON.parse)`); got != `{"messages":["hi"]}` {
			t.Errorf("after a reload chats/c1 is %q", got)
		}
		type entry struct {
			Key  string
			Size int
		}
		if got := evalJSON[[]entry](q, `t2probe.list("fewshot").then(JSON.parse)`); len(got) != 1 || got[0].Key != "math" || got[0].Size != 8 {
			t.Errorf("list fewshot = %+v, want math of 8 bytes", got)
		}
		evalJSON[bool](q, `t2probe.del("chats", "c1").then(JSON.parse)`)
		if got := evalJSON[string](q, `t2probe.get("chats", "c1")`); got != "null" {
			t.Errorf("chats/c1 after delete: %s, want null", got)
		}
		if got := evalJSON[string](q, `t2probe.put("nope", "k", "v").then(() => "ok", (e) => String(e))`); !strings.Contains(got, "unknown kind") {
			t.Errorf("put of an unknown kind: %s", got)
		}
		q.checkConsole(nil)
	})
}

// cachedPack is an entry of t2cache.packs().
type cachedPack struct {
	URL                         string
	Bytes                       int64
	Files, Shards, CachedShards int
	Complete                    bool
}

// generateIDs asks the page for n greedy tokens of prompt, as a new conversation (the
// page keeps the last one across reloads), and returns their ids, and whether the chat
// box was ticked.
func generateIDs(p *page, prompt string, n int) ([]int, bool) {
	p.t.Helper()
	run1(p, chromedp.Evaluate[bool](`(() => { const b = document.querySelector('#clear-chat'); if (b && !b.disabled) b.click(); return true; })()`))
	p.pollTrue(`document.querySelectorAll('#messages li').length === 0`, 10*time.Second)
	if got := p.value("#temperature"); got != "0" {
		p.setField("#temperature", "0")
	}
	// The page answers with T² by default; this holds its base weights to t2 generate's.
	p.waitOption("#strategy", "none")
	p.setSelect("#strategy", "none")
	p.setField("#max-tokens", fmt.Sprint(n))
	p.setField("#prompt", "")
	run1(p, chromedp.SendKeys("#prompt", prompt))
	chat := run1(p, chromedp.Evaluate[bool](`!!document.querySelector('#chat')?.checked`))
	run1(p, chromedp.Click("#generate"))
	if st := p.waitState(2*time.Minute, "done", "error"); st != "done" {
		p.fatalf("page state %q, want done; #error: %s", st, p.text("#error"))
	}
	var ids []int
	if err := json.Unmarshal([]byte(p.text("#ids")), &ids); err != nil {
		p.fatalf("#ids: %v", err)
	}
	return ids, chat
}

// waitPack waits until the service worker controls the page and t2cache.packs() lists
// url in a state ok accepts.
func waitPack(p *page, url string, ok func(cachedPack) bool, timeout time.Duration) cachedPack {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if p.eval(`String(!!navigator.serviceWorker.controller)`) == "true" {
			for _, pk := range evalJSON[[]cachedPack](p, `t2cache.packs()`) {
				if pk.URL == url && ok(pk) {
					return pk
				}
			}
		}
		if time.Now().After(deadline) {
			p.fatalf("after %v: controller %s, cached packs %s", timeout,
				p.eval(`String(navigator.serviceWorker.controller?.scriptURL)`),
				p.eval(`t2cache.packs().then(JSON.stringify)`))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// evalJSON evaluates expr (a promise, awaited) on the page and decodes its value.
func evalJSON[T any](p *page, expr string) T {
	p.t.Helper()
	return run1(p, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func waitProbe(p *page) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](`window.probeReady === true`,
		chromedp.WithPollingTimeout(time.Minute))); err != nil {
		p.fatalf("the store probe did not start: %v (#error %q)", err, p.text("#error"))
	}
}

// emulateNetworkConditions is CDP's Network.emulateNetworkConditions (deprecated in
// favour of emulateNetworkConditionsByRule, which cdproto has; Chromium still takes it).
var emulateNetworkConditions = cdp.Command[emulateNetworkParams, cdp.Empty]{Method: "Network.emulateNetworkConditions"}

type emulateNetworkParams struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

// setBrowserOffline turns CDP's offline emulation of the page on or off.
func setBrowserOffline(p *page, offline bool) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulateNetworkConditions, emulateNetworkParams{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		p.fatalf("Network.emulateNetworkConditions offline=%v: %v", offline, err)
	}
}

// offlineServer serves the site under subPath and is also the browser's proxy, so every
// request of the browser — of the page, its workers and the service worker, to any
// origin — arrives here and is counted. Offline, it drops every connection.
type offlineServer struct {
	srv     *httptest.Server
	site    http.Handler
	offline atomic.Bool
	count   atomic.Int64

	mu      sync.Mutex
	foreign []foreignRequest // requests for another host
	dropped []string         // requests while offline
	served  []string         // the paths of the requests answered, in order
}

func newOfflineServer(t *testing.T, site string) *offlineServer {
	s := &offlineServer{site: http.StripPrefix(strings.TrimSuffix(subPath, "/"), siteHandler(site, log.New(testWriter{t}, "serve: ", 0)))}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *offlineServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.count.Add(1)
	host := strings.TrimPrefix(s.srv.URL, "http://")
	if r.Method == http.MethodConnect || (r.URL.Host != "" && r.URL.Host != host) {
		s.mu.Lock()
		s.foreign = append(s.foreign, foreignRequest{method: r.Method, url: r.URL.String(), host: r.Host, referer: r.Referer()})
		s.mu.Unlock()
		http.Error(w, "t2web tests: no requests outside the page's origin", http.StatusForbidden)
		return
	}
	if s.offline.Load() {
		s.mu.Lock()
		s.dropped = append(s.dropped, r.URL.Path)
		s.mu.Unlock()
		panic(http.ErrAbortHandler) // the connection closes without an answer
	}
	if !strings.HasPrefix(r.URL.Path, subPath) {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.served = append(s.served, strings.TrimPrefix(r.URL.Path, subPath))
	s.mu.Unlock()
	s.site.ServeHTTP(w, r)
}

// servedOrder returns the paths (under subPath) of the requests answered so far, in order.
func (s *offlineServer) servedOrder() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.served)
}

func (s *offlineServer) setOffline(off bool) { s.offline.Store(off) }

func (s *offlineServer) refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dropped)
}

// foreignRequest is a request for another host than the test server's.
type foreignRequest struct{ method, url, host, referer string }

// chromiumService reports whether host (with or without a port) is one of Google's that
// Chromium itself calls.
func chromiumService(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	for _, d := range []string{".google.com", ".googleapis.com", ".gvt1.com", ".gstatic.com"} {
		if strings.HasSuffix("."+h, d) {
			return true
		}
	}
	return false
}

func (s *offlineServer) foreignRequests() []foreignRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.foreign)
}

// copyPack copies the pack folder src to dst; corrupt flips a byte in the middle of
// the first shard (pack.json keeps the right sha256).
func copyPack(t *testing.T, src, dst string, corrupt bool) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if !corrupt {
		return
	}
	shard := filepath.Join(dst, "weights-00001.safetensors")
	b, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	if err := os.WriteFile(shard, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildProbe builds web/store/probe into site/probe.wasm and writes probe.html, a page
// that runs it and sets window.probeReady once t2probe is there.
func buildProbe(t *testing.T, site string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(site, "probe.wasm"), "./web/store/probe")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the store probe: %v\n%s", err, out)
	}
	html := `<!doctype html><meta charset="utf-8"><title>store probe</title><link rel="icon" href="data:,">
<p id="error"></p>
<script src="wasm_exec.js"></script><script src="t2cache.js"></script>
<script>
window.t2probeReady = () => { window.probeReady = true; };
(async () => {
  const go = new Go();
  try {
    const { instance } = await WebAssembly.instantiateStreaming(fetch('probe.wasm'), go.importObject);
    await go.run(instance);
  } catch (err) {
    document.getElementById('error').textContent = String(err);
  }
})();
</script>
`
	if err := os.WriteFile(filepath.Join(site, "probe.html"), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
}
