package safetensors

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// u8 returns a one-dimensional U8 tensor holding values.
func u8(name string, values ...byte) Tensor {
	return Tensor{Name: name, DType: U8, Shape: []int{len(values)}, Data: values}
}

// index returns model.safetensors.index.json mapping tensors to shards.
func index(t testing.TB, weightMap map[string]string) *fstest.MapFile {
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 6, "note": "x"}, "weight_map": weightMap})
	if err != nil {
		t.Fatal(err)
	}
	return &fstest.MapFile{Data: b}
}

// shardedFS returns a two-shard checkpoint: a, b in shard 1 and c in shard 2.
func shardedFS(t testing.TB) fstest.MapFS {
	return fstest.MapFS{
		"model-00001-of-00002.safetensors": {Data: mustWrite(t, []Tensor{u8("a", 1, 2), u8("b", 3, 4)}, nil)},
		"model-00002-of-00002.safetensors": {Data: mustWrite(t, []Tensor{{Name: "c", DType: F16, Shape: []int{2}, Data: le(F16, 5, 6)}}, nil)},
		IndexFile: index(t, map[string]string{
			"a": "model-00001-of-00002.safetensors",
			"b": "model-00001-of-00002.safetensors",
			"c": "model-00002-of-00002.safetensors",
		}),
	}
}

// noReaderAt hides ReadAt from the files of an fs.FS, so OpenCheckpoint must read them
// into memory.
type noReaderAt struct{ fs.FS }

func (n noReaderAt) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	return struct{ fs.File }{f}, err
}

