package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestIconPNG(t *testing.T) {
	for _, size := range []int{192, 512} {
		img, err := png.Decode(bytes.NewReader(iconPNG(size)))
		if err != nil {
			t.Fatalf("iconPNG(%d): %v", size, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("iconPNG(%d) is %v", size, b)
		}
		// The corner is the background, the middle of the T's stem is white.
		if r, g, b, _ := img.At(0, 0).RGBA(); r>>8 != uint32(iconNavy.R) || g>>8 != uint32(iconNavy.G) || b>>8 != uint32(iconNavy.B) {
			t.Errorf("iconPNG(%d) corner is %v, want navy", size, img.At(0, 0))
		}
		if r, _, _, _ := img.At(size*27/64, size*18/32).RGBA(); r>>8 != uint32(iconWhite.R) {
			t.Errorf("iconPNG(%d): T's stem is %v, want white", size, img.At(size*27/64, size*18/32))
		}
	}
	if svg := string(iconSVG()); !strings.HasPrefix(svg, "<svg ") || strings.Count(svg, "<rect") != len(iconRects)+1 {
		t.Errorf("iconSVG:\n%s", svg)
	}
}

func TestServiceWorker(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	site := t.TempDir()
	// Without the trainer's files the site is incomplete.
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<p>a</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeOffline(root, site, io.Discard); err == nil || !strings.Contains(err.Error(), "trainer.wasm") {
		t.Errorf("a site without the trainer: error %v, want one naming trainer.wasm", err)
	}
	for name, data := range map[string]string{"index.html": "<p>a</p>", "ui.wasm": "wasm", ".nojekyll": "", "sw.js": "old", "trainer.js": "js", "trainer.wasm": "wasm3"} {
		if err := os.WriteFile(filepath.Join(site, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(site, "models", "default"), 0o755); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := writeOffline(root, site, &log); err != nil {
		t.Fatal(err)
	}
	sw, err := os.ReadFile(filepath.Join(site, "sw.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const VERSION = '([0-9a-f]{16})';\nconst SHELL = (\[.*\]);\nconst LATER = (\[.*\]);`).FindSubmatch(sw)
	if m == nil {
		t.Fatalf("sw.js has no VERSION, SHELL and LATER filled in:\n%.600s", sw)
	}
	var shell, later []string
	if err := json.Unmarshal(m[2], &shell); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(m[3], &later); err != nil {
		t.Fatal(err)
	}
	// Installing caches what the first page needs; the trainer comes after it.
	want := []string{"./", "icon-192.png", "icon-512.png", "icon.svg", "index.html", "ui.wasm"}
	if !slices.Equal(shell, want) {
		t.Errorf("SHELL = %q, want %q", shell, want)
	}
	if want := []string{"trainer.js", "trainer.wasm"}; !slices.Equal(later, want) {
		t.Errorf("LATER = %q, want %q", later, want)
	}

	// The version follows the shell's contents, and only them.
	_, v1, err := shellFiles(site)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != string(m[1]) {
		t.Errorf("VERSION %s, shellFiles says %s", m[1], v1)
	}
	if err := os.WriteFile(filepath.Join(site, "models", "default", "pack.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, v, _ := shellFiles(site); v != v1 {
		t.Errorf("a pack changed the shell version: %s → %s", v1, v)
	}
	if err := os.WriteFile(filepath.Join(site, "ui.wasm"), []byte("wasm2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, v, _ := shellFiles(site); v == v1 {
		t.Errorf("changing ui.wasm kept the shell version %s", v)
	}

	if _, err := serviceWorker([]byte("no placeholders"), want, later, v1); err == nil {
		t.Error("serviceWorker accepted a source without placeholders")
	}
}

func TestCheckSiteSizes(t *testing.T) {
	site := t.TempDir()
	big := filepath.Join(site, "models", "x", "weights-00001.safetensors")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		size int64
		ok   bool
	}{{0, true}, {maxSiteFile - 1, true}, {maxSiteFile, false}} {
		if err := os.Truncate(big, tc.size); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
		err := checkSiteSizes(site)
		if (err == nil) != tc.ok {
			t.Errorf("a file of %d bytes: checkSiteSizes = %v", tc.size, err)
		}
		if err != nil && !strings.Contains(err.Error(), "weights-00001.safetensors") {
			t.Errorf("the error does not name the file: %v", err)
		}
	}
}

// TestShellRelativeURLs checks that the page and the manifest name their files by
// relative URLs only, so the site works under a GitHub Pages project path.
func TestShellRelativeURLs(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(root, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"|(?:fetch|register)\('([^']*)'`).FindAllSubmatch(page, -1) {
		u := string(m[1]) + string(m[2])
		if strings.HasPrefix(u, "/") || strings.Contains(u, "://") {
			t.Errorf("index.html names %q: want a relative URL", u)
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "web", "manifest.webmanifest"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		Name       string `json:"name"`
		ShortName  string `json:"short_name"`
		StartURL   string `json:"start_url"`
		Scope      string `json:"scope"`
		Display    string `json:"display"`
		ThemeColor string `json:"theme_color"`
		Icons      []struct{ Src, Sizes, Type string }
	}
	if err := json.Unmarshal(data, &man); err != nil {
		t.Fatal(err)
	}
	if man.Name == "" || man.ShortName == "" || man.StartURL != "." || man.Scope != "." || man.Display != "standalone" || man.ThemeColor != hexColor(iconNavy) {
		t.Errorf("manifest.webmanifest: %+v", man)
	}
	written := map[string]bool{"icon.svg": true, "icon-192.png": true, "icon-512.png": true}
	var sizes []string
	for _, ic := range man.Icons {
		if !written[ic.Src] {
			t.Errorf("manifest icon %q is not one t2 site writes", ic.Src)
		}
		sizes = append(sizes, ic.Sizes)
	}
	for _, s := range []string{"192x192", "512x512"} {
		if !slices.Contains(sizes, s) {
			t.Errorf("manifest has no %s icon (browsers want one to install the page)", s)
		}
	}
}
