package convert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/svf"
)

// Options choose what a pack adapts and how it stores weights.
type Options struct {
	Targets    []string // "mlp" (gate, up, down: the default) and/or "attn" (q, k, v, o)
	Quant      string   // QuantInt8 (default) or QuantF32
	ShardBytes int64    // largest shard; DefaultShardBytes when 0
	// ExactRank (int8) keeps the first K columns of every U and V, the largest singular
	// directions, in f32 (Manifest.ExactRank). A small model's greedy answers need it:
	// Q8 factors alone flip tokens of its long answers.
	ExactRank int
	// F32 (int8) names unadapted matrices to keep in f32, by checkpoint name, e.g.
	// model.embed_tokens.weight and lm_head.weight (Manifest.F32).
	F32 []string
	// Factors, when set, supplies the factors of an adapted matrix (name without
	// ".weight") of weight w[m,n] instead of Decompose, e.g. the reference's cached
	// torch.svd (t2 convert --reference-svd; NewFactors). It may be called concurrently.
	Factors func(matrix string, w []float32, m, n int) (*svf.Factors, error)
	// Workers is how many matrices are decomposed at once (each on every core for its
	// products and rotations); DefaultWorkers when 0. Finished matrices wait on disk, in
	// the scratch folder (scratch.go), not in memory: peak memory is about Workers
	// decompositions plus the largest unadapted tensor.
	Workers int
	// Progress, when set, is called as each adapted matrix goes into the pack, in model
	// order; resumed is true when its factors came from an interrupted run's scratch
	// file rather than a decomposition.
	Progress func(done, total int, matrix string, resumed bool)
}

// DefaultWorkers decomposes two matrices at once: the tridiagonal reduction inside
// Decompose runs on one core, so a second matrix keeps the other busy.
const DefaultWorkers = 2