func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	for name, f := range shardedFS(t) {
		if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	single := fstest.MapFS{SingleFile: {Data: mustWrite(t, []Tensor{u8("a", 1, 2), u8("b", 3, 4), u8("c", 5, 6)}, map[string]string{"format": "pt"})}}

	for _, tc := range []struct {
		name     string
		fsys     fs.FS
		tensors  []string
		shards   []string
		metadata map[string]string
		c        []float32
	}{
		{"sharded MapFS", shardedFS(t), []string{"a", "b", "c"}, []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}, map[string]string{"total_size": "6", "note": "x"}, []float32{5, 6}},
		{"sharded without ReaderAt", noReaderAt{shardedFS(t)}, []string{"a", "b", "c"}, []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}, map[string]string{"total_size": "6", "note": "x"}, []float32{5, 6}},
		{"sharded DirFS", os.DirFS(dir), []string{"a", "b", "c"}, []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}, map[string]string{"total_size": "6", "note": "x"}, []float32{5, 6}},
		{"single file", single, []string{"a", "b", "c"}, []string{SingleFile}, map[string]string{"format": "pt"}, []float32{5, 6}},
		{"single file without ReaderAt", noReaderAt{single}, []string{"a", "b", "c"}, []string{SingleFile}, map[string]string{"format": "pt"}, []float32{5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenCheckpoint(tc.fsys)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := tensorNames(c.Tensors()); !slices.Equal(got, tc.tensors) {
				t.Errorf("Tensors = %v, want %v", got, tc.tensors)
			}
			var shards []string
			for _, f := range c.Shards() {
				shards = append(shards, f.Name())
			}
			if !slices.Equal(shards, tc.shards) {
				t.Errorf("Shards = %v, want %v", shards, tc.shards)
			}
			if f, ok := c.Shard("c"); !ok || f.Name() != tc.shards[len(tc.shards)-1] {
				t.Errorf(`Shard("c") = %v, %v`, f, ok)
			}
			if m := c.Metadata(); len(m) != len(tc.metadata) || m["total_size"] != tc.metadata["total_size"] || m["format"] != tc.metadata["format"] {
				t.Errorf("Metadata = %v, want %v", m, tc.metadata)
			}
			if raw, err := c.Raw("b"); err != nil || string(raw) != "\x03\x04" {
				t.Errorf(`Raw("b") = %v, %v; want [3 4]`, raw, err)
			}
			if x, err := c.Float32("c"); err != nil || !slices.Equal(x, tc.c) {
				t.Errorf(`Float32("c") = %v, %v; want %v`, x, err, tc.c)
			}
			if info, ok := c.Info("a"); !ok || info.Begin != 0 || info.End != 2 {
				t.Errorf(`Info("a") = %+v, %v; want [0, 2]`, info, ok)
			}
			if _, ok := c.Info("nope"); ok {
				t.Error(`Info("nope") found`)
			}
			for _, read := range []func(string) error{
				func(n string) error { _, err := c.Raw(n); return err },
				func(n string) error { _, err := c.Float32(n); return err },
			} {
				if err := read("nope"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `"nope"`) {
					t.Errorf(`reading "nope": error %v, want fs.ErrNotExist naming it`, err)
				}
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestCheckpointBad checks that a checkpoint whose index and shards disagree fails with
// an error naming both the tensor and the file.
func TestCheckpointBad(t *testing.T) {
	shard1 := mustWrite(t, []Tensor{u8("a", 1), u8("b", 2)}, nil)
	for _, tc := range []struct {
		name  string
		fsys  fstest.MapFS
		words []string
		is    error
	}{
		{"empty folder", fstest.MapFS{}, []string{IndexFile, SingleFile}, fs.ErrNotExist},
		{"missing shard", fstest.MapFS{
			"s1.safetensors": {Data: shard1},
			IndexFile:        index(t, map[string]string{"a": "s1.safetensors", "c": "s2.safetensors", "d": "s2.safetensors"}),
		}, []string{`shard "s2.safetensors"`, `tensor "c" and 1 more`}, fs.ErrNotExist},
		{"tensor not in its shard", fstest.MapFS{
			"s1.safetensors": {Data: shard1},
			IndexFile:        index(t, map[string]string{"a": "s1.safetensors", "zz": "s1.safetensors"}),
		}, []string{`tensor "zz"`, `shard "s1.safetensors"`}, nil},
		{"tensor in two shards", fstest.MapFS{
			"s1.safetensors": {Data: shard1},
			"s2.safetensors": {Data: mustWrite(t, []Tensor{u8("b", 3)}, nil)},
			IndexFile:        index(t, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors"}),
		}, []string{`tensor "b"`, `"s1.safetensors"`, `"s2.safetensors"`}, nil},
		{"bad shard", fstest.MapFS{
			"s1.safetensors": {Data: shard1[:len(shard1)-1]},
			IndexFile:        index(t, map[string]string{"a": "s1.safetensors"}),
		}, []string{`shard "s1.safetensors"`, `safetensors: s1.safetensors: tensor "b"`, "truncated"}, nil},
		{"shard outside the folder", fstest.MapFS{
			IndexFile: index(t, map[string]string{"a": "../s1.safetensors"}),
		}, []string{`"../s1.safetensors"`, `tensor "a"`, "not a path inside"}, nil},
		{"index not JSON", fstest.MapFS{IndexFile: {Data: []byte("{")}}, []string{IndexFile, "weight_map"}, nil},
		{"index weight_map not strings", fstest.MapFS{IndexFile: {Data: []byte(`{"weight_map": {"a": 1}}`)}}, []string{IndexFile}, nil},
		{"index without weight_map", fstest.MapFS{IndexFile: {Data: []byte(`{"metadata": {}}`)}, SingleFile: {Data: shard1}}, []string{IndexFile, "weight_map: missing"}, nil},
		{"bad single file", fstest.MapFS{SingleFile: {Data: []byte("short")}}, []string{SingleFile, "header length"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, fsys := range []fs.FS{tc.fsys, noReaderAt{tc.fsys}} {
				c, err := OpenCheckpoint(fsys)
				if err == nil {
					c.Close()
					t.Fatalf("OpenCheckpoint succeeded with tensors %v", tensorNames(c.Tensors()))
				}
				t.Log(err)
				for _, w := range tc.words {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %q does not wrap %v", err, tc.is)
				}
			}
		})
	}
}

// TestCheckpointExtraTensor checks that a tensor in a shard but not in the index is kept.
func TestCheckpointExtraTensor(t *testing.T) {
	c, err := OpenCheckpoint(fstest.MapFS{
		"s1.safetensors": {Data: mustWrite(t, []Tensor{u8("a", 1), u8("extra", 2)}, nil)},
		IndexFile:        index(t, map[string]string{"a": "s1.safetensors"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if x, err := c.Float32("extra"); err != nil || !slices.Equal(x, []float32{2}) {
		t.Errorf(`Float32("extra") = %v, %v`, x, err)
	}
}

// FuzzIndex feeds OpenCheckpoint arbitrary index files over a fixed shard: no panics.
func FuzzIndex(f *testing.F) {
	shard := mustWrite(f, []Tensor{u8("a", 1), u8("b", 2)}, nil)
	f.Add([]byte(`{"metadata": {"total_size": 2}, "weight_map": {"a": "s.safetensors", "b": "s.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "missing.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "/s.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "model.safetensors.index.json"}}`))
	f.Add([]byte(`{"metadata": null, "weight_map": {}}`))
	f.Fuzz(func(t *testing.T, idx []byte) {
		c, err := OpenCheckpoint(fstest.MapFS{"s.safetensors": {Data: shard}, IndexFile: {Data: idx}})
		if err != nil {
			return
		}
		defer c.Close()
		for _, info := range c.Tensors() {
			if _, err := c.Float32(info.Name); err != nil {
				t.Fatalf("Float32(%q): %v", info.Name, err)
			}
		}
	})
}
