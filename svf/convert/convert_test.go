package convert

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
)

// newPack converts the checkpoint folder src into a pack in a temporary folder.
func newPack(t testing.TB, src string, opt Options) (string, *svf.Pack) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Convert(os.DirFS(src), dir, opt); err != nil {
		t.Fatal(err)
	}
	return dir, packtest.Open(t, dir)
}

// sameFolders reports the files of folder a that are missing from b or differ, and
// any file of b that a lacks.
func sameFolders(t *testing.T, a, b string) {
	t.Helper()
	ea, _ := os.ReadDir(a)
	eb, _ := os.ReadDir(b)
	if len(ea) != len(eb) {
		t.Errorf("%d entries in %s, %d in %s", len(ea), a, len(eb), b)
	}
	for _, e := range ea {
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs from an uninterrupted conversion", e.Name())
		}
	}
}

// TestConvertResume stops conversions part-way (cancelled after a few matrices, or a
// scratch file corrupted) and checks that running again decomposes only what is left
// and writes the same bytes as an uninterrupted run.
func TestConvertResume(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 4)
	for _, tc := range []struct {
		name    string
		opt     Options
		stopAt  int  // cancel once this many matrices are in the pack
		corrupt bool // then truncate one scratch file, which must be decomposed again
	}{
		{"int8 mlp", Options{}, 2, false},
		{"int8 mlp+attn workers=1", Options{Targets: []string{"mlp", "attn"}, Workers: 1}, 5, false},
		{"f32 mlp+attn", Options{Targets: []string{"mlp", "attn"}, Quant: pack.QuantF32}, 3, true},
		{"exact rank", Options{Targets: []string{"mlp"}, ExactRank: 8}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := newPack(t, src, tc.opt)

			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opt := tc.opt
			opt.Progress = func(done, total int, matrix string, resumed bool) {
				if done == tc.stopAt {
					cancel()
				}
			}
			if _, err := ConvertContext(ctx, os.DirFS(src), dir, opt); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled conversion: error %v, want context.Canceled", err)
			}
			if _, err := os.Stat(filepath.Join(dir, pack.ManifestFile)); err == nil {
				t.Fatal("a cancelled conversion wrote pack.json")
			}
			kept, _ := filepath.Glob(filepath.Join(dir, scratchDir, "*.safetensors"))
			if len(kept) < tc.stopAt {
				t.Fatalf("%d scratch files after %d matrices", len(kept), tc.stopAt)
			}
			if tc.corrupt {
				if err := os.Truncate(kept[0], 100); err != nil {
					t.Fatal(err)
				}
			}

			resumed, total := 0, 0
			opt.Progress = func(done, n int, matrix string, r bool) {
				total = n
				if r {
					resumed++
				}
			}
			if _, err := Convert(os.DirFS(src), dir, opt); err != nil {
				t.Fatal(err)
			}
			wantResumed := len(kept)
			if tc.corrupt {
				wantResumed--
			}
			if resumed != wantResumed {
				t.Errorf("resumed %d of %d matrices, want the %d whose scratch files were whole", resumed, total, wantResumed)
			}
			if _, err := os.Stat(filepath.Join(dir, scratchDir)); !os.IsNotExist(err) {
				t.Errorf("scratch folder left after a complete conversion (%v)", err)
			}
			sameFolders(t, want, dir)
		})
	}
}

// TestConvertScratchOptions checks a scratch file is not reused under other options.
func TestConvertScratchOptions(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 4)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := Options{Progress: func(done, total int, matrix string, resumed bool) { cancel() }}
	if _, err := ConvertContext(ctx, os.DirFS(src), dir, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	resumed := 0
	f32 := Options{Quant: pack.QuantF32, Progress: func(done, total int, matrix string, r bool) {
		if r {
			resumed++
		}
	}}
	if _, err := Convert(os.DirFS(src), dir, f32); err != nil {
		t.Fatal(err)
	}
	if resumed != 0 {
		t.Errorf("an f32 conversion reused %d int8 scratch files", resumed)
	}
	want, _ := newPack(t, src, Options{Quant: pack.QuantF32})
	sameFolders(t, want, dir)
}

