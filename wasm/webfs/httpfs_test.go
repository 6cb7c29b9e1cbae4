//go:build !(js && wasm)

package webfs

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHTTPFSResolve(t *testing.T) {
	for _, tc := range []struct {
		page, ref, base, display string
	}{
		{"http://h/app/worker.js", "models/default/", "http://h/app/models/default/", "models/default/"},
		{"http://h/app/worker.js", "models/default", "http://h/app/models/default/", "models/default/"},
		{"http://h/app/worker.js", "/m/", "http://h/m/", "/m/"},
		{"http://h/app/worker.js", "https://cdn.example/m/x?y=1#z", "https://cdn.example/m/x/", "https://cdn.example/m/x?y=1#z/"},
	} {
		h, err := New(tc.page, tc.ref, HTTPGet(http.DefaultClient))
		if err != nil {
			t.Fatalf("New(%q, %q): %v", tc.page, tc.ref, err)
		}
		if got := h.base.String(); got != tc.base {
			t.Errorf("New(%q, %q).base = %q, want %q", tc.page, tc.ref, got, tc.base)
		}
		if h.Display != tc.display {
			t.Errorf("New(%q, %q).Display = %q, want %q", tc.page, tc.ref, h.Display, tc.display)
		}
	}
	if _, err := New("http://h/", "", HTTPGet(http.DefaultClient)); err == nil {
		t.Error("New with an empty URL: no error")
	}
}

func TestHTTPFS(t *testing.T) {
	var zeroTime time.Time
	content := strings.Repeat("0123456789abcdef", 100_000) // 1.6 MB, many reads
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/m/model.safetensors":
			io.WriteString(w, content) // large: chunked, no Content-Length
		case "/m/config.json":
			http.ServeContent(w, r, "config.json", zeroTime, strings.NewReader(`{"a":1}`))
		case "/m/broken.json":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	h, err := New(srv.URL+"/page/worker.js", "../m/", HTTPGet(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	var last [2]int64
	h.Progress = func(name string, loaded, total int64) {
		if name == "config.json" {
			last = [2]int64{loaded, total}
		}
	}

	b, err := fs.ReadFile(h, "config.json")
	if err != nil || string(b) != `{"a":1}` {
		t.Fatalf("ReadFile(config.json) = %q, %v", b, err)
	}
	if last != [2]int64{7, 7} {
		t.Errorf("last progress of config.json = %v, want [7 7]", last)
	}

	f, err := h.Open("model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		t.Fatalf("%T is not an io.ReaderAt", f)
	}
	got := make([]byte, 16)
	if _, err := ra.ReadAt(got, 16*99_999); err != nil || string(got) != "0123456789abcdef" {
		t.Errorf("ReadAt(last 16 bytes) = %q, %v", got, err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != int64(len(content)) || st.Name() != "model.safetensors" {
		t.Errorf("Stat = %v, %v; want size %d", st, err, len(content))
	}

	n := requests.Load()
	if _, err := h.Open("model.safetensors"); err != nil {
		t.Fatal(err)
	}
	if requests.Load() != n {
		t.Error("second Open downloaded the file again")
	}

	_, err = h.Open("generation_config.json")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
	if want := "../m/generation_config.json: HTTP 404 Not Found"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open(missing) = %v, want it to say %q", err, want)
	}
	_, err = h.Open("broken.json")
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "HTTP 500 Internal Server Error") {
		t.Errorf("Open(broken) = %v, want an HTTP 500 error that is not fs.ErrNotExist", err)
	}
	if _, err := h.Open("../etc/passwd"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../etc/passwd) = %v, want fs.ErrInvalid", err)
	}
}

// TestHTTPFSDownloaded holds FS.Downloaded to what the engine worker relies on to hand
// shards to sw.js: each file fetched from the network once, whole, with its absolute
// URL; not a file the offline copy answered (Response.Cached), a kept one opened again,
// nor a missing one.
func TestHTTPFSDownloaded(t *testing.T) {
	files := map[string]string{"/m/a.bin": "network bytes", "/m/b.bin": "cached bytes"}
	get := func(url string) (*Response, error) {
		path := strings.TrimPrefix(url, "http://h")
		body, ok := files[path]
		if !ok {
			return &Response{Code: 404, Status: "404 Not Found", Length: 0, Body: io.NopCloser(strings.NewReader(""))}, nil
		}
		return &Response{Code: 200, Status: "200 OK", Length: int64(len(body)), Body: io.NopCloser(strings.NewReader(body)),
			Cached: path == "/m/b.bin"}, nil
	}
	h, err := New("http://h/app/worker.js", "/m/", get)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	h.Downloaded = func(name string, data []byte) {
		if _, twice := got[h.URL(name)]; twice {
			t.Errorf("Downloaded(%s) twice", name)
		}
		got[h.URL(name)] = string(data)
	}
	for _, name := range []string{"a.bin", "b.bin", "a.bin", "missing.bin"} {
		fs.ReadFile(h, name)
	}
	want := map[string]string{"http://h/m/a.bin": "network bytes"}
	if len(got) != len(want) || got["http://h/m/a.bin"] != want["http://h/m/a.bin"] {
		t.Errorf("Downloaded saw %q, want %q", got, want)
	}
}

// TestHTTPFSReadFile holds ReadFile to fs.ReadFileFS's contract, which the pack's shard
// reads rely on: the bytes are the caller's. A kept file comes back as a copy, so
// changing it changes neither the folder's copy nor a later read; a Transient one comes
// back as downloaded, each read downloading it again.
func TestHTTPFSReadFile(t *testing.T) {
	var requests atomic.Int32
	get := func(url string) (*Response, error) {
		requests.Add(1)
		if !strings.HasSuffix(url, ".bin") {
			return &Response{Code: 404, Status: "404 Not Found", Length: 0, Body: io.NopCloser(strings.NewReader(""))}, nil
		}
		return &Response{Code: 200, Status: "200 OK", Length: 5, Body: io.NopCloser(strings.NewReader("bytes"))}, nil
	}
	h, err := New("http://h/app/worker.js", "/m/", get)
	if err != nil {
		t.Fatal(err)
	}
	h.Transient = func(name string) bool { return name == "shard.bin" }
	for _, tc := range []struct {
		name      string
		downloads int32 // by two ReadFiles
	}{
		{"kept.bin", 1},
		{"shard.bin", 2},
	} {
		before := requests.Load()
		for i := range 2 {
			b, err := h.ReadFile(tc.name)
			if err != nil || string(b) != "bytes" {
				t.Fatalf("ReadFile(%s) #%d = %q, %v; want \"bytes\"", tc.name, i+1, b, err)
			}
			b[0] = 'X' // the caller's to change
		}
		if n := requests.Load() - before; n != tc.downloads {
			t.Errorf("two ReadFile(%s) downloaded it %d times, want %d", tc.name, n, tc.downloads)
		}
		if b, err := fs.ReadFile(h, tc.name); err != nil || string(b) != "bytes" {
			t.Errorf("fs.ReadFile(%s) after changing ReadFile's bytes = %q, %v", tc.name, b, err)
		}
	}
	if _, err := h.ReadFile("missing.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := h.ReadFile("../x.bin"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadFile(../x.bin) = %v, want fs.ErrInvalid", err)
	}
}

