package webfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"sync"
	"time"
)

// FS is the fs.FS of a checkpoint folder or pack served over HTTP. Open downloads a
// whole file into memory, reporting progress as it goes, and keeps it for later Opens
// (unless Transient); the files it returns implement io.ReaderAt, so model.Load reads
// tensors from them lazily. Prefetch starts downloads ahead of the reads that take them.
// A 404 is fs.ErrNotExist, so optional files (generation_config.json) may be missing;
// it is remembered, as the folder is a static one.
type FS struct {
	base    *url.URL // the folder, absolute, path ending in "/"
	Display string   // the folder as the user wrote it, for messages
	get     Getter

	// Progress, when not nil, is called as each file downloads, at most every
	// progressEvery, and once more when it is complete. total is -1 when unknown.
	Progress func(name string, loaded, total int64)
	// Transient, when not nil, names the files the folder does not keep: a pack's weight
	// shards, which the CPU engine's tensors hold (ReadFile hands them over) and the GPU
	// engine reads once, into device buffers.
	Transient func(name string) bool
	// Downloaded, when not nil, is called with each file a read (Open, ReadFile) fetched
	// from the network (not from the browser's offline copy, Response.Cached), whole,
	// before the read returns.
	Downloaded func(name string, data []byte)

	mu      sync.Mutex
	files   map[string][]byte
	missing map[string]error  // the files the server does not have (404, 410): their error
	fetches map[string]*fetch // downloads Prefetch started that no read has taken yet
}

// fetch is a download under way in its own goroutine (Prefetch).
type fetch struct {
	done   chan struct{} // closed when the fields below are set
	data   []byte
	cached bool
	err    error
}

// progressEvery is the least time between two progress reports of one file.
const progressEvery = 100 * time.Millisecond

// Getter starts an HTTP GET of an absolute URL. In the browser it is Fetch (fetch,
// without net/http, which would add a megabyte to engine.wasm); natively, in tests,
// net/http.
type Getter func(url string) (*Response, error)

// Response is the start of an HTTP answer.
type Response struct {
	Code   int           // status code, e.g. 404
	Status string        // e.g. "404 Not Found"
	Length int64         // body length, -1 when unknown (or compressed)
	Body   io.ReadCloser // the body, streamed
	// Cached says the answer is the offline copy sw.js keeps, which marks every file it
	// stores with an x-t2-bytes header.
	Cached bool
}

// New returns the file system of the folder at ref, resolved against the
// document at page (the page's or worker's own URL), downloaded with get.
func New(page, ref string, get Getter) (*FS, error) {
	if ref == "" {
		return nil, errors.New("model URL is empty")
	}
	p, err := url.Parse(page)
	if err != nil {
		return nil, fmt.Errorf("page URL %q: %w", page, err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("model URL %q: %w", ref, err)
	}
	base := p.ResolveReference(r)
	base.RawQuery, base.Fragment = "", ""
	display := ref
	if len(base.Path) == 0 || base.Path[len(base.Path)-1] != '/' {
		base.Path += "/"
		base.RawPath = ""
		display += "/"
	}
	return &FS{base: base, Display: display, get: get, files: map[string][]byte{},
		missing: map[string]error{}, fetches: map[string]*fetch{}}, nil
}

// statusError is an HTTP answer other than 200 OK.
type statusError struct {
	URL    string // as the user wrote it
	Code   int
	Status string // e.g. "404 Not Found"
}

func (e *statusError) Error() string { return e.URL + ": HTTP " + e.Status }

// Unwrap makes a missing file fs.ErrNotExist.
func (e *statusError) Unwrap() error {
	if e.Code == 404 || e.Code == 410 { // Not Found, Gone
		return fs.ErrNotExist
	}
	return nil
}

// Open downloads the file name of the folder, or returns the copy it already holds.
func (h *FS) Open(name string) (fs.File, error) {
	b, err := h.read("open", name)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(b), name: path.Base(name), size: int64(len(b))}, nil
}

// Prefetch starts downloading the named files the folder does not hold yet, each in its
// own goroutine, for the reads that follow: each small file took 50–500 ms through sw.js
// in the page, one after the other. The first read of a name waits for its download and
// takes it, errors included; Downloaded and keeping happen then, as for any read.
// A prefetched file no read takes stays in memory as long as the folder.
func (h *FS) Prefetch(names ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		_, held := h.files[name]
		_, started := h.fetches[name]
		if held || started || h.missing[name] != nil || !validPath(name) {
			continue
		}
		f := &fetch{done: make(chan struct{})}
		h.fetches[name] = f
		go func() {
			defer close(f.done)
			f.data, f.cached, f.err = h.download(name)
		}()
	}
}

