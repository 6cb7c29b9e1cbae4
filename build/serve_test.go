package main

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSiteHandler(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"index.html":           "<!doctype html>",
		"ui.wasm":              "\x00asm",
		"worker.js":            "importScripts('wasm_exec.js')",
		"style.css":            "body{}",
		"models/m/config.json": "{}",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logged bytes.Buffer
	srv := httptest.NewServer(siteHandler(dir, log.New(&logged, "", 0)))
	defer srv.Close()

	for _, tc := range []struct {
		path, status, ctype, body string
	}{
		{"/", "200 OK", "text/html; charset=utf-8", "<!doctype html>"},
		{"/ui.wasm", "200 OK", "application/wasm", "\x00asm"},
		{"/worker.js", "200 OK", "text/javascript; charset=utf-8", "importScripts('wasm_exec.js')"},
		{"/style.css", "200 OK", "text/css; charset=utf-8", "body{}"},
		{"/models/m/config.json", "200 OK", "application/json", "{}"},
		{"/models/missing/config.json", "404 Not Found", "text/plain; charset=utf-8", "404 page not found\n"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Status != tc.status || resp.Header.Get("Content-Type") != tc.ctype || string(body) != tc.body {
			t.Errorf("GET %s: %s, Content-Type %q, body %q; want %s, %q, %q",
				tc.path, resp.Status, resp.Header.Get("Content-Type"), body, tc.status, tc.ctype, tc.body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" && resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, cc)
		}
	}
	if got, want := logged.String(), "404 GET /models/missing/config.json\n"; got != want {
		t.Errorf("logged %q, want %q", got, want)
	}
	if strings.Contains(logged.String(), "200") {
		t.Errorf("logged a success: %q", logged.String())
	}
}
