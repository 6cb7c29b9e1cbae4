package main

import (
	"bytes"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVuguGenerated: the committed web/*_gen.go are what `make generate` writes from
// web/*.vugu today — vugugen run afresh on a copy of web/ (its .vugu and hand-written Go
// files), then the js/wasm build tag and gofmt, as web/main_wasm.go's go:generate line
// does. An edited .vugu without a regeneration fails here, naming the file.
func TestVuguGenerated(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(root, "web")
	tmp := t.TempDir()
	entries, err := os.ReadDir(web)
	if err != nil {
		t.Fatal(err)
	}
	var generated []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
			continue
		case strings.HasSuffix(name, "_gen.go"):
			generated = append(generated, name)
			continue
		case !strings.HasSuffix(name, ".vugu") && !strings.HasSuffix(name, ".go"):
			continue
		}
		data, err := os.ReadFile(filepath.Join(web, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "tool", "vugugen", "-skip-go-mod", "-skip-main", tmp)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=", "GOARCH=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vugugen: %v\n%s", err, out)
	}
	fresh, err := filepath.Glob(filepath.Join(tmp, "*_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(generated) {
		t.Errorf("vugugen writes %d files, web/ holds %d (%v): run make generate", len(fresh), len(generated), generated)
	}
	for _, name := range generated {
		want, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Errorf("web/%s: vugugen no longer writes it (%v): run make generate", name, err)
			continue
		}
		want, err = format.Source(append([]byte("//go:build js && wasm\n\n"), want...))
		if err != nil {
			t.Fatalf("gofmt of vugugen's %s: %v", name, err)
		}
		got, err := os.ReadFile(filepath.Join(web, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("web/%s differs from what vugugen writes from the .vugu files today: run make generate", name)
		}
	}
}
