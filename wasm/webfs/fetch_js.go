//go:build js && wasm

package webfs

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/hack-pad/safejs"
	"github.com/t2web/t2web/internal/promise"
)

// Fetch is the Getter of the browser: fetch(url), its body streamed from a
// ReadableStream reader. It awaits promises, so it must not run inside a js.FuncOf
// callback.
func Fetch(url string) (*Response, error) {
	fetch, err := safejs.Global().Get("fetch")
	if err != nil {
		return nil, err
	}
	p, err := fetch.Invoke(url)
	if err != nil {
		return nil, err
	}
	resp, err := promise.Await(p)
	if err != nil {
		return nil, err
	}
	code, err := getInt(resp, "status")
	if err != nil {
		return nil, err
	}
	text, _ := getString(resp, "statusText") // "" over HTTP/2
	if text == "" {
		text = statusText[code]
	}
	r := &Response{Code: code, Status: strings.TrimSpace(strconv.Itoa(code) + " " + text), Length: -1}

	headers, err := resp.Get("headers")
	if err != nil {
		return nil, err
	}
	marked, _ := headerValue(headers, "x-t2-bytes")
	r.Cached = marked != ""
	cl, _ := headerValue(headers, "Content-Length")
	ce, _ := headerValue(headers, "Content-Encoding")
	if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 && (ce == "" || ce == "identity") {
		r.Length = n // a compressed body's length is not what we read
	}

	body, err := resp.Get("body")
	if err != nil {
		return nil, err
	}
	if body.IsNull() || body.IsUndefined() {
		r.Body = io.NopCloser(strings.NewReader(""))
		return r, nil
	}
	reader, err := body.Call("getReader")
	if err != nil {
		return nil, fmt.Errorf("body.getReader: %w", err)
	}
	r.Body = &streamReader{reader: reader}
	return r, nil
}

// statusText names the statuses a static host answers; fetch gives no text over HTTP/2.
var statusText = map[int]string{
	200: "OK", 206: "Partial Content", 304: "Not Modified", 400: "Bad Request",
	401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone",
	429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Gateway Timeout",
}

// streamReader reads a ReadableStreamDefaultReader of Uint8Array chunks, each copied
// straight into the reader's buffer: a copy into Go and another out of it took about a
// tenth of the engine worker's time loading a pack.
type streamReader struct {
	reader  safejs.Value
	pending safejs.Value // the chunk being read (a Uint8Array), from off on
	off     int
	size    int   // pending's length; 0 when there is none
	err     error // sticky
}

func (s *streamReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for s.off == s.size {
		if s.err != nil {
			return 0, s.err
		}
		s.pending, s.size, s.err = s.next()
		s.off = 0
	}
	src := s.pending
	if s.off > 0 || s.size-s.off > len(p) {
		var err error
		if src, err = s.pending.Call("subarray", s.off, s.off+min(len(p), s.size-s.off)); err != nil {
			return 0, err
		}
	}
	n, err := safejs.CopyBytesToGo(p, src)
	if err != nil {
		return 0, err
	}
	s.off += n
	return n, nil
}

// next awaits the next chunk and its length; io.EOF at the end of the stream.
func (s *streamReader) next() (safejs.Value, int, error) {
	p, err := s.reader.Call("read")
	if err != nil {
		return safejs.Null(), 0, err
	}
	res, err := promise.Await(p)
	if err != nil {
		return safejs.Null(), 0, err
	}
	done, err := res.Get("done")
	if err != nil {
		return safejs.Null(), 0, err
	}
	if d, _ := done.Bool(); d {
		return safejs.Null(), 0, io.EOF
	}
	chunk, err := res.Get("value")
	if err != nil {
		return safejs.Null(), 0, err
	}
	n, err := getInt(chunk, "byteLength")
	if err != nil {
		return safejs.Null(), 0, err
	}
	return chunk, n, nil
}

func (s *streamReader) Close() error {
	if s.err == nil {
		s.err = errors.New("read after Close")
		s.reader.Call("cancel") // a promise; nothing to wait for
	}
	return nil
}

// memoryView returns data as a Uint8Array for a call that copies it at once, as
// SubtleCrypto.digest does: a view of Go's own wasm memory where the worker's script
// gives it (t2memory, goworker.js), else a copy, which took about a tenth of the
// engine worker's time loading a pack. A view holds only until the memory next grows.
func memoryView(u8 safejs.Value, data []byte) (safejs.Value, error) {
	mem, err := safejs.Global().Get("t2memory")
	if ok, _ := mem.Truthy(); err == nil && ok && len(data) > 0 {
		buf, err := mem.Get("buffer")
		if err != nil {
			return safejs.Null(), err
		}
		// A pointer in wasm is the offset in the module's linear memory.
		return u8.New(buf, int(uintptr(unsafe.Pointer(unsafe.SliceData(data)))), len(data))
	}
	arr, err := u8.New(len(data))
	if err != nil {
		return safejs.Null(), err
	}
	if _, err := safejs.CopyBytesToJS(arr, data); err != nil {
		return safejs.Null(), err
	}
	return arr, nil
}

func headerValue(headers safejs.Value, name string) (string, error) {
	v, err := headers.Call("get", name)
	if err != nil || v.IsNull() {
		return "", err
	}
	return v.String()
}

func getInt(v safejs.Value, name string) (int, error) {
	f, err := v.Get(name)
	if err != nil {
		return 0, err
	}
	return f.Int()
}

func getString(v safejs.Value, name string) (string, error) {
	f, err := v.Get(name)
	if err != nil {
		return "", err
	}
	return f.String()
}

// SHA256 hashes data with the browser's SubtleCrypto: Go's crypto/sha256 compiled
// to wasm hashes about 14 MB/s, which made checking a 177 MiB pack take 12 s.
func SHA256(data []byte) ([32]byte, error) {
	var sum [32]byte
	u8, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return sum, err
	}
	arr, err := memoryView(u8, data)
	if err != nil {
		return sum, err
	}
	crypto, err := safejs.Global().Get("crypto")
	if err != nil {
		return sum, err
	}
	subtle, err := crypto.Get("subtle")
	if err != nil {
		return sum, err
	}
	p, err := subtle.Call("digest", "SHA-256", arr)
	if err != nil {
		return sum, err
	}
	buf, err := promise.Await(p)
	if err != nil {
		return sum, err
	}
	out, err := u8.New(buf)
	if err != nil {
		return sum, err
	}
	if n, err := safejs.CopyBytesToGo(sum[:], out); err != nil || n != len(sum) {
		return sum, fmt.Errorf("SubtleCrypto digest: %d bytes, %v", n, err)
	}
	return sum, nil
}
