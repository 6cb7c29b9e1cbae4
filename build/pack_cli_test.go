package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/wasm/protocol"
)

// TestPackCommands walks a pack's life on the command line: convert, generate and
// logits from it, experts added, mixed and shown.
func TestPackCommands(t *testing.T) {
	dir, hf := t.TempDir(), randomCheckpoint(t)
	pack := filepath.Join(dir, "pack")
	code, out, errOut := t2("convert", "--model", hf, "--out", pack, "--quant", "f32", "--targets", "mlp,attn")
	if code != 0 || !strings.Contains(out, "14 adapted matrices") || !strings.Contains(errOut, "decomposed 14/14") {
		t.Fatalf("convert: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The f32 pack generates what the checkpoint does.
	gen := []string{"generate", "--prompt", "hello", "--greedy", "--max-tokens", "12", "--print-ids"}
	_, want, _ := t2(append(gen, "--model", hf)...)
	for _, extra := range [][]string{{"--pack", pack}, {"--pack", pack, "--factored"}} {
		if code, got, errOut := t2(append(gen, extra...)...); code != 0 || got != want {
			t.Errorf("%v: %q (%s), checkpoint %q", extra, got, errOut, want)
		}
	}
	// Experts: a uniform one changes nothing; logits are the same bytes twice.
	for _, args := range [][]string{
		{"expert", "new", "--pack", pack, "--name", "half", "--value", "0.5", "--domain", "math"},
		{"expert", "new", "--pack", pack, "--name", "one"},
		{"expert", "mix", "--pack", pack, "--name", "both", "--mix", "half:0.5,one:0.5"},
	} {
		if code, _, errOut := t2(args...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	code, out, _ = t2("expert", "show", "--pack", pack)
	if code != 0 || !strings.Contains(out, "half") || !strings.Contains(out, "both") || !strings.Contains(out, "mix half:0.5,one:0.5") {
		t.Errorf("expert show: %q", out)
	}
	code, out, _ = t2("expert", "show", "--pack", pack, "--name", "half")
	if code != 0 || !strings.Contains(out, "model.layers.1.mlp.down_proj") || !strings.Contains(out, "0.5000") {
		t.Errorf("expert show --name half: %q", out)
	}
	if code, got, errOut := t2(append(gen, "--pack", pack, "--expert", "both")...); code != 0 || got != want {
		t.Errorf("uniform expert: %q (%s), base %q", got, errOut, want)
	}
	a, b := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	for _, f := range []string{a, b} {
		if code, _, errOut := t2("logits", "--pack", pack, "--mix", "half:1", "--ids", "1,2,3,4", "--out", f); code != 0 {
			t.Fatal(errOut)
		}
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if len(x) != 4*259*4 || !bytes.Equal(x, y) {
		t.Errorf("logits --pack: %d and %d bytes, equal %v", len(x), len(y), bytes.Equal(x, y))
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--pack", pack, "--expert", "nope", "--prompt", "x"}, `no expert "nope"`},
		{[]string{"generate", "--model", hf, "--expert", "half", "--prompt", "x"}, "need --pack"},
		{[]string{"generate", "--pack", pack, "--mix", "half=1", "--prompt", "x"}, "not name:α"},
		{[]string{"convert", "--model", hf, "--out", filepath.Join(dir, "p2"), "--targets", "ffn"}, `target "ffn"`},
		{[]string{"convert", "--model", hf, "--out", filepath.Join(dir, "p3"), "--quant", "q4"}, `quant "q4"`},
		{[]string{"expert", "new", "--pack", hf, "--name", "x"}, "pack.json"},
		{[]string{"expert", "new", "--pack", pack, "--name", "a/b"}, `expert name "a/b"`},
	} {
		if code, _, errOut := t2(tt.args...); code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

// TestAdaptDefaults: the page's few-shot defaults (protocol.DefaultAdapt, which the worker
// fills zero fields of a request with and the few-shot view shows) are t2 adapt's
// (svf.DefaultFewShot), so the page and the command adapt alike.
func TestAdaptDefaults(t *testing.T) {
	d, p := svf.DefaultFewShot(), protocol.DefaultAdapt
	if p.Score != d.Score || p.Iters != d.CEM.Iters || p.Population != d.CEM.Population || p.Elites != d.CEM.Elites {
		t.Errorf("the page adapts with score %s, %d iterations of %d, %d elites; t2 adapt with %s, %d of %d, %d elites",
			p.Score, p.Iters, p.Population, p.Elites, d.Score, d.CEM.Iters, d.CEM.Population, d.CEM.Elites)
	}
}
