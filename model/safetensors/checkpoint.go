package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
)

// The file names of a Hugging Face checkpoint folder.
const (
	SingleFile = "model.safetensors"            // an unsharded checkpoint
	IndexFile  = "model.safetensors.index.json" // a sharded one: which shard holds each tensor
)

// maxIndexSize caps the index file OpenCheckpoint reads into memory. A large model's
// index is a few hundred kilobytes.
const maxIndexSize = 100 << 20

// Checkpoint is every tensor of a Hugging Face checkpoint folder, across its shards.
// Tensor names are unique across the checkpoint; each is read from the shard that
// holds it.
type Checkpoint struct {
	shards   []*File          // sorted by name
	closers  []io.Closer      // the files OpenCheckpoint opened
	where    map[string]*File // tensor name → the shard holding it
	metadata map[string]string
}

// OpenCheckpoint opens the checkpoint in the folder fsys (os.DirFS(dir), or an
// fstest.MapFS in tests).
//
// If fsys holds model.safetensors.index.json, of the form
//
//	{"metadata": {"total_size": 123}, "weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors", ...}}
//
// the checkpoint is the shards that weight_map names; it is an error if a shard is missing
// or does not hold a tensor the index places in it, or if two shards hold the same name.
// Tensors a shard holds but the index does not list are kept. Otherwise the checkpoint is
// the single file model.safetensors.
//
// A file that implements io.ReaderAt (an *os.File does, as do fstest.MapFS files) is read
// on demand and stays open until Close; any other is read into memory whole.
func OpenCheckpoint(fsys fs.FS) (_ *Checkpoint, err error) {
	c := &Checkpoint{where: map[string]*File{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	index, err := readIndex(fsys)
	if errors.Is(err, fs.ErrNotExist) {
		f, err := c.openShard(fsys, SingleFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: checkpoint has neither %s nor %s: %w", IndexFile, SingleFile, err)
		}
		if err != nil {
			return nil, err
		}
		c.metadata = f.Metadata()
		for _, t := range f.tensors {
			c.where[t.Name] = f
		}
		return c, nil
	}
	if err != nil {
		return nil, err
	}

	// Every shard the index names, each with the tensors it should hold.
	want := map[string][]string{}
	for tensor, shard := range index.WeightMap {
		want[shard] = append(want[shard], tensor)
	}
	for _, shard := range slices.Sorted(maps.Keys(want)) {
		tensors := want[shard]
		slices.Sort(tensors)
		if !fs.ValidPath(shard) {
			return nil, fmt.Errorf("safetensors: %s: weight_map: tensor %q: shard %q is not a path inside the checkpoint folder", IndexFile, tensors[0], shard)
		}
		f, err := c.openShard(fsys, shard)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %s: weight_map: shard %q (holding tensor %q%s): %w", IndexFile, shard, tensors[0], andMore(len(tensors)-1), err)
		}
		for _, tensor := range tensors {
			if _, ok := f.byName[tensor]; !ok {
				return nil, fmt.Errorf("safetensors: %s: weight_map: tensor %q is not in shard %q", IndexFile, tensor, shard)
			}
		}
		for _, t := range f.tensors {
			if other, dup := c.where[t.Name]; dup {
				return nil, fmt.Errorf("safetensors: %s: tensor %q is in both shard %q and shard %q", IndexFile, t.Name, other.name, shard)
			}
			c.where[t.Name] = f
		}
	}
	c.metadata = index.Metadata
	return c, nil
}

// andMore returns " and n more" for n > 0, for error messages.
func andMore(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and %d more", n)
}

// checkpointIndex is model.safetensors.index.json.
type checkpointIndex struct {
	Metadata  map[string]string
	WeightMap map[string]string // tensor name → shard file name
}

// readIndex reads and decodes the index of fsys. Its error wraps fs.ErrNotExist if
// there is no index.
func readIndex(fsys fs.FS) (*checkpointIndex, error) {
	f, err := fsys.Open(IndexFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("safetensors: read %s: %w", IndexFile, err)
	}
	if len(data) > maxIndexSize {
		return nil, fmt.Errorf("safetensors: %s: larger than the %d-byte cap", IndexFile, maxIndexSize)
	}
	return parseIndex(data)
}

// parseIndex decodes an index. The index's "metadata" holds JSON values of any type
// (Hugging Face writes "total_size" as a number); each is kept as a string: strings
// as themselves, anything else as its JSON text.
func parseIndex(data []byte) (*checkpointIndex, error) {
	var raw struct {
		Metadata  map[string]json.RawMessage `json:"metadata"`
		WeightMap map[string]string          `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf(`safetensors: %s: want {"metadata": {...}, "weight_map": {tensor: shard file}}: %w`, IndexFile, err)
	}
	if len(raw.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: weight_map: missing or empty, want {tensor: shard file}", IndexFile)
	}
	index := &checkpointIndex{WeightMap: raw.WeightMap}
	if raw.Metadata != nil {
		index.Metadata = make(map[string]string, len(raw.Metadata))
	}
	for k, v := range raw.Metadata {
		var s string
		if json.Unmarshal(v, &s) == nil {
			index.Metadata[k] = s
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return nil, fmt.Errorf("safetensors: %s: metadata %q: %w", IndexFile, k, err)
		}
		index.Metadata[k] = compact.String()
	}
	return index, nil
}

// openShard opens the file name of fsys and adds it to c.
func (c *Checkpoint) openShard(fsys fs.FS, name string) (*File, error) {
	file, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	var (
		r    io.ReaderAt
		size int64
	)
	if ra, ok := file.(io.ReaderAt); ok {
		info, err := file.Stat()
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("safetensors: %s: %w", name, err)
		}
		r, size = ra, info.Size()
		c.closers = append(c.closers, file)
	} else {
		data, err := io.ReadAll(file)
		file.Close()
		if err != nil {
			return nil, fmt.Errorf("safetensors: read %s: %w", name, err)
		}
		r, size = bytes.NewReader(data), int64(len(data))
	}
	f, err := Open(r, size, name)
	if err != nil {
		return nil, err
	}
	c.shards = append(c.shards, f)
	return f, nil
}

// Close closes the files OpenCheckpoint opened. The Checkpoint must not be used after.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.closers {
		errs = append(errs, f.Close())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// Shards returns the files of the checkpoint, sorted by name.
func (c *Checkpoint) Shards() []*File { return slices.Clone(c.shards) }

// Shard returns the file holding the tensor called name, and whether there is one.
// Its Begin and End count from the start of that file's data section.
func (c *Checkpoint) Shard(name string) (*File, bool) {
	f, ok := c.where[name]
	return f, ok
}

// Tensors returns every tensor of the checkpoint: shard by shard in name order, each
// shard's sorted by Begin.
func (c *Checkpoint) Tensors() []TensorInfo {
	var out []TensorInfo
	for _, f := range c.shards {
		out = append(out, f.Tensors()...)
	}
	return out
}

// Info returns the header entry of the tensor called name, and whether there is one.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	f, ok := c.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Metadata returns a copy of the checkpoint's metadata: the index's "metadata" (values
// that are not JSON strings given as their JSON text, e.g. "total_size": "123"), or for
// a single file its "__metadata__". It is nil if there is none.
func (c *Checkpoint) Metadata() map[string]string { return maps.Clone(c.metadata) }

// Raw returns the bytes of the tensor called name as stored; see File.Raw.
func (c *Checkpoint) Raw(name string) ([]byte, error) {
	f, err := c.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.Raw(name)
}

// Float32 returns the values of the tensor called name converted to float32; see
// File.Float32.
func (c *Checkpoint) Float32(name string) ([]float32, error) {
	f, err := c.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.Float32(name)
}

// lookup returns the shard holding name, or an error wrapping fs.ErrNotExist.
func (c *Checkpoint) lookup(name string) (*File, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: checkpoint has no tensor %q: %w", name, fs.ErrNotExist)
	}
	return f, nil
}
