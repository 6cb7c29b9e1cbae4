package pack

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
)

// Format names the pack format in pack.json; FormatVersion is the newest version this
// code reads. svf/convert writes version 1 unless the pack uses a version 2 field, so
// such packs stay readable by older t2web.
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

// Pack is an opened pack folder; ReadShard reads its weights one shard at a time, Load
// all of them into a model.
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
	dims := cfg.MatrixShapes()
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

// CheckPrecision checks what an int8 pack keeps in f32, for svf/convert's options and
// pack.json alike: an exact rank (exactField names it in errors) of at least 0 and below
// the rank of every adapted matrix, and f32 names that are matrices of cfg not adapted.
func CheckPrecision(cfg *model.Config, adapted []string, exact int, exactField string, f32 []string) error {
	if exact < 0 {
		return fmt.Errorf("%s %d, want ≥ 0", exactField, exact)
	}
	dims := cfg.MatrixShapes()
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

// FS returns the pack's folder.
func (p *Pack) FS() fs.FS { return p.fsys }

// Rank returns R of an adapted matrix, and whether the pack adapts it.
func (p *Pack) Rank(matrix string) (int, bool) {
	r, ok := p.ranks[matrix]
	return r, ok
}

// ReadShard reads shard i of pack.json's shards whole and checks its size and sha256:
// engines that stream a pack to a device read it one shard at a time.
func (p *Pack) ReadShard(i int) ([]byte, error) {
	data, err := p.readShard(i)
	if err != nil {
		return nil, err
	}
	if err := p.checkShard(i, data); err != nil {
		return nil, err
	}
	return data, nil
}

// readShard reads shard i whole and checks its size against pack.json.
func (p *Pack) readShard(i int) ([]byte, error) {
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
	return data, nil
}

// checkShard checks data, shard i's bytes, against pack.json's sha256 for it.
func (p *Pack) checkShard(i int, data []byte) error {
	sh := p.Manifest.Shards[i]
	hash := p.SHA256
	if hash == nil {
		hash = func(b []byte) ([32]byte, error) { return sha256.Sum256(b), nil }
	}
	sum, err := hash(data)
	if err != nil {
		return fmt.Errorf("pack: shard %s: sha256: %w", sh.File, err)
	}
	if hex.EncodeToString(sum[:]) != sh.SHA256 {
		return fmt.Errorf("pack: shard %s: sha256 %x does not match pack.json's %s: the file is corrupted or was changed", sh.File, sum, sh.SHA256)
	}
	return nil
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
