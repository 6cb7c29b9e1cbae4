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

// writeOffline writes what makes the site installable and usable offline into outDir,
// after the shell's other files are there: the icons, and sw.js from web/sw.js with
//
//	__T2_SHELL__    the shell: "./" and every file of outDir's top folder (JSON array)
//	__T2_VERSION__  a hash of those files' names and contents
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
	sw, err := serviceWorker(src, shell, version)
	if err != nil {
		return err
	}
	dst := filepath.Join(outDir, "sw.js")
	if err := os.WriteFile(dst, sw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(logw, "wrote %s (shell of %d files, version %s)\n", dst, len(shell), version)
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
func serviceWorker(src []byte, shell []string, version string) ([]byte, error) {
	list, err := json.Marshal(shell)
	if err != nil {
		return nil, err
	}
	for _, ph := range []string{"'__T2_VERSION__'", "__T2_SHELL__"} {
		if bytes.Count(src, []byte(ph)) != 1 {
			return nil, fmt.Errorf("web/sw.js: want the placeholder %s once, found it %d times", ph, bytes.Count(src, []byte(ph)))
		}
	}
	out := bytes.Replace(src, []byte("'__T2_VERSION__'"), []byte("'"+version+"'"), 1)
	return bytes.Replace(out, []byte("__T2_SHELL__"), list, 1), nil
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