// targetMatrices maps a target name to the matrices of a layer it adapts.
var targetMatrices = map[string][]string{
	"mlp":  {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"},
	"attn": {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"},
}

// adaptedMatrices lists, in model order, the matrices the targets adapt.
func adaptedMatrices(cfg *model.Config, targets []string) ([]string, error) {
	want := map[string]bool{}
	for _, t := range targets {
		ms, ok := targetMatrices[t]
		if !ok {
			return nil, fmt.Errorf("svf: target %q, want mlp or attn", t)
		}
		for _, m := range ms {
			want[m] = true
		}
	}
	var out []string
	for l := range cfg.NLayers {
		prefix := fmt.Sprintf("model.layers.%d.", l)
		for _, name := range model.MatrixNames(l) {
			if want[strings.TrimPrefix(name, prefix)] {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// Convert makes a pack in outDir from the Hugging Face checkpoint folder src: every
// adapted matrix is decomposed (thin SVD, nothing truncated) and, with int8, its U and V
// and every other matrix are quantised (Q8); the tokenizer files are copied unchanged.
// The same checkpoint and options give the same bytes.
func Convert(src fs.FS, outDir string, opt Options) (*pack.Manifest, error) {
	return ConvertContext(context.Background(), src, outDir, opt)
}

// ConvertContext is Convert, stopped early with ctx's error when ctx is done. Matrices
// already decomposed stay in outDir's scratch folder (scratch.go): running it again on
// the same checkpoint with the same options decomposes only the others and writes the
// same bytes as an uninterrupted run. Decompositions under way when ctx is done are
// finished (and kept) before it returns.
func ConvertContext(ctx context.Context, src fs.FS, outDir string, opt Options) (*pack.Manifest, error) {
	if len(opt.Targets) == 0 {
		opt.Targets = []string{"mlp"}
	}
	if opt.Quant == "" {
		opt.Quant = pack.QuantInt8
	}
	if opt.Quant != pack.QuantInt8 && opt.Quant != pack.QuantF32 {
		return nil, fmt.Errorf("svf: quant %q, want %s or %s", opt.Quant, pack.QuantInt8, pack.QuantF32)
	}
	if opt.ShardBytes <= 0 {
		opt.ShardBytes = pack.DefaultShardBytes
	}
	cfgJSON, err := fs.ReadFile(src, "config.json")
	if err != nil {
		return nil, fmt.Errorf("svf: %w", err)
	}
	cfg, err := model.ParseConfig(cfgJSON)
	if err != nil {
		return nil, err
	}
	matrices, err := adaptedMatrices(cfg, opt.Targets)
	if err != nil {
		return nil, err
	}
	if (opt.ExactRank != 0 || len(opt.F32) > 0) && opt.Quant != pack.QuantInt8 {
		return nil, fmt.Errorf("svf: an exact rank and f32 matrices belong to an int8 pack, not %s", opt.Quant)
	}
	if err := pack.CheckPrecision(cfg, matrices, opt.ExactRank, "exact rank", opt.F32); err != nil {
		return nil, fmt.Errorf("svf: %w", err)
	}
	ck, err := safetensors.OpenCheckpoint(src)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	man := &pack.Manifest{Format: pack.Format, Config: json.RawMessage(bytes.TrimSpace(cfgJSON)),
		Targets: slices.Clone(opt.Targets), Matrices: matrices, Quant: opt.Quant,
		ExactRank: opt.ExactRank, F32: slices.Clone(opt.F32)}
	if opt.Quant == pack.QuantInt8 {
		man.Block = pack.Q8Block
	}
	if man.ExactRank > 0 || len(man.F32) > 0 {
		man.Version = 2
	} else {
		man.Version = 1 // what older t2web reads; nothing of version 2 is used
	}
	for i, name := range pack.TextFiles() {
		data, err := fs.ReadFile(src, name)
		if errors.Is(err, fs.ErrNotExist) && i >= 2 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("svf: %w", err)
		}
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return nil, err
		}
		man.Files = append(man.Files, name)
	}

	// Decompose the adapted matrices, Workers at a time, in model order; each one's
	// pack tensors go to its scratch file, which the writer below reads in turn.
	adapted := map[string]int{}
	for i, name := range matrices {
		adapted[name+".weight"] = i
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	type result struct {
		key     string // the matrix's scratchKey
		resumed bool
		err     error
	}
	results := make([]chan result, len(matrices))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	jobs := make(chan int)
	stop := make(chan struct{}) // closed on return: matrices not started are skipped
	var wg sync.WaitGroup
	defer wg.Wait() // after close(stop): no decomposition outlives Convert
	defer close(stop)
	go func() {
		defer close(jobs)
		for i := range matrices {
			select {
			case jobs <- i:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	for range min(workers, len(matrices)) {
		wg.Go(func() {
			for i := range jobs {
				key, resumed, err := decomposeToScratch(ck, outDir, matrices[i], opt)
				results[i] <- result{key, resumed, err}
			}
		})
	}
	sw := &shardWriter{dir: outDir, max: opt.ShardBytes, parts: map[string]int{}}
	done := 0
	for _, s := range cfg.Bind(&model.Weights{}) {
		if i, ok := adapted[s.Name]; ok {
			var r result
			select {
			case r = <-results[i]:
			case <-ctx.Done():
				return nil, fmt.Errorf("svf: convert: %w", ctx.Err())
			}
			if r.err != nil {
				return nil, r.err
			}
			base := matrices[i]
			path := scratchPath(outDir, base)
			groups, ok := readScratch(path, r.key)
			if !ok {
				return nil, fmt.Errorf("svf: %s: scratch file %s is unreadable", base, path)
			}
			for _, g := range groups {
				if err := sw.add(g...); err != nil {
					return nil, err
				}
			}
			done++
			if opt.Progress != nil {
				opt.Progress(done, len(matrices), base, r.resumed)
			}
			continue
		}
		info, ok := ck.Info(s.Name)
		if !ok {
			return nil, fmt.Errorf("svf: checkpoint: tensor %s is missing", s.Name)
		}
		if !slices.Equal(info.Shape, s.Shape) {
			return nil, fmt.Errorf("svf: checkpoint: tensor %s has shape %v, config.json implies %v", s.Name, info.Shape, s.Shape)
		}
		x, err := ck.Float32(s.Name)
		if err != nil {
			return nil, fmt.Errorf("svf: checkpoint: %w", err)
		}
		switch {
		case len(s.Shape) == 2 && slices.Contains(opt.F32, s.Name):
			err = sw.matrix(s.Name, x, s.Shape[0], s.Shape[1], pack.QuantF32)
		case len(s.Shape) == 2:
			err = sw.matrix(s.Name, x, s.Shape[0], s.Shape[1], opt.Quant)
		default:
			err = sw.add(safetensors.Float32Tensor(s.Name, x, s.Shape))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sw.flush(); err != nil {
		return nil, err
	}
	man.Shards = sw.shards
	if len(sw.parts) > 0 {
		man.Parts = sw.parts
	}
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(outDir, pack.ManifestFile), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(outDir, scratchDir)); err != nil {
		return nil, fmt.Errorf("svf: convert: %w", err)
	}
	return man, nil
}

// decomposeToScratch makes sure outDir's scratch file for the adapted matrix NAME holds
// its pack tensors for this checkpoint and these options: it keeps a matching file
// (resumed) or decomposes W and writes one.
func decomposeToScratch(ck *safetensors.Checkpoint, outDir, name string, opt Options) (key string, resumed bool, err error) {
	info, ok := ck.Info(name + ".weight")
	if !ok {
		return "", false, fmt.Errorf("svf: checkpoint: tensor %s.weight is missing", name)
	}
	if len(info.Shape) != 2 {
		return "", false, fmt.Errorf("svf: %s.weight has shape %v, want a matrix", name, info.Shape)
	}
	m, n := info.Shape[0], info.Shape[1]
	w, err := ck.Float32(name + ".weight")
	if err != nil {
		return "", false, fmt.Errorf("svf: checkpoint: %w", err)
	}
	method := decomposeMethod
	if opt.Factors != nil {
		method = "supplied" // e.g. the reference's factors: not what Decompose would give
	}
	key = scratchKey(method, w, m, n, opt.Quant, opt.ExactRank)
	path := scratchPath(outDir, name)
	if _, ok := readScratch(path, key); ok {
		return key, true, nil
	}
	f, err := opt.decompose(name, w, m, n)
	if err != nil {
		return "", false, fmt.Errorf("svf: %s: %w", name, err)
	}
	w = nil
	groups := [][]safetensors.Tensor{
		factorTensors(pack.U(name), f.U, f.M, f.R, opt.Quant, opt.ExactRank),
		{safetensors.Float32Tensor(pack.S(name), f.S, []int{f.R})},
		factorTensors(pack.V(name), f.V, f.N, f.R, opt.Quant, opt.ExactRank),
	}
	return key, false, writeScratch(path, key, groups)
}

// shardWriter lays tensors into shards of at most max bytes each, splitting by rows a
// tensor that alone would not fit.
type shardWriter struct {
	dir    string
	max    int64
	cur    []safetensors.Tensor
	size   int64
	shards []pack.Shard
	parts  map[string]int
}

// headerReserve is the header room kept per tensor so a shard's file stays under max.
const headerReserve = 256

// matrix adds x[rows, cols] as f32, or as Q8 (NAME int8 and NAME.scale), split into row
// ranges together when it does not fit one shard.
func (w *shardWriter) matrix(name string, x []float32, rows, cols int, quant string) error {
	return w.add(matrixTensors(name, x, rows, cols, quant)...)
}

// matrixTensors returns x[rows, cols] as f32 (NAME), or as Q8 (NAME int8 and NAME.scale).
func matrixTensors(name string, x []float32, rows, cols int, quant string) []safetensors.Tensor {
	if quant == pack.QuantF32 {
		return []safetensors.Tensor{safetensors.Float32Tensor(name, x, []int{rows, cols})}
	}
	return q8Tensors(name, x, rows, cols)
}

// q8Tensors returns the tensors NAME (int8) and NAME.scale of x[rows, cols] in Q8.
func q8Tensors(name string, x []float32, rows, cols int) []safetensors.Tensor {
	q, scale := pack.QuantizeQ8(x, rows, cols)
	data := make([]byte, len(q))
	for i, v := range q {
		data[i] = byte(v)
	}
	return []safetensors.Tensor{
		{Name: name, DType: safetensors.I8, Shape: []int{rows, cols}, Data: data},
		safetensors.Float32Tensor(pack.Scales.Of(name), scale, []int{rows, pack.Q8Blocks(cols)}),
	}
}

// factorTensors returns the factor x[rows, r] (U or V) as matrixTensors does; with
// exact > 0 its first exact columns go in f32 as NAME.hi and the others in Q8, in the
// same rows (one group for the shard writer).
func factorTensors(name string, x []float32, rows, r int, quant string, exact int) []safetensors.Tensor {
	if exact == 0 || quant == pack.QuantF32 {
		return matrixTensors(name, x, rows, r, quant)
	}
	hi := make([]float32, 0, rows*exact)
	lo := make([]float32, 0, rows*(r-exact))
	for i := range rows {
		hi = append(hi, x[i*r:i*r+exact]...)
		lo = append(lo, x[i*r+exact:(i+1)*r]...)
	}
	return append(q8Tensors(name, lo, rows, r-exact), safetensors.Float32Tensor(pack.Exact.Of(name), hi, []int{rows, exact}))
}

// add puts tensors that share their first dimension into the pack, together; if they
// do not fit in one shard they are split by rows into NAME#k parts, shard by shard.
func (w *shardWriter) add(ts ...safetensors.Tensor) error {
	var size, rowBytes int64
	for _, t := range ts {
		size += int64(len(t.Data)) + headerReserve
		if len(t.Shape) > 0 && t.Shape[0] > 0 {
			rowBytes += int64(len(t.Data)) / int64(t.Shape[0])
		}
	}
	if w.size+size > w.max && len(w.cur) > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if size <= w.max {
		w.cur = append(w.cur, ts...)
		w.size += size
		return nil
	}
	rows := ts[0].Shape[0]
	per := int((w.max - int64(len(ts))*headerReserve) / max(rowBytes, 1))
	if per < 1 {
		return fmt.Errorf("svf: tensor %s: one row (%d bytes) is larger than a shard (%d bytes)", ts[0].Name, rowBytes, w.max)
	}
	k := 0
	for lo := 0; lo < rows; lo += per {
		hi := min(lo+per, rows)
		for _, t := range ts {
			rb := len(t.Data) / rows
			shape := slices.Clone(t.Shape)
			shape[0] = hi - lo
			piece := pack.Values // the group's other tensors are pieces of its first
			if t.Name != ts[0].Name {
				piece = pack.Piece(strings.TrimPrefix(t.Name, ts[0].Name))
			}
			w.cur = append(w.cur, safetensors.Tensor{Name: piece.Of(pack.Part(ts[0].Name, k)),
				DType: t.DType, Shape: shape, Data: t.Data[lo*rb : hi*rb]})
		}
		if err := w.flush(); err != nil {
			return err
		}
		k++
	}
	w.parts[ts[0].Name] = k
	return nil
}

// flush writes the current shard.
func (w *shardWriter) flush() error {
	if len(w.cur) == 0 {
		return nil
	}
	name := fmt.Sprintf("weights-%05d.safetensors", len(w.shards)+1)
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, w.cur, map[string]string{"format": pack.Format}); err != nil {
		return fmt.Errorf("svf: %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, name), buf.Bytes(), 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	w.shards = append(w.shards, pack.Shard{File: name, Bytes: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])})
	w.cur, w.size = w.cur[:0], 0
	return nil
}