// validPath tells whether name can name a file of the folder.
func validPath(name string) bool { return fs.ValidPath(name) && name != "." }

// keeps tells whether the folder keeps name once read (it is not Transient).
func (h *FS) keeps(name string) bool { return h.Transient == nil || !h.Transient(name) }

// read returns the copy of name the folder keeps, or downloads it, or takes the download
// Prefetch started (and keeps it unless Transient); an error is an *fs.PathError of op.
// A file the server does not have is not asked for again: the load asks for a pack's
// missing experts/index.json three times.
func (h *FS) read(op, name string) ([]byte, error) {
	if !validPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	b, err := h.fetched(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return b, nil
}

// fetched is read's work, its errors unwrapped.
func (h *FS) fetched(name string) ([]byte, error) {
	h.mu.Lock()
	b, ok := h.files[name]
	missing := h.missing[name]
	f := h.fetches[name]
	delete(h.fetches, name)
	h.mu.Unlock()
	if ok {
		return b, nil
	}
	if missing != nil {
		return nil, missing
	}
	var cached bool
	var err error
	if f != nil {
		<-f.done
		b, cached, err = f.data, f.cached, f.err
	} else {
		b, cached, err = h.download(name)
	}
	if errors.Is(err, fs.ErrNotExist) {
		h.mu.Lock()
		h.missing[name] = err
		h.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	if h.Downloaded != nil && !cached {
		h.Downloaded(name, b)
	}
	if h.keeps(name) {
		h.mu.Lock()
		h.files[name] = b
		h.mu.Unlock()
	}
	return b, nil
}

// ReadFile returns the whole file name (fs.ReadFileFS), downloading it as Open does. A
// file the folder does not keep (Transient) is returned as downloaded, without the copy
// fs.ReadFile would make through Open: nothing else holds it, and copying a 64 MiB
// shard cost a quarter of a second in the page. A kept file is returned as a copy.
func (h *FS) ReadFile(name string) ([]byte, error) {
	b, err := h.read("readfile", name)
	if err == nil && h.keeps(name) {
		b = slices.Clone(b)
	}
	return b, err
}

// URL is the absolute URL of the file name of the folder.
func (h *FS) URL(name string) string {
	return h.base.ResolveReference(&url.URL{Path: name}).String()
}

// download reads the file name into memory, and says whether it came from the offline
// copy (Response.Cached).
func (h *FS) download(name string) (data []byte, cached bool, err error) {
	display := h.Display + name
	resp, err := h.get(h.URL(name))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", display, err)
	}
	defer resp.Body.Close()
	if resp.Code != 200 {
		return nil, false, &statusError{URL: display, Code: resp.Code, Status: resp.Status}
	}

	total := resp.Length // -1 when unknown
	var buf []byte
	if total > 0 && total <= 1<<31 {
		buf = make([]byte, 0, total)
	}
	report := func(loaded int64) {
		if h.Progress == nil {
			return
		}
		t := total
		if t >= 0 && loaded > t { // a compressed length: the server did not say the real one
			t = -1
		}
		h.Progress(name, loaded, t)
	}
	report(0)
	last := time.Now()
	var probe [512]byte // reads past the announced length, which should find only EOF
	for {
		dst := buf[len(buf):cap(buf)]
		atEnd := len(dst) == 0 && total >= 0 && int64(len(buf)) >= total
		if atEnd {
			dst = probe[:]
		} else if len(dst) == 0 {
			buf = slices.Grow(buf, 256<<10)
			dst = buf[len(buf):cap(buf)]
		}
		n, err := resp.Body.Read(dst)
		if atEnd {
			buf = append(buf, probe[:n]...)
		} else {
			buf = buf[:len(buf)+n]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s: after %d bytes: %w", display, len(buf), err)
		}
		if time.Since(last) >= progressEvery {
			report(int64(len(buf)))
			last = time.Now()
		}
	}
	if total >= 0 && int64(len(buf)) < total {
		return nil, false, fmt.Errorf("%s: got %d of %d bytes", display, len(buf), total)
	}
	report(int64(len(buf)))
	return buf, resp.Cached, nil
}

// memFile is a downloaded file: an fs.File that is also an io.ReaderAt and io.Seeker.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f.name, f.size}, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
