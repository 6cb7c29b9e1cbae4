package shaders

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// wgslReserved are WGSL's reserved words (WGSL §15.2, "Reserved Words"): an identifier
// spelled as one is an error. Tint (Chromium) refuses them, naga (native) takes some —
// `meta` passed every native test and failed in the page — so this test looks for them.
var wgslReserved = strings.Fields(`NULL Self abstract active alignas alignof as asm asm_fragment async attribute
auto await become cast catch class co_await co_return co_yield coherent column_major common compile
compile_fragment concept const_cast consteval constexpr constinit crate debugger decltype delete
demote demote_to_helper do dynamic_cast enum explicit export extends extern external fallthrough
filter final finally friend from fxgroup get goto groupshared highp impl implements import inline
instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut mutable
namespace new nil noexcept noinline nointerpolation non_coherent noncoherent noperspective null
nullptr of operator package packoffset partition pass patch pixelfragment precise precision premerge
priv protected pub public readonly ref regardless register reinterpret_cast require resource
restrict self set shared sizeof smooth snorm static static_assert static_cast std subroutine super
target template this thread_local throw trait try type typedef typeid typename typeof union unless
unorm unsafe unsized use using varying virtual volatile wgsl where with writeonly yield`)

func TestWGSLReserved(t *testing.T) {
	reserved := map[string]bool{}
	for _, w := range wgslReserved {
		reserved[w] = true
	}
	comment := regexp.MustCompile(`//[^\n]*`)
	ident := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	files, err := fs.Glob(wgslFiles, "*.wgsl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no WGSL files: %v", err)
	}
	for _, f := range files {
		src, err := WGSL(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(src, "\n") {
			for _, w := range ident.FindAllString(comment.ReplaceAllString(line, ""), -1) {
				if reserved[w] {
					t.Errorf("%s:%d: %q is a reserved word in WGSL", f, i+1, w)
				}
			}
		}
	}
}