// TestHTTPFSPrefetch holds Prefetch to what the page's load relies on: the downloads run
// together, each read takes its file's download (Downloaded called then, once), errors
// included, and a file the server lacks is asked for once.
func TestHTTPFSPrefetch(t *testing.T) {
	files := map[string]string{"/m/a.json": "aa", "/m/shard.bin": "shard bytes"}
	var mu sync.Mutex
	gets := map[string]int{}
	started := make(chan string, 8)
	release := make(chan struct{})
	get := func(url string) (*Response, error) {
		path := strings.TrimPrefix(url, "http://h")
		mu.Lock()
		gets[path]++
		mu.Unlock()
		started <- path
		<-release
		body, ok := files[path]
		if !ok {
			return &Response{Code: 404, Status: "404 Not Found", Length: 0, Body: io.NopCloser(strings.NewReader(""))}, nil
		}
		return &Response{Code: 200, Status: "200 OK", Length: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}, nil
	}
	h, err := New("http://h/app/worker.js", "/m/", get)
	if err != nil {
		t.Fatal(err)
	}
	h.Transient = func(name string) bool { return name == "shard.bin" }
	var downloaded []string
	h.Downloaded = func(name string, _ []byte) { downloaded = append(downloaded, name) }

	h.Prefetch("a.json", "missing.json", "shard.bin", "a.json", "../bad")
	seen := map[string]bool{}
	for range 3 { // all three under way before any answers
		select {
		case p := <-started:
			seen[p] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("Prefetch started only %v", seen)
		}
	}
	if len(downloaded) != 0 {
		t.Errorf("Downloaded(%v) before any read", downloaded)
	}
	close(release)

	for _, tc := range []struct{ name, want string }{{"a.json", "aa"}, {"shard.bin", "shard bytes"}, {"a.json", "aa"}} {
		if b, err := fs.ReadFile(h, tc.name); err != nil || string(b) != tc.want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", tc.name, b, err, tc.want)
		}
	}
	for range 2 {
		if _, err := h.Open("missing.json"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(missing.json) = %v, want fs.ErrNotExist", err)
		}
	}
	want := map[string]int{"/m/a.json": 1, "/m/missing.json": 1, "/m/shard.bin": 1}
	mu.Lock()
	if !maps.Equal(gets, want) {
		t.Errorf("downloads %v, want %v (prefetched files read, a missing one asked for twice)", gets, want)
	}
	mu.Unlock()
	if !slices.Equal(downloaded, []string{"a.json", "shard.bin"}) {
		t.Errorf("Downloaded saw %q, want a.json then shard.bin, as read", downloaded)
	}
	// A Transient file is the reader's: the next read downloads it again.
	if _, err := h.ReadFile("shard.bin"); err != nil || gets["/m/shard.bin"] != 2 {
		t.Errorf("ReadFile(shard.bin) again: %v, %d downloads; want 2", err, gets["/m/shard.bin"])
	}
}
