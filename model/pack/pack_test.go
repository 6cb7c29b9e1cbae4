package pack_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf/convert"
)

func newPack(t testing.TB, opt convert.Options) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := convert.Convert(os.DirFS(packtest.Checkpoint(t, packtest.TinyConfig, 3)), dir, opt); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadAll loads p's model and takes every adapted matrix's factors from what is left, as
// package svf does: f32 (exact-rank columns joined) with q8 false, Q8 as stored with q8.
func loadAll(p *pack.Pack, q8 bool) (*model.Model, error) {
	return p.Load(q8, func(m *model.Model, t *pack.Tensors) error {
		k := p.Manifest.ExactRank
		for _, name := range p.Manifest.Matrices {
			out, in := m.Weights.Linears[name].Dims()
			r, _ := p.Rank(name)
			if _, err := t.Float32(pack.S(name)); err != nil {
				return err
			}
			for _, f := range []struct {
				name string
				rows int
			}{{pack.U(name), out}, {pack.V(name), in}} {
				if !q8 || p.Manifest.Quant != pack.QuantInt8 {
					if _, err := t.Factor(f.name, f.rows, r, k); err != nil {
						return err
					}
					continue
				}
				if _, err := t.Q8(f.name, f.rows, r-k); err != nil {
					return err
				}
				if k > 0 {
					if _, err := t.Float32(pack.Exact.Of(f.name)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// TestLoad: every kind of pack (f32, int8 split into parts, int8 with an exact rank and
// f32 matrices) loads, on both paths, into a model of its config whose unadapted
// weights are where Load says, and every adapted matrix's factors are in the shards.
func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  convert.Options
	}{
		{"f32", convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}}},
		{"int8 parts", convert.Options{ShardBytes: 8 << 10}},
		{"int8 exact", convert.Options{Targets: []string{"mlp", "attn"}, ExactRank: 8, F32: []string{"model.embed_tokens.weight"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pack.OpenDir(newPack(t, tc.opt))
			if err != nil {
				t.Fatal(err)
			}
			for _, q8 := range []bool{false, true} {
				m, err := loadAll(p, q8)
				if err != nil {
					t.Fatalf("q8 %v: %v", q8, err)
				}
				w := m.Weights
				if len(w.Layers) != p.Config.NLayers {
					t.Errorf("q8 %v: %d layers, config %d", q8, len(w.Layers), p.Config.NLayers)
				}
				int8Embed := q8 && p.Manifest.Quant == pack.QuantInt8 && len(p.Manifest.F32) == 0
				if (w.EmbedQ8 != nil) != int8Embed || (w.Embed == nil) == (w.EmbedQ8 == nil) {
					t.Errorf("q8 %v: Embed %d values, EmbedQ8 %v: want the int8 one %v", q8, len(w.Embed), w.EmbedQ8 != nil, int8Embed)
				}
				if w.LMHead == nil && w.LMHeadQ8 == nil {
					t.Errorf("q8 %v: no lm_head although the embeddings are tied", q8)
				}
			}
		})
	}
}

// TestPackErrors: a changed, missing or split-off shard, a newer format and fields of the
// wrong version are clear errors naming the file.
func TestPackErrors(t *testing.T) {
	// Small shards, so the embedding is split by rows into parts.
	dir := newPack(t, convert.Options{ShardBytes: 8 << 10})
	p, err := pack.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Manifest.Parts) == 0 || len(p.Manifest.Shards) < 3 {
		t.Fatalf("8 KiB shards: %d shards, parts %v", len(p.Manifest.Shards), p.Manifest.Parts)
	}
	copyPack := func(t *testing.T) string {
		d := t.TempDir()
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			os.WriteFile(filepath.Join(d, e.Name()), data, 0o644)
		}
		return d
	}
	edit := func(from, to string, more ...string) func(d string) {
		return func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, pack.ManifestFile))
			data = bytes.Replace(data, []byte(from), []byte(to), 1)
			for i := 0; i+1 < len(more); i += 2 {
				data = bytes.Replace(data, []byte(more[i]), []byte(more[i+1]), 1)
			}
			os.WriteFile(filepath.Join(d, pack.ManifestFile), data, 0o644)
		}
	}
	shard := p.Manifest.Shards[1].File
	last := p.Manifest.Shards[len(p.Manifest.Shards)-1].File
	tests := []struct {
		name  string
		spoil func(d string)
		open  bool // the error comes from Open, not Load
		want  string
	}{
		{"flipped byte", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, shard))
			data[len(data)/2] ^= 0x40
			os.WriteFile(filepath.Join(d, shard), data, 0o644)
		}, false, shard + ": sha256"},
		// The last shard is still being hashed while Load's build runs: its failed check
		// is still Load's error.
		{"flipped byte in the last shard", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, last))
			data[len(data)/2] ^= 0x40
			os.WriteFile(filepath.Join(d, last), data, 0o644)
		}, false, last + ": sha256"},
		{"missing shard", func(d string) { os.Remove(filepath.Join(d, shard)) }, false, shard},
		// Shards are hashed while the next is read: the error is still the first
		// shard's, in pack.json's order.
		{"flipped byte, a later shard missing", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, shard))
			data[len(data)/2] ^= 0x40
			os.WriteFile(filepath.Join(d, shard), data, 0o644)
			os.Remove(filepath.Join(d, p.Manifest.Shards[2].File))
		}, false, shard + ": sha256"},
		// A shard whose header was changed fails its check, not its parsing.
		{"garbled header", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, shard))
			copy(data[8:], "garbage")
			os.WriteFile(filepath.Join(d, shard), data, 0o644)
		}, false, shard + ": sha256"},
		{"newer format", edit(`"version": 1`, `"version": 3`), true, "pack.json: format version 3 is newer"},
		{"version 2 field in version 1", edit(`"block": 32,`, `"block": 32, "exact_rank": 8,`), true, "exact_rank and f32 need format version 2"},
		{"exact rank not below the rank", edit(`"version": 1`, `"version": 2`, `"block": 32,`, `"block": 32, "exact_rank": 48,`),
			true, "exact_rank 48, want below the rank 48 of model.layers.0.mlp.gate_proj"},
		{"f32 names no matrix", edit(`"version": 1`, `"version": 2`, `"block": 32,`, `"block": 32, "f32": ["model.norm.weight"],`),
			true, "f32: model.norm.weight is not an unadapted matrix"},
		{"not a pack", func(d string) { os.Remove(filepath.Join(d, pack.ManifestFile)) }, true, "pack.json"},
		{"a web page", func(d string) {
			os.WriteFile(filepath.Join(d, pack.ManifestFile), []byte("<!DOCTYPE html><html></html>"), 0o644)
		}, true, "is a web page (HTML)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyPack(t)
			tt.spoil(d)
			q, err := pack.OpenDir(d)
			if err == nil && !tt.open {
				_, err = q.Load(false, func(*model.Model, *pack.Tensors) error { return nil })
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
