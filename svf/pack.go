package svf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
)

// A pack is a model ready for the browser, one static folder (ARCHITECTURE §3):
//
//	pack.json                       Manifest: format version, config, targets, quantisation, shards
//	weights-NNNNN.safetensors       shards of at most ShardBytes each
//	tokenizer.json, tokenizer_config.json, generation_config.json   copied unchanged
//	experts/index.json, experts/NAME.safetensors                    SVF experts (expert.go)
//
// An adapted matrix X (a Hugging Face matrix name without ".weight") is stored as X.U
// [M,R], X.S [R] f32 and X.V [N,R], plus X.bias if it has one. With int8 quantisation
// U, V and every other matrix are Q8: int8 values and f32 scales NAME.scale [rows,
// ceil(cols/32)]; vectors (norms, biases, σ) stay f32. A tensor larger than a shard is
// split by rows into NAME#0, NAME#1, … (Manifest.Parts). Version 2 adds two ways to
// keep an int8 pack closer to its model: f32 for the first K columns of U and V
// (Manifest.ExactRank) and f32 for named unadapted matrices (Manifest.F32).

// Format names the pack format in pack.json; FormatVersion is the newest version this
// code reads. Convert writes version 1 unless the pack uses a version 2 field, so such
// packs stay readable by older t2web.
const (
	Format        = "t2web-pack"
	FormatVersion = 2
	ManifestFile  = "pack.json"
	// DefaultShardBytes keeps shards well under GitHub Pages' 100 MB per file.
	DefaultShardBytes = 64 << 20
)

// Quantisations of a pack.
const (
	QuantInt8 = "int8"
	QuantF32  = "f32"
)

// Manifest is pack.json.
type Manifest struct {
	Format   string          `json:"format"`
	Version  int             `json:"version"`
	Config   json.RawMessage `json:"config"`          // the checkpoint's config.json, unchanged
	Targets  []string        `json:"targets"`         // "mlp", and "attn" when attention is adapted too
	Matrices []string        `json:"matrices"`        // the adapted matrices, in model order
	Quant    string          `json:"quant"`           // QuantInt8 or QuantF32
	Block    int             `json:"block,omitempty"` // int8: values per scale along a row
	// ExactRank (int8, version 2): the first ExactRank columns of every U and V — the
	// largest singular directions, which carry most of W — are stored in f32 as NAME.U.hi
	// [M,K] and NAME.V.hi [N,K]; NAME.U [M,R-K] and NAME.V [N,R-K] hold the rest in Q8.
	ExactRank int `json:"exact_rank,omitempty"`
	// F32 (int8, version 2) names the matrices that are not adapted but kept in f32
	// (e.g. the embedding and lm_head of a small model), by their checkpoint names.
	F32    []string       `json:"f32,omitempty"`
	Files  []string       `json:"files"` // tokenizer and generation files, copied unchanged
	Shards []Shard        `json:"shards"`
	Parts  map[string]int `json:"parts,omitempty"` // tensors split by rows across shards
}

