package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/t2web/t2web/svf"
)

// cmdSite builds the static site into a folder.
func cmdSite(args []string, stdout, stderr io.Writer) error {
	fs := flags("site", "[--out DIR]", stderr)
	out := fs.String("out", "dist", "output `folder`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if err := buildSite(*out, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "site in %s; t2 serve --dir %s serves it\n", *out, *out)
	return nil
}

// buildSite writes the static site to outDir, creating it when needed:
//
//	index.html       the page shell (repository root)
//	wasm_exec.js     Go's wasm support, from $(go env GOROOT)/lib/wasm
//	ui.wasm          the page (./web), which index.html starts
//	engine.wasm      the engine worker (./wasm), which worker.js starts
//	worker.js, …     web/'s static files (everything but Go and Vugu sources)
//	sw.js            web/sw.js, the service worker, with this build's shell version
//	icon.svg, icon-192.png, icon-512.png  the icon that manifest.webmanifest names
//	models/default/  the demo pack, demo/pack (an int8 pack of the demo model, with its experts)
//	.nojekyll        tells GitHub Pages to serve the folder as it is
//	results.json     docs/results.json, drawn by the Results view
//	examples.json    example questions and few-shot sets (fewshot-*.jsonl), one click away
//
// Every URL inside is relative, so the site works from any path (a Pages sub-path).
// GitHub Pages refuses files of 100 MB or more: buildSite fails when it wrote one.
// It must run inside the t2web module: it builds from the sources there with the go
// command. Progress goes to logw.
func buildSite(outDir string, logw io.Writer) (err error) {
	defer func() {
		if err == nil {
			err = checkSiteSizes(outDir)
		}
	}()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	goroot, err := goEnv(root, "GOROOT")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, b := range []struct{ pkg, out string }{{"./web", "ui.wasm"}, {"./wasm", "engine.wasm"}} {
		dst, err := filepath.Abs(filepath.Join(outDir, b.out))
		if err != nil {
			return err
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", dst, b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s (GOOS=js GOARCH=wasm go build %s): %w\n%s", b.out, b.pkg, err, out)
		}
		logSize(logw, dst)
	}

	copies := [][2]string{
		{filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"), "wasm_exec.js"},
		{filepath.Join(root, "index.html"), "index.html"},
	}
	web, err := os.ReadDir(filepath.Join(root, "web"))
	if err != nil {
		return err
	}
	for _, e := range web {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".vugu") || strings.HasPrefix(name, ".") || name == "sw.js" {
			continue
		}
		copies = append(copies, [2]string{filepath.Join(root, "web", name), name})
	}
	for _, c := range copies {
		if err := copyFile(c[0], filepath.Join(outDir, c[1])); err != nil {
			return err
		}
		logSize(logw, filepath.Join(outDir, c[1]))
	}
	if err := os.WriteFile(filepath.Join(outDir, ".nojekyll"), nil, 0o644); err != nil {
		return err
	}
	// The results table's record, for the Results view, and the examples of the chat
	// and the few-shot view; in the top folder, so the shell keeps them offline.
	if err := copyFile(filepath.Join(root, "docs", "results.json"), filepath.Join(outDir, "results.json")); err != nil {
		return fmt.Errorf("results: %w (make results writes it)", err)
	}
	if err := writeExamples(outDir); err != nil {
		return err
	}
	if err := writeOffline(root, outDir, logw); err != nil {
		return err
	}

	// The default model is the committed demo pack, experts and all (P1·5): the site never
	// trains or converts.
	src := filepath.Join(root, "demo", "pack")
	if _, err := svf.OpenDir(src); err != nil {
		return fmt.Errorf("default model: %w (make demo-pack builds it)", err)
	}
	packDir := filepath.Join(outDir, "models", "default")
	if err := os.RemoveAll(packDir); err != nil {
		return err
	}
	if err := copyTree(src, packDir); err != nil {
		return fmt.Errorf("default model: %w", err)
	}
	fmt.Fprintf(logw, "wrote %s (the demo pack, %s)\n", packDir, src)
	return nil
}

// copyTree copies the regular files of the folder src, and of its subfolders, to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

// moduleRoot is the folder of the t2web module's go.mod, as the go command finds it
// from the working directory.
func moduleRoot() (string, error) {
	gomod, err := goEnv(".", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the t2web module (go env GOMOD is empty): run t2 site from the repository")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "web")); err != nil {
		return "", fmt.Errorf("module %s has no web/ folder: run t2 site from the t2web repository", root)
	}
	return root, nil
}

// goEnv returns `go env name`, run in dir.
func goEnv(dir, name string) (string, error) {
	cmd := exec.Command("go", "env", name)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

func logSize(w io.Writer, path string) {
	if st, err := os.Stat(path); err == nil {
		fmt.Fprintf(w, "wrote %s (%s)\n", path, sizeText(st.Size()))
	}
}

// sizeText writes n bytes with a binary unit.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
