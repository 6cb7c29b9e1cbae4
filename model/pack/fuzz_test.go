package pack_test

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf/convert"
)

// FuzzOpenPack feeds Open and Load a hostile pack.json beside a real pack's other files
// (shards, tokenizer): each must refuse it with an error, never panic, and a pack they
// accept must load, with every adapted matrix's factors, into a model of the manifest's
// shape. Seeds: the manifests of a tiny int8 pack split into parts and of an f32 one.
func FuzzOpenPack(f *testing.F) {
	files := fstest.MapFS{}
	for i, opt := range []convert.Options{{ShardBytes: 8 << 10}, {Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}}} {
		dir := newPack(f, opt)
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if rel == pack.ManifestFile {
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
		fsys := fstest.MapFS{pack.ManifestFile: &fstest.MapFile{Data: manifest}}
		for name, file := range files {
			fsys[name] = file
		}
		p, err := pack.Open(fsys)
		if (p == nil) == (err == nil) {
			t.Fatalf("Open = %v, %v: want exactly one of a pack and an error", p, err)
		}
		if p == nil {
			return
		}
		for _, q8 := range []bool{false, true} {
			m, err := loadAll(p, q8)
			if err != nil {
				continue
			}
			if m.Config.NLayers != p.Config.NLayers || len(m.Weights.Layers) != p.Config.NLayers {
				t.Fatalf("loaded %d layers, the manifest says %d", len(m.Weights.Layers), p.Config.NLayers)
			}
		}
	})
}