// Shard is one weights file of a pack.
type Shard struct {
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Pack is an opened pack folder; Load reads its weights.
type Pack struct {
	fsys     fs.FS
	Manifest Manifest
	Config   *model.Config
	ranks    map[string]int // adapted matrix → R
	// SHA256 hashes a shard to check it against pack.json; crypto/sha256 when nil. The
	// page sets the browser's (SubtleCrypto), which is many times faster than Go's
	// compiled to wasm.
	SHA256 func(data []byte) ([32]byte, error)
}

// TextFiles returns the files of a checkpoint a pack copies unchanged when present; the
// first two are required.
func TextFiles() []string {
	return []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json"}
}

// Open reads and checks a pack's pack.json.
func Open(fsys fs.FS) (*Pack, error) {
	data, err := fs.ReadFile(fsys, ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if looksLikeHTML(data) {
		// A pack URL that is a web page (a typo, a login wall, a host's 404 page) answers
		// pack.json with HTML; the JSON error alone would only name a '<'.
		return nil, fmt.Errorf("pack: %s is a web page (HTML), not a pack manifest: the address does not point to a pack folder", ManifestFile)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("pack: %s: %w", ManifestFile, err)
	}
	switch {
	case m.Format != Format:
		return nil, fmt.Errorf("pack: %s: format %q, want %q", ManifestFile, m.Format, Format)
	case m.Version > FormatVersion:
		return nil, fmt.Errorf("pack: %s: format version %d is newer than this t2web reads (%d): update t2web", ManifestFile, m.Version, FormatVersion)
	case m.Version < 1:
		return nil, fmt.Errorf("pack: %s: format version %d, want 1…%d", ManifestFile, m.Version, FormatVersion)
	case m.Quant != QuantInt8 && m.Quant != QuantF32:
		return nil, fmt.Errorf("pack: %s: quant %q, want %q or %q", ManifestFile, m.Quant, QuantInt8, QuantF32)
	case m.Quant == QuantInt8 && m.Block != Q8Block:
		return nil, fmt.Errorf("pack: %s: block %d, want %d", ManifestFile, m.Block, Q8Block)
	case len(m.Shards) == 0:
		return nil, fmt.Errorf("pack: %s: no shards", ManifestFile)
	case (m.ExactRank != 0 || len(m.F32) > 0) && m.Quant != QuantInt8:
		return nil, fmt.Errorf("pack: %s: exact_rank and f32 belong to an int8 pack, this one is %s", ManifestFile, m.Quant)
	case (m.ExactRank != 0 || len(m.F32) > 0) && m.Version < 2:
		return nil, fmt.Errorf("pack: %s: exact_rank and f32 need format version 2, pack.json says %d", ManifestFile, m.Version)
	}
	cfg, err := model.ParseConfig(m.Config)
	if err != nil {
		return nil, fmt.Errorf("pack: %s: %w", ManifestFile, err)
	}
	p := &Pack{fsys: fsys, Manifest: m, Config: cfg, ranks: map[string]int{}}
	dims := matrixDims(cfg)
	for _, name := range m.Matrices {
		d, ok := dims[name]
		if !ok {
			return nil, fmt.Errorf("pack: %s: adapted matrix %s is not a matrix of the model", ManifestFile, name)
		}
		p.ranks[name] = min(d[0], d[1])
	}
	if err := CheckPrecision(cfg, m.Matrices, m.ExactRank, "exact_rank", m.F32); err != nil {
		return nil, fmt.Errorf("pack: %s: %w", ManifestFile, err)
	}
	return p, nil
}

// CheckPrecision checks what an int8 pack keeps in f32, for Convert's options and
// pack.json alike: an exact rank (exactField names it in errors) of at least 0 and below
// the rank of every adapted matrix, and f32 names that are matrices of cfg not adapted.
func CheckPrecision(cfg *model.Config, adapted []string, exact int, exactField string, f32 []string) error {
	if exact < 0 {
		return fmt.Errorf("%s %d, want ≥ 0", exactField, exact)
	}
	dims := matrixDims(cfg)
	for _, name := range adapted {
		if r := min(dims[name][0], dims[name][1]); exact >= r {
			return fmt.Errorf("%s %d, want below the rank %d of %s", exactField, exact, r, name)
		}
	}
	matrices := map[string]bool{}
	for _, s := range cfg.Bind(&model.Weights{}) {
		if len(s.Shape) == 2 && !slices.Contains(adapted, strings.TrimSuffix(s.Name, ".weight")) {
			matrices[s.Name] = true
		}
	}
	for _, name := range f32 {
		if !matrices[name] {
			return fmt.Errorf("f32: %s is not an unadapted matrix of the model (e.g. model.embed_tokens.weight)", name)
		}
	}
	return nil
}

// matrixDims maps every layer matrix of cfg to its (out, in).
func matrixDims(cfg *model.Config) map[string][2]int {
	dims := map[string][2]int{}
	shapes := cfg.MatrixDims()
	for l := range cfg.NLayers {
		for j, name := range model.MatrixNames(l) {
			dims[name] = shapes[j]
		}
	}
	return dims
}

// Rank returns R of an adapted matrix, and whether the pack adapts it.
func (p *Pack) Rank(matrix string) (int, bool) {
	r, ok := p.ranks[matrix]
	return r, ok
}

// Path chooses how a loaded pack applies its adapted matrices (ARCHITECTURE §2).
type Path int

const (
	// MergedPath recomposes W' once per z and runs dense matmuls: for generation.
	MergedPath Path = iota
	// FactoredPath applies c·U(s⊙(Vᵀx)) without recomposing: for scoring many z.
	FactoredPath
)

// Load reads the pack's weights into a model for the CPU engine, checking every shard's
// sha256 against pack.json; adapted matrices are svf Merged or Factored linears at z = 1.
func (p *Pack) Load(path Path) (*model.Model, error) { return p.LoadKernels(path, nil) }

// LoadKernels is Load; with kern, Merged matrices recompose through it (RecomposeKernels).
func (p *Pack) LoadKernels(path Path, kern model.Kernels) (*model.Model, error) {
	m, err := model.LoadText(p.fsys, p.Config)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	tensors, err := p.readTensors()
	if err != nil {
		return nil, err
	}
	take := func(name string) ([]float32, error) {
		x, ok := tensors[name]
		if !ok {
			return nil, fmt.Errorf("pack: tensor %s is missing from every shard", name)
		}
		delete(tensors, name)
		return x, nil
	}
	w := &model.Weights{}
	for _, s := range p.Config.Bind(w) {
		if _, adapted := p.ranks[strings.TrimSuffix(s.Name, ".weight")]; adapted && strings.HasSuffix(s.Name, ".weight") {
			continue
		}
		x, err := take(s.Name)
		if err != nil {
			return nil, err
		}
		if len(x) != numel(s.Shape) {
			return nil, fmt.Errorf("pack: tensor %s has %d values, the config implies %v", s.Name, len(x), s.Shape)
		}
		*s.Data = x
	}
	for _, name := range p.Manifest.Matrices {
		d := w.Linears[name].(*model.Dense)
		f := &Factors{M: d.Out, N: d.In, R: p.ranks[name]}
		for _, part := range []struct {
			suffix string
			dst    *[]float32
			n      int
		}{{".U", &f.U, f.M * f.R}, {".S", &f.S, f.R}, {".V", &f.V, f.N * f.R}} {
			x, err := take(name + part.suffix)
			if err != nil {
				return nil, err
			}
			if k := p.Manifest.ExactRank; k > 0 && part.suffix != ".S" {
				hi, err := take(name + part.suffix + ".hi")
				if err != nil {
					return nil, err
				}
				if x, err = JoinColumns(hi, x, k, f.R-k); err != nil {
					return nil, fmt.Errorf("pack: tensor %s%s: %w", name, part.suffix, err)
				}
			}
			if len(x) != part.n {
				return nil, fmt.Errorf("pack: tensor %s%s has %d values, want %d", name, part.suffix, len(x), part.n)
			}
			*part.dst = x
		}
		var l model.Linear
		if path == FactoredPath {
			l = NewFactored(f, d.B)
		} else {
			l = newMerged(f, d.B, kern)
		}
		if err := w.Replace(name, l); err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
	}
	if p.Config.TieEmbeddings {
		w.LMHead = w.Embed
	}
	m.Weights = w
	return m, nil
}

// LoadInt8 reads an int8 pack's weights into a model for the CPU engine's int8 path,
// checking every shard's sha256 against pack.json: the int8 tensors stay int8 — adapted
// matrices MergedQ8 at z = 1 (recomposed on kern, GoKernels when nil), other matrices
// model.Q8Dense, the embedding and lm_head Weights.EmbedQ8 and LMHeadQ8 — and the f32
// ones (the exact rank, Manifest.F32, vectors) stay f32. An f32 pack loads as Load's
// MergedPath.
func (p *Pack) LoadInt8(kern model.Kernels) (*model.Model, error) {
	if p.Manifest.Quant != QuantInt8 {
		return p.Load(MergedPath)
	}
	m, err := model.LoadText(p.fsys, p.Config)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	raw, err := p.readRaw()
	if err != nil {
		return nil, err
	}
	take := func(name string) (*rawTensor, error) {
		r, ok := raw[name]
		if !ok {
			return nil, fmt.Errorf("pack: tensor %s is missing from every shard", name)
		}
		delete(raw, name)
		return r, nil
	}
	// f32 and q8 decode tensor name of shape [rows, cols] (a vector: cols 0).
	f32 := func(name string, n int) ([]float32, error) {
		r, err := take(name)
		if err != nil {
			return nil, err
		}
		x, err := r.float32(name, raw[name+".scale"])
		if err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
		if len(x) != n {
			return nil, fmt.Errorf("pack: tensor %s has %d values, want %d", name, len(x), n)
		}
		return x, nil
	}
	q8 := func(name string, rows, cols int) (*model.Q8, error) {
		r, err := take(name)
		if err != nil {
			return nil, err
		}
		q, err := r.q8(name, raw[name+".scale"])
		if err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
		if q.Rows != rows || q.Cols != cols {
			return nil, fmt.Errorf("pack: tensor %s is %d×%d, want %d×%d", name, q.Rows, q.Cols, rows, cols)
		}
		return q, nil
	}
	w := &model.Weights{}
	dense := map[string]*model.Q8{} // unadapted int8 matrices, by Linears name
	for _, s := range p.Config.Bind(w) {
		name, isWeight := strings.CutSuffix(s.Name, ".weight")
		if _, adapted := p.ranks[name]; adapted && isWeight {
			continue
		}
		if r, ok := raw[s.Name]; ok && r.info.DType == safetensors.I8 && len(s.Shape) == 2 {
			q, err := q8(s.Name, s.Shape[0], s.Shape[1])
			if err != nil {
				return nil, err
			}
			switch s.Name {
			case "model.embed_tokens.weight":
				w.EmbedQ8 = q
			case "lm_head.weight":
				w.LMHeadQ8 = q
			default:
				dense[name] = q
			}
			continue
		}
		x, err := f32(s.Name, numel(s.Shape))
		if err != nil {
			return nil, err
		}
		*s.Data = x
	}
	for name, q := range dense {
		d := w.Linears[name].(*model.Dense)
		if err := w.Replace(name, &model.Q8Dense{W: q, B: d.B}); err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
	}
	k := p.Manifest.ExactRank
	for _, name := range p.Manifest.Matrices {
		d := w.Linears[name].(*model.Dense)
		M, N, R := d.Out, d.In, p.ranks[name]
		u, err := q8(name+".U", M, R-k)
		if err != nil {
			return nil, err
		}
		v, err := q8(name+".V", N, R-k)
		if err != nil {
			return nil, err
		}
		sigma, err := f32(name+".S", R)
		if err != nil {
			return nil, err
		}
		var uhi, vhi []float32
		if k > 0 {
			if uhi, err = f32(name+".U.hi", M*k); err != nil {
				return nil, err
			}
			if vhi, err = f32(name+".V.hi", N*k); err != nil {
				return nil, err
			}
		}
		l, err := NewMergedQ8(M, N, R, k, u, v, uhi, vhi, sigma, d.B, kern)
		if err != nil {
			return nil, fmt.Errorf("pack: %s: %w", name, err)
		}
		if err := w.Replace(name, l); err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
	}
	if p.Config.TieEmbeddings {
		w.LMHead, w.LMHeadQ8 = w.Embed, w.EmbedQ8
	}
	m.Weights = w
	return m, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// readTensors reads every shard, checks its sha256, and returns every tensor as float32
// (Q8 tensors dequantised, split tensors joined), by name.
func (p *Pack) readTensors() (map[string][]float32, error) {
	raw, err := p.readRaw()
	if err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for name, r := range raw {
		if strings.HasSuffix(name, ".scale") {
			continue
		}
		x, err := r.float32(name, raw[name+".scale"])
		if err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
		out[name] = x
	}
	return out, nil
}

// readRaw reads every shard, checks its sha256, and returns every tensor as the shards
// store it, split tensors joined, by name (a Q8 tensor's scales as NAME.scale).
func (p *Pack) readRaw() (map[string]*rawTensor, error) {
	raw := map[string]*rawTensor{}
	for i, sh := range p.Manifest.Shards {
		data, err := p.ReadShard(i)
		if err != nil {
			return nil, err
		}
		f, err := safetensors.Open(bytes.NewReader(data), int64(len(data)), sh.File)
		if err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
		for _, t := range f.Tensors() {
			b, err := f.Raw(t.Name)
			if err != nil {
				return nil, fmt.Errorf("pack: %w", err)
			}
			raw[t.Name] = &rawTensor{info: t, data: b}
		}
	}
	// Join split tensors.
	for name, n := range p.Manifest.Parts {
		for _, suffix := range []string{"", ".scale", ".hi"} {
			var parts []*rawTensor
			for k := range n {
				r, ok := raw[fmt.Sprintf("%s#%d%s", name, k, suffix)]
				if !ok {
					if suffix != "" && k == 0 { // a part the tensor does not have
						break
					}
					return nil, fmt.Errorf("pack: tensor %s: part %d of %d is missing", name, k, n)
				}
				parts = append(parts, r)
				delete(raw, fmt.Sprintf("%s#%d%s", name, k, suffix))
			}
			if len(parts) == 0 {
				continue
			}
			joined := &rawTensor{info: parts[0].info}
			joined.info.Shape = slices.Clone(parts[0].info.Shape)
			joined.info.Shape[0] = 0
			for _, r := range parts {
				joined.info.Shape[0] += r.info.Shape[0]
				joined.data = append(joined.data, r.data...)
			}
			raw[name+suffix] = joined
		}
	}
	return raw, nil
}

// ReadShard reads shard i of pack.json's shards whole and checks its size and sha256:
// engines that stream a pack to a device read it one shard at a time.
func (p *Pack) ReadShard(i int) ([]byte, error) {
	if i < 0 || i >= len(p.Manifest.Shards) {
		return nil, fmt.Errorf("pack: shard %d of %d", i, len(p.Manifest.Shards))
	}
	sh := p.Manifest.Shards[i]
	data, err := fs.ReadFile(p.fsys, sh.File)
	if err != nil {
		return nil, fmt.Errorf("pack: shard %d (%s): %w", i+1, sh.File, err)
	}
	if int64(len(data)) != sh.Bytes {
		return nil, fmt.Errorf("pack: shard %s: %d bytes, pack.json says %d", sh.File, len(data), sh.Bytes)
	}
	hash := p.SHA256
	if hash == nil {
		hash = func(b []byte) ([32]byte, error) { return sha256.Sum256(b), nil }
	}
	sum, err := hash(data)
	if err != nil {
		return nil, fmt.Errorf("pack: shard %s: sha256: %w", sh.File, err)
	}
	if hex.EncodeToString(sum[:]) != sh.SHA256 {
		return nil, fmt.Errorf("pack: shard %s: sha256 %x does not match pack.json's %s: the file is corrupted or was changed", sh.File, sum, sh.SHA256)
	}
	return data, nil
}

// rawTensor is a tensor's bytes as a shard stores them.
type rawTensor struct {
	info safetensors.TensorInfo
	data []byte
}

// float32 decodes the tensor; an I8 tensor needs its Q8 scales.
func (r *rawTensor) float32(name string, scale *rawTensor) ([]float32, error) {
	switch r.info.DType {
	case safetensors.F32:
		return safetensors.BytesFloat32(r.data), nil
	case safetensors.I8:
		if scale == nil || len(r.info.Shape) != 2 {
			return nil, fmt.Errorf("tensor %s: int8 without a 2-D shape and %s.scale", name, name)
		}
		rows, cols := r.info.Shape[0], r.info.Shape[1]
		s := safetensors.BytesFloat32(scale.data)
		if len(s) != rows*((cols+Q8Block-1)/Q8Block) {
			return nil, fmt.Errorf("tensor %s.scale has %d values, want %d×%d", name, len(s), rows, (cols+Q8Block-1)/Q8Block)
		}
		q := make([]int8, len(r.data))
		for i, b := range r.data {
			q[i] = int8(b)
		}
		x := make([]float32, rows*cols)
		DequantizeQ8(x, q, s, rows, cols)
		return x, nil
	}
	return nil, fmt.Errorf("tensor %s: dtype %s, a pack holds F32 and I8", name, r.info.DType)
}

// q8 returns an I8 tensor [rows, cols] and its scales as a model.Q8 (rows padded to
// whole blocks).
func (r *rawTensor) q8(name string, scale *rawTensor) (*model.Q8, error) {
	if r.info.DType != safetensors.I8 || scale == nil || len(r.info.Shape) != 2 {
		return nil, fmt.Errorf("tensor %s: %s %v is not a Q8 matrix with %s.scale", name, r.info.DType, r.info.Shape, name)
	}
	rows, cols := r.info.Shape[0], r.info.Shape[1]
	s := safetensors.BytesFloat32(scale.data)
	nb := Q8Blocks(cols)
	if len(s) != rows*nb || len(r.data) != rows*cols {
		return nil, fmt.Errorf("tensor %s: %d values and %d scales, want %d×%d and %d×%d", name, len(r.data), len(s), rows, cols, rows, nb)
	}
	q := model.NewQ8(rows, cols)
	copy(q.Scale, s)
	stride := q.Stride()
	for i := range rows {
		dst, src := q.Q[i*stride:i*stride+cols], r.data[i*cols:(i+1)*cols]
		for j, b := range src {
			dst[j] = int8(b)
		}
	}
	return q, nil
}

// OpenDir opens the pack in a folder of the local file system.
func OpenDir(dir string) (*Pack, error) {
	p, err := Open(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return p, nil
}

// looksLikeHTML tells whether data starts as an HTML document does.
func looksLikeHTML(data []byte) bool {
	head := bytes.ToLower(bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\ufeff"))))
	return bytes.HasPrefix(head, []byte("<!doctype html")) || bytes.HasPrefix(head, []byte("<html"))
}