// TestConvertExactRank: an int8 pack with an exact rank and f32 embeddings, its tensors
// split by rows across small shards, holds the first K columns of U and V and the
// embedding exactly, recomposes closer to the checkpoint than plain int8, and gives the
// GPU engine's loader the same factors (pack.JoinColumns is what both use).
func TestConvertExactRank(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 5)
	const k = 16
	targets := []string{"mlp", "attn"}
	_, exact := newPack(t, src, Options{Targets: targets, ExactRank: k, F32: []string{"model.embed_tokens.weight"}, ShardBytes: 8 << 10})
	_, plain := newPack(t, src, Options{Targets: targets})
	_, full := newPack(t, src, Options{Targets: targets, Quant: pack.QuantF32})
	if exact.Manifest.Version != 2 || exact.Manifest.ExactRank != k || plain.Manifest.Version != 1 {
		t.Fatalf("versions %d (exact rank %d) and %d, want 2 (%d) and 1", exact.Manifest.Version, exact.Manifest.ExactRank, plain.Manifest.Version, k)
	}
	if len(exact.Manifest.Parts) == 0 {
		t.Fatalf("8 KiB shards split nothing")
	}
	me, _ := packtest.Load(t, exact, svf.FactoredPath)
	mp, _ := packtest.Load(t, plain, svf.FactoredPath)
	mf, _ := packtest.Load(t, full, svf.FactoredPath)
	if !slices.Equal(me.Weights.Embed, mf.Weights.Embed) {
		t.Errorf("the f32 embedding differs from the f32 pack's")
	}
	for _, name := range exact.Manifest.Matrices {
		fe := me.Weights.Linears[name].(*svf.Factored).Factors()
		ff := mf.Weights.Linears[name].(*svf.Factored).Factors()
		for _, fac := range []struct {
			name string
			e, f []float32
			rows int
		}{{"U", fe.U, ff.U, fe.M}, {"V", fe.V, ff.V, fe.N}} {
			for i := range fac.rows {
				if !slices.Equal(fac.e[i*fe.R:i*fe.R+k], fac.f[i*fe.R:i*fe.R+k]) {
					t.Fatalf("%s.%s row %d: the first %d columns are not the f32 pack's", name, fac.name, i, k)
				}
			}
		}
		w := func(m *model.Model) []float32 {
			f := m.Weights.Linears[name].(*svf.Factored).Factors()
			x := make([]float32, f.M*f.N)
			f.Recompose(x, nil)
			return x
		}
		ref := w(mf)
		if ee, ep := svf.RelFrobenius(w(me), ref), svf.RelFrobenius(w(mp), ref); ee >= ep {
			t.Errorf("%s: exact rank %d recomposes %.3g%% off, plain int8 %.3g%%: no closer", name, k, 100*ee, 100*ep)
		}
	}
	if _, err := Convert(os.DirFS(src), t.TempDir(), Options{ExactRank: 48}); err == nil || !strings.Contains(err.Error(), "exact rank 48, want below the rank 48") {
		t.Errorf("exact rank of the full rank: %v", err)
	}
	if _, err := Convert(os.DirFS(src), t.TempDir(), Options{F32: []string{"lm_head.weight"}}); err == nil || !strings.Contains(err.Error(), "lm_head.weight is not an unadapted matrix") {
		t.Errorf("f32 of a tied lm_head: %v", err)
	}
}

// TestConvertDeterministic: converting twice gives the same bytes in every file.
func TestConvertDeterministic(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 4)
	a, _ := newPack(t, src, Options{Targets: []string{"mlp", "attn"}})
	b, _ := newPack(t, src, Options{Targets: []string{"mlp", "attn"}})
	entries, _ := os.ReadDir(a)
	for _, e := range entries {
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two conversions", e.Name())
		}
	}
}
