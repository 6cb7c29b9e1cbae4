package svf_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/internal/packtest"
)

// FuzzOpenPack feeds Open and Load a hostile pack.json beside a real pack's other files
// (shards, tokenizer, experts): each must refuse it with an error, never panic, and a
// pack they accept must load into a model of the manifest's shape. Seeds: the manifests
// of a tiny int8 pack split into parts and of an f32 one.
func FuzzOpenPack(f *testing.F) {
	src := packtest.Checkpoint(f, packtest.TinyConfig, 3)
	files := fstest.MapFS{}
	for i, opt := range []convert.Options{{ShardBytes: 8 << 10}, {Quant: svf.QuantF32, Targets: []string{"mlp", "attn"}}} {
		dir, _ := newPack(f, src, opt)
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if rel == svf.ManifestFile {
				f.Add(data)
				return nil
			}
			if i == 0 { // the f32 pack's shards have the same names: keep the int8 pack's
				files[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data}
			}
			return nil
		})
		if err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, manifest []byte) {
		fsys := fstest.MapFS{svf.ManifestFile: &fstest.MapFile{Data: manifest}}
		for name, file := range files {
			fsys[name] = file
		}
		p, err := svf.Open(fsys)
		if (p == nil) == (err == nil) {
			t.Fatalf("Open = %v, %v: want exactly one of a pack and an error", p, err)
		}
		if p == nil {
			return
		}
		m, err := p.Load(svf.MergedPath)
		if err != nil {
			return
		}
		if m.Config.NLayers != p.Config.NLayers || len(m.Weights.Layers) != p.Config.NLayers {
			t.Fatalf("loaded %d layers, the manifest says %d", len(m.Weights.Layers), p.Config.NLayers)
		}
	})
}

// FuzzDecodeExpert feeds DecodeExpert hostile expert files: an error, never a panic, and
// an expert it reads that Encode writes again reads back the same.
func FuzzDecodeExpert(f *testing.F) {
	score := 0.5
	z := map[string][]float32{"model.layers.0.mlp.up_proj": {0.5, 1.5}, "model.layers.1.mlp.down_proj": {1}}
	for _, x := range []*svf.Expert{
		{Name: "task", Z: z, Score: &score, MixOf: []string{"math", "code"}, Alpha: [][]float64{{0.25}, {1}}},
		{Name: "plain", Domain: "math", Description: "d", Trained: "t", Z: z},
	} {
		data, err := x.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := svf.DecodeExpert(data, "fuzz.safetensors")
		if (x == nil) == (err == nil) {
			t.Fatalf("DecodeExpert = %v, %v: want exactly one of an expert and an error", x, err)
		}
		if x == nil {
			return
		}
		again, err := x.Encode()
		if err != nil {
			return // e.g. a name Encode refuses
		}
		y, err := svf.DecodeExpert(again, "again.safetensors")
		if err != nil {
			t.Fatalf("an expert written again does not read back: %v", err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("read back %+v, wrote %+v", y, x)
		}
	})
}
