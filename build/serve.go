package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
)

// cmdServe serves a built site (t2 site) over HTTP until interrupted.
func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := flags("serve", "[--dir DIR] [--addr HOST:PORT]", stderr)
	dir := fs.String("dir", "dist", "site `folder`, as t2 site writes it")
	addr := fs.String("addr", "127.0.0.1:8080", "`address` to listen on; port 0 picks a free one")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if _, err := os.Stat(filepath.Join(*dir, "index.html")); err != nil {
		return fmt.Errorf("%s is not a site (build one with t2 site --out %s): %w", *dir, *dir, err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %s at http://%s/\n", *dir, ln.Addr())
	return http.Serve(ln, siteHandler(*dir, log.New(stderr, "", log.LstdFlags)))
}

// siteTypes are the media types of the site's files, set here rather than left to the
// system's MIME table: browsers compile wasm only when it is application/wasm.
var siteTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".wasm": "application/wasm",
	// manifest.webmanifest and the icons (not in every system's MIME table)
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
}

// siteHandler serves the files of dir. Every answer says Cache-Control: no-cache, so a
// browser revalidates (Last-Modified) and a rebuilt site shows on reload. Answers of 400
// and above are logged to errlog when it is not nil (404s of optional checkpoint files,
// such as generation_config.json, are normal).
func siteHandler(dir string, errlog *log.Logger) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		if t, ok := siteTypes[path.Ext(r.URL.Path)]; ok {
			h.Set("Content-Type", t)
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		files.ServeHTTP(rec, r)
		if rec.status >= 400 && errlog != nil {
			errlog.Printf("%d %s %s", rec.status, r.Method, r.URL.Path)
		}
	})
}

// statusRecorder remembers the status of an answer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
