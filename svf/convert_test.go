package svf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

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
	src := writeRandomCheckpoint(t, tinyConfig, 4)
	for _, tc := range []struct {
		name    string
		opt     ConvertOptions
		stopAt  int  // cancel once this many matrices are in the pack
		corrupt bool // then truncate one scratch file, which must be decomposed again
	}{
		{"int8 mlp", ConvertOptions{}, 2, false},
		{"int8 mlp+attn workers=1", ConvertOptions{Targets: []string{"mlp", "attn"}, Workers: 1}, 5, false},
		{"f32 mlp+attn", ConvertOptions{Targets: []string{"mlp", "attn"}, Quant: QuantF32}, 3, true},
		{"exact rank", ConvertOptions{Targets: []string{"mlp"}, ExactRank: 8}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := convert(t, src, tc.opt)

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
			if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
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
	src := writeRandomCheckpoint(t, tinyConfig, 4)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := ConvertOptions{Progress: func(done, total int, matrix string, resumed bool) { cancel() }}
	if _, err := ConvertContext(ctx, os.DirFS(src), dir, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	resumed := 0
	f32 := ConvertOptions{Quant: QuantF32, Progress: func(done, total int, matrix string, r bool) {
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
	want, _ := convert(t, src, ConvertOptions{Quant: QuantF32})
	sameFolders(t, want, dir)
}
