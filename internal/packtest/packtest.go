// Package packtest holds what the tests of svf, svf/convert, svf/learn and model/pack share: a
// random-weight checkpoint to convert, a pack's model on the CPU engine, and the logits
// to compare. It imports svf but not svf/convert, so svf/convert's own tests can use it;
// each test package converts with its own few lines.
package packtest

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/svf"
)

// TinyConfig is a two-layer Qwen2-shaped config.json (hidden 48, MLP 80, 4/2 heads) over
// byte tokens: packs of it convert in milliseconds.
const TinyConfig = `{
  "architectures": ["Qwen2ForCausalLM"], "vocab_size": 260, "hidden_size": 48,
  "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
  "rope_theta": 10000, "tie_word_embeddings": true
}`

// Checkpoint writes a random-weight checkpoint folder with a byte-level tokenizer, for
// config (a config.json), and returns it.
func Checkpoint(t testing.TB, config string, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := model.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if err := model.WriteCheckpoint(dir, []byte(config), model.RandomWeights(cfg, seed), safetensors.BF16); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokenizer.ByteLevelJSON([]string{"<|endoftext|>"}), 0o644)
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"eos_token": "<|endoftext|>"}`), 0o644)
	return dir
}

// Open opens the pack in dir.
func Open(t testing.TB, dir string) *svf.Pack {
	t.Helper()
	p, err := svf.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Load loads p's weights on path and a CPU engine over them.
func Load(t testing.TB, p *svf.Pack, path svf.Path) (*model.Model, *model.CPU) {
	t.Helper()
	m, err := p.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewCPU(m, model.CPUOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m, e
}

// LogitsAt runs ids through e and returns the logits of the given positions.
func LogitsAt(t testing.TB, e model.Engine, ids, positions []int) [][]float32 {
	t.Helper()
	e.Clear(0)
	var b model.Batch
	for i, id := range ids {
		b.Add(id, i, 0, slices.Contains(positions, i))
	}
	if err := e.Forward(&b); err != nil {
		t.Fatal(err)
	}
	rows := make([][]float32, len(positions))
	for r := range rows {
		rows[r] = make([]float32, e.Config().VocabSize)
		if err := e.Logits(rows[r], r); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// PopulationLogits runs ids in sequence 0 of e as a population of one, z, and returns
// the last token's logits; the population is dropped again.
func PopulationLogits(t testing.TB, e model.Engine, ids []int, z map[string][]float32) []float32 {
	t.Helper()
	if err := e.SetPopulation([]map[string][]float32{z}); err != nil {
		t.Fatal(err)
	}
	got := PopulationRowLogits(t, e, ids)
	if err := e.SetPopulation(nil); err != nil {
		t.Fatal(err)
	}
	return got
}

// PopulationRowLogits runs ids in sequence 0 of e as rows of candidate 0 of the
// population e holds, and returns the last token's logits.
func PopulationRowLogits(t testing.TB, e model.Engine, ids []int) []float32 {
	t.Helper()
	e.Clear(0)
	var b model.Batch
	for pos, id := range ids {
		b.AddCand(id, pos, 0, 0, pos == len(ids)-1)
	}
	if err := e.Forward(&b); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, e.Config().VocabSize)
	if err := e.Logits(got, 0); err != nil {
		t.Fatal(err)
	}
	return got
}

// MaxAbsDiff returns the largest |a[i][j] − b[i][j]|.
func MaxAbsDiff(a, b [][]float32) float64 {
	var worst float64
	for i := range a {
		for j := range a[i] {
			worst = max(worst, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return worst
}

// RandomZ draws a z per adapted matrix of p from U(lo, hi).
func RandomZ(p *svf.Pack, seed uint64, lo, hi float32) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	z := map[string][]float32{}
	for _, name := range p.Manifest.Matrices {
		r, _ := p.Rank(name)
		v := make([]float32, r)
		for i := range v {
			v[i] = lo + (hi-lo)*rng.Float32()
		}
		z[name] = v
	}
	return z
}
