package shaders

import (
	"io/fs"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// overrideRE is the expression findOverrides replaces, kept here as its specification.
var overrideRE = regexp.MustCompile(`(?m)^override\s+(\w+)\s*:\s*(\w+)\s*=\s*([^;]+);`)

// checkOverrides fails t unless findOverrides(src) finds what overrideRE finds: the
// same declarations at the same places, with the same name, type and value.
func checkOverrides(t *testing.T, what, src string) {
	t.Helper()
	var got []int
	for _, d := range findOverrides(src) {
		// Only spaces lie between "override" and the name, and spaces and ':' between
		// the name and the type, so each is found at its first occurrence.
		nameAt := d.start + len("override") + strings.Index(src[d.start+len("override"):], d.name)
		typAt := nameAt + len(d.name) + strings.Index(src[nameAt+len(d.name):], d.typ)
		valAt := d.end - 1 - len(d.value)
		if src[nameAt:nameAt+len(d.name)] != d.name || src[valAt:d.end-1] != d.value {
			t.Fatalf("%s: %q: declaration %+v does not lie where it says", what, src, d)
		}
		got = append(got, d.start, d.end, nameAt, nameAt+len(d.name), typAt, typAt+len(d.typ), valAt, d.end-1)
	}
	var want []int
	for _, m := range overrideRE.FindAllStringSubmatchIndex(src, -1) {
		want = append(want, m...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %q:\nfindOverrides %v\nregexp        %v", what, src, got, want)
	}
}

func TestFindOverrides(t *testing.T) {
	for _, c := range []struct {
		name, src string
		n         int // declarations the expression finds
	}{
		{"empty", "", 0},
		{"one", "override WG: u32 = 256u;", 1},
		{"no spaces but the one after override", "override WG:u32=256u;", 1},
		{"no space after override", "overrideWG: u32 = 256u;", 0},
		{"overrides is another word", "overrides WG: u32 = 256u;", 0},
		{"several lines", "override A: u32 = 1u;\noverride B: f32 = 1e-5;\n\nfn f() {}\noverride C: bool = true;\n", 3},
		{"tabs and spaces", "override\t A \t:\tu32\t=\t 7u \t;", 1},
		{"CRLF endings", "override A: u32 = 1u;\r\noverride B: u32 = 2u;\r\nfn f() {}\r\n", 2},
		{"CR inside the declaration is a space", "override A\r: u32\r\n=\r 1u\r;", 1},
		{"a lone CR starts no line", "x;\roverride A: u32 = 1u;", 0},
		{"vertical tab is not a space", "override\vA: u32 = 1u;", 0},
		{"form feed is a space", "override\fA: u32 = 1u;", 1},
		{"no-break space is not a space", "override\u00a0A: u32 = 1u;", 0},
		{"indented", "  override A: u32 = 1u;", 0},
		{"inside a longer line", "let x = 1; override A: u32 = 1u;", 0},
		{"after a comment on the line before", "// tunable\noverride A: u32 = 1u; // default", 1},
		{"missing semicolon", "override A: u32 = 1u\n", 0},
		{"missing semicolon runs to the next one", "override A: u32 = 1u\noverride B: u32 = 2u;\noverride C: u32 = 3u;", 2},
		{"spanning lines", "override\nA\n:\nu32\n=\n1u\n;", 1},
		{"value of spaces only is its last space", "override A: u32 =  \t;", 1},
		{"value of one space", "override A: u32 = ;", 1},
		{"no value", "override A: u32 =;", 0},
		{"value with an expression", "override A: u32 = (2u * 3u) + 1u ;", 1},
		{"value with non-ASCII and invalid UTF-8", "override A: f32 = −1é\xff;", 1},
		{"non-ASCII in the name", "override é: u32 = 1u;", 0},
		{"second declaration on the same line", "override A: u32 = 1u; override B: u32 = 2u;", 1},
		{"no type", "override A = 1u;", 0},
		{"type with a template is not a word", "override A: vec2<f32> = vec2(1.0);", 0},
		{"two semicolons", "override A: u32 = 1u;;\noverride B: u32 = 2u;", 2},
		{"keyword at end", "x\noverride", 0},
		{"cut short after the name", "override A", 0},
		{"cut short after the colon", "override A:", 0},
		{"cut short after the type", "override A: u32", 0},
		{"cut short after the equals", "override A: u32 =", 0},
		{"cut short after spaces", "override A: u32 = \n", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkOverrides(t, c.name, c.src)
			if n := len(findOverrides(c.src)); n != c.n {
				t.Errorf("%q: %d declarations, want %d", c.src, n, c.n)
			}
		})
	}
}

// TestFindOverridesWGSL holds findOverrides, and specialize without overrides, to the
// expression on every embedded kernel file, alone and all together.
func TestFindOverridesWGSL(t *testing.T) {
	files, err := fs.Glob(wgslFiles, "*.wgsl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no WGSL files: %v", err)
	}
	var all []string
	for _, f := range files {
		src, err := WGSL(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, src)
	}
	found := 0
	for i, src := range append(all, strings.Join(all, "\n"), strings.ReplaceAll(strings.Join(all, "\n"), "\n", "\r\n")) {
		what := "all files"
		if i < len(files) {
			what = files[i]
			found += len(findOverrides(src))
		}
		checkOverrides(t, what, src)
		got, err := specialize(src, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := overrideRE.ReplaceAllStringFunc(src, func(decl string) string {
			m := overrideRE.FindStringSubmatch(decl)
			return "const " + m[1] + ": " + m[2] + " = " + strings.TrimSpace(m[3]) + ";"
		})
		if got != want {
			t.Errorf("%s: specialize differs from the expression's replacement", what)
		}
	}
	if found == 0 {
		t.Errorf("no override declarations in %d WGSL files", len(files))
	}
}

// TestFindOverridesSweep holds findOverrides to the expression on every declaration
// built from a small choice for each of its parts, then on random strings of the
// pieces that matter.
func TestFindOverridesSweep(t *testing.T) {
	before := []string{"", "\n", "\r", "x", "\r\n"}
	space := []string{"", " ", "\r\n", "\v"}
	value := []string{"", " ", "1u", "−é", "\n", "1u\noverride B: u32 = 2u"}
	end := []string{";", "", ";;", "\n;", ";\n"}
	n := 0
	for _, b := range before {
		for s := range len(space) * len(space) * len(space) * len(space) * len(space) {
			var sp [5]string
			for k := range sp {
				sp[k] = space[s%len(space)]
				s /= len(space)
			}
			for _, v := range value {
				for _, e := range end {
					src := b + "override" + sp[0] + "A" + sp[1] + ":" + sp[2] + "u32" + sp[3] + "=" + sp[4] + v + e
					checkOverrides(t, "sweep", src)
					n++
				}
			}
		}
	}
	pieces := []string{"override", "override ", "overrides", "o", " ", "\t", "\n", "\r", "\r\n", "\f", "\v",
		"\u00a0", ":", "=", ";", "A", "_", "u32", "1", "é", "−", "\xff", "<", "x"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		var sb strings.Builder
		for range 1 + rng.IntN(24) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		checkOverrides(t, "random", sb.String())
		n++
	}
	t.Logf("%d sources", n)
}

func FuzzFindOverrides(f *testing.F) {
	f.Add("override WG: u32 = 256u;\noverride EPS: f32 = 1e-5;\r\n")
	f.Add("override A: u32 = ;\n\roverride B\n:\tu32=1\n;")
	f.Fuzz(func(t *testing.T, src string) {
		checkOverrides(t, "fuzz", src)
	})
}
