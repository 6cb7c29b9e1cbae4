package main

import (
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestEngineImports holds the page's workers to the packages they may link, as t2 site
// builds them (GOOS=js GOARCH=wasm): the engine and the UI, which every visitor
// downloads, import neither the training code (model/train, svf/learn) nor the
// conversion (svf/convert) nor gonum; the trainer, fetched only when the page trains,
// imports svf/learn but not the conversion. The GPU engine (package shaders), in the page
// and natively, reads packs through model/pack and imports no part of the method (svf).
// Each row also names a package the binary must import, so that a wrong path cannot pass
// with an empty list.
func TestEngineImports(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/t2web/t2web/"
	for _, tc := range []struct {
		pkg, binary string
		native      bool // go list for this machine, not GOOS=js GOARCH=wasm
		needs       string
		forbidden   []string // import path prefixes
	}{
		{"./wasm", "engine.wasm", false, mod + "svf", []string{"gonum.org/", mod + "model/train", mod + "svf/learn", mod + "svf/convert"}},
		{"./web", "ui.wasm", false, mod + "wasm/protocol", []string{"gonum.org/", mod + "model/train", mod + "svf/learn", mod + "svf/convert"}},
		{"./wasm/trainer", "trainer.wasm", false, mod + "svf/learn", []string{"gonum.org/", mod + "svf/convert"}},
		{"./shaders", "shaders-js", false, mod + "model/pack", []string{mod + "svf", "gonum.org/", mod + "model/train"}},
		{"./shaders", "shaders-native", true, mod + "model/pack", []string{mod + "svf", "gonum.org/", mod + "model/train"}},
	} {
		t.Run(tc.binary, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, tc.pkg)
			cmd.Dir = root
			env := []string{"GOOS=js", "GOARCH=wasm"}
			if tc.native {
				env = nil
			}
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s go list -deps %s: %v", strings.Join(env, " "), tc.pkg, err)
			}
			imports := map[string][]string{} // package → its imports
			for line := range strings.Lines(string(out)) {
				f := strings.Fields(line)
				if len(f) > 0 {
					imports[f[0]] = f[1:]
				}
			}
			if _, ok := imports[tc.needs]; !ok {
				t.Fatalf("%s (%s) does not import %s: is the table out of date?", tc.binary, tc.pkg, tc.needs)
			}
			for _, dep := range slices.Sorted(maps.Keys(imports)) {
				for _, bad := range tc.forbidden {
					if dep != bad && !strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") {
						continue
					}
					var by []string
					for p, imps := range imports {
						if slices.Contains(imps, dep) {
							by = append(by, p)
						}
					}
					slices.Sort(by)
					t.Errorf("%s (%s) imports %s (through %s)", tc.binary, tc.pkg, dep, strings.Join(by, ", "))
				}
			}
		})
	}
}
