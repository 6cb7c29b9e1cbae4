package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// maxSiteFile is the size from which GitHub Pages refuses a file (100 MB).
const maxSiteFile = 100_000_000

// onDemand are the shell files the first page does not need: the trainer worker, which
// the few-shot view starts when a person trains an expert. sw.js caches them once the
// page is loaded (t2cache.warm), so a first visit downloads them after the page's own
// files and the pack instead of beside them (trainer.wasm is a third of the shell).
var onDemand = []string{"trainer.js", "trainer.wasm"}

// writeOffline writes what makes the site installable and usable offline into outDir,
// after the shell's other files are there: the icons, and sw.js from web/sw.js with
//
//	__T2_SHELL__    the shell that installing caches: "./" and every file of outDir's
//	                top folder but onDemand's (JSON array)
//	__T2_LATER__    onDemand's files (JSON array)
//	__T2_VERSION__  a hash of all those files' names and contents
//
// so a browser installs a new service worker, with a new shell cache, exactly when a
// shell file changed.
func writeOffline(root, outDir string, logw io.Writer) error {
	for name, data := range map[string][]byte{
		"icon.svg":     iconSVG(),
		"icon-192.png": iconPNG(192),
		"icon-512.png": iconPNG(512),
	} {
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return err
		}
	}
	shell, version, err := shellFiles(outDir)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(root, "web", "sw.js"))
	if err != nil {
		return err
	}
	var install, later []string
	for _, f := range shell {
		if slices.Contains(onDemand, f) {
			later = append(later, f)
		} else {
			install = append(install, f)
		}
	}
	if len(later) != len(onDemand) {
		return fmt.Errorf("site %s: has %v of the on-demand files %v", outDir, later, onDemand)
	}
	sw, err := serviceWorker(src, install, later, version)
	if err != nil {
		return err
	}
	dst := filepath.Join(outDir, "sw.js")
	if err := os.WriteFile(dst, sw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(logw, "wrote %s (shell of %d files, %d of them cached after the page loads; version %s)\n", dst, len(shell), len(later), version)
	return nil
}

// shellFiles lists the app shell in outDir — "./" (the page, as its folder's URL) and
// every regular file of the top folder but sw.js and dot files — and hashes it.
func shellFiles(outDir string) (shell []string, version string, err error) {
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	shell = []string{"./"}
	for _, e := range entries { // sorted by name
		name := e.Name()
		if !e.Type().IsRegular() || name == "sw.js" || name[0] == '.' {
			continue
		}
		data, err := os.ReadFile(filepath.Join(outDir, name))
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
		shell = append(shell, name)
	}
	if !slices.Contains(shell, "index.html") {
		return nil, "", fmt.Errorf("site %s: no index.html for the shell", outDir)
	}
	return shell, hex.EncodeToString(h.Sum(nil))[:16], nil
}

// serviceWorker fills web/sw.js's placeholders.
func serviceWorker(src []byte, shell, later []string, version string) ([]byte, error) {
	shellList, err := json.Marshal(shell)
	if err != nil {
		return nil, err
	}
	laterList, err := json.Marshal(later)
	if err != nil {
		return nil, err
	}
	out := src
	for _, r := range []struct{ ph, value string }{
		{"'__T2_VERSION__'", "'" + version + "'"},
		{"__T2_SHELL__", string(shellList)},
		{"__T2_LATER__", string(laterList)},
	} {
		if n := bytes.Count(src, []byte(r.ph)); n != 1 {
			return nil, fmt.Errorf("web/sw.js: want the placeholder %s once, found it %d times", r.ph, n)
		}
		out = bytes.Replace(out, []byte(r.ph), []byte(r.value), 1)
	}
	return out, nil
}

// checkSiteSizes fails when a file under dir is too large for GitHub Pages.
func checkSiteSizes(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() >= maxSiteFile {
			return fmt.Errorf("site: %s is %s; GitHub Pages refuses files of 100 MB or more (split the pack into smaller shards)", path, sizeText(info.Size()))
		}
		return nil
	})
}
