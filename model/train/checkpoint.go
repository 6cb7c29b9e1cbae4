package train

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/t2web/t2web/model/safetensors"
)

// ErrCheckpoint is wrapped by every error about a checkpoint file that cannot be
// resumed from: truncated, corrupted, or made for another model.
var ErrCheckpoint = errors.New("train: bad checkpoint")

// checkpointFormat is the version of the checkpoint layout below.
const checkpointFormat = 1

// checkpointMeta is the JSON stored in a checkpoint's metadata under "t2web.train".
type checkpointMeta struct {
	Format  int             `json:"format"`
	Step    int             `json:"step"`
	AdamW   AdamWConfig     `json:"adamw"`
	Decay   [][2]int        `json:"decay"`
	Tensors []Tensor        `json:"tensors"` // the model's layout of Params
	SHA256  string          `json:"sha256"`  // of the params, adamw.m and adamw.v bytes, in order
	Extra   json.RawMessage `json:"extra,omitempty"`
}

const checkpointKey = "t2web.train"

// SaveCheckpoint writes what resuming needs — the parameters, AdamW's moments and step,
// its hyperparameters and the caller's own state extra (data position, best validation
// score; any JSON, or nil) — to one safetensors file at path: tensors "params",
// "adamw.m", "adamw.v" (F32), metadata "t2web.train" (JSON with a SHA-256 of the
// tensors). The file is written beside path and renamed over it, so a crash leaves
// either the previous checkpoint or the new one, never a mix.
func SaveCheckpoint(path string, m *Model[float32], opt *AdamW, extra json.RawMessage) error {
	if len(opt.M) != len(m.Params) {
		return fmt.Errorf("train: checkpoint %s: optimiser state for %d parameters, model has %d", path, len(opt.M), len(m.Params))
	}
	params, mom, vel := safetensors.Float32Bytes(m.Params), safetensors.Float32Bytes(opt.M), safetensors.Float32Bytes(opt.V)
	h := sha256.New()
	for _, b := range [][]byte{params, mom, vel} {
		h.Write(b)
	}
	meta, err := json.Marshal(checkpointMeta{
		Format: checkpointFormat, Step: opt.Step, AdamW: opt.AdamWConfig, Decay: opt.Decay,
		Tensors: m.tensors, SHA256: hex.EncodeToString(h.Sum(nil)), Extra: extra,
	})
	if err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	n := []int{len(m.Params)}
	tensors := []safetensors.Tensor{
		{Name: "params", DType: "F32", Shape: n, Data: params},
		{Name: "adamw.m", DType: "F32", Shape: n, Data: mom},
		{Name: "adamw.v", DType: "F32", Shape: n, Data: vel},
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		return safetensors.Write(w, tensors, map[string]string{checkpointKey: string(meta)})
	})
}

// LoadCheckpoint resumes from the checkpoint at path: m's parameters, opt's moments,
// step, hyperparameters and decay ranges become the saved ones, and it returns the
// caller's extra state. A file that is truncated, corrupted (its SHA-256 differs) or
// made for a model of another layout is an error wrapping ErrCheckpoint, and then m and
// opt are left as they were.
func LoadCheckpoint(path string, m *Model[float32], opt *AdamW) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCheckpoint, path, fmt.Sprintf(format, args...))
	}
	f, err := safetensors.Open(bytes.NewReader(data), int64(len(data)), path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	raw, ok := f.Metadata()[checkpointKey]
	if !ok {
		return nil, bad("no %q metadata: not a training checkpoint", checkpointKey)
	}
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(raw), &meta); err != nil {
		return nil, bad("metadata %q: %v", checkpointKey, err)
	}
	if meta.Format != checkpointFormat {
		return nil, bad("format %d, want %d", meta.Format, checkpointFormat)
	}
	if !slices.EqualFunc(meta.Tensors, m.tensors, func(a, b Tensor) bool {
		return a.Name == b.Name && a.Offset == b.Offset && slices.Equal(a.Shape, b.Shape)
	}) {
		return nil, bad("made for another model: its %d tensors differ from this model's %d (config or layout changed)",
			len(meta.Tensors), len(m.tensors))
	}
	h := sha256.New()
	var parts [3][]byte
	for i, name := range []string{"params", "adamw.m", "adamw.v"} {
		info, ok := f.Info(name)
		if !ok {
			return nil, bad("tensor %s is missing", name)
		}
		if info.DType != "F32" || len(info.Shape) != 1 || info.Shape[0] != len(m.Params) {
			return nil, bad("tensor %s is %s %v, want F32 [%d]", name, info.DType, info.Shape, len(m.Params))
		}
		if parts[i], err = f.Raw(name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
		h.Write(parts[i])
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != meta.SHA256 {
		return nil, bad("SHA-256 of the tensors is %s, the file says %s: the file is corrupted", sum, meta.SHA256)
	}
	copy(m.Params, safetensors.BytesFloat32(parts[0]))
	if len(opt.M) != len(m.Params) {
		opt.M, opt.V = make([]float32, len(m.Params)), make([]float32, len(m.Params))
	}
	copy(opt.M, safetensors.BytesFloat32(parts[1]))
	copy(opt.V, safetensors.BytesFloat32(parts[2]))
	opt.Step, opt.AdamWConfig, opt.Decay = meta.Step, meta.AdamW, meta.Decay
	return meta.Extra, nil
}

// writeFileAtomic writes a file at path through write: into a temporary file in the same
// folder, synced, then renamed over path. On any error the temporary file is removed and
// path is untouched.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("train: checkpoint %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}
