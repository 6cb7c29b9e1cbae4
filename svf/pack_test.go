package svf

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
)

// convert makes a pack of the checkpoint folder src in a temporary folder.
func convert(t testing.TB, src string, opt ConvertOptions) (string, *Pack) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Convert(os.DirFS(src), dir, opt); err != nil {
		t.Fatal(err)
	}
	p, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, p
}

func load(t testing.TB, p *Pack, path Path) (*model.Model, *model.CPU) {
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

// logitsAt runs ids through e and returns the logits of the given positions.
func logitsAt(t testing.TB, e model.Engine, ids, positions []int) [][]float32 {
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

func maxAbsDiff(a, b [][]float32) float64 {
	var worst float64
	for i := range a {
		for j := range a[i] {
			worst = max(worst, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return worst
}

// TestPackFixtureLogits: an f32 pack at z = 1 keeps llama.cpp's logits within 5e-5 and
// its greedy continuations, on both paths and with attention adapted too.
func TestPackFixtureLogits(t *testing.T) {
	for _, name := range fixtures.Models {
		t.Run(name, func(t *testing.T) {
			src := fixtures.Dir(t, name)
			_, p := convert(t, src, ConvertOptions{Quant: QuantF32, Targets: []string{"mlp", "attn"}})
			for _, path := range []Path{MergedPath, FactoredPath} {
				_, e := load(t, p, path)
				for _, c := range fixtures.Cases(t, src) {
					rows := logitsAt(t, e, c.InputIDs, c.Positions)
					want := c.Logits(t)
					var worst float64
					for r, row := range rows {
						worst = max(worst, c.MaxDiff(row, want, r))
					}
					t.Logf("path %d %s: max |Δlogit| %.3g", path, c.Name, worst)
					if worst > 5e-5 {
						t.Errorf("path %d %s: max |Δlogit| %.3g, want ≤ 5e-5", path, c.Name, worst)
					}
					got, err := model.Generate(context.Background(), e, c.InputIDs, model.Greedy(), c.Greedy.N, nil, nil)
					if err != nil || !slices.Equal(got, c.Greedy.IDs) {
						t.Errorf("path %d %s: greedy %v (%v), llama.cpp %v", path, c.Name, got, err, c.Greedy.IDs)
					}
				}
			}
		})
	}
}

// randomZ draws a z per adapted matrix from U(lo, hi).
func randomZ(p *Pack, seed uint64, lo, hi float32) map[string][]float32 {
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

// TestZ: a uniform z changes nothing (the nuclear-norm rescale), a random z changes the
// logits, and the merged and factored paths agree on it within 1e-5.
func TestZ(t *testing.T) {
	src := fixtures.Dir(t, "qwen2-tiny")
	_, p := convert(t, src, ConvertOptions{Quant: QuantF32, Targets: []string{"mlp", "attn"}})
	c := fixtures.Cases(t, src)[1]
	_, merged := load(t, p, MergedPath)
	_, factored := load(t, p, FactoredPath)
	base := logitsAt(t, merged, c.InputIDs, c.Positions)
	for _, v := range []float32{0.25, 1, 3} {
		if err := merged.SetZ(p.Uniform("u", v).Z); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(logitsAt(t, merged, c.InputIDs, c.Positions), base); d > 1e-5 {
			t.Errorf("uniform z = %g moves the logits by %.3g", v, d)
		}
	}
	z := randomZ(p, 3, 0.2, 1.8)
	for _, e := range []model.Engine{merged, factored} {
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
	}
	a := logitsAt(t, merged, c.InputIDs, c.Positions)
	b := logitsAt(t, factored, c.InputIDs, c.Positions)
	if d := maxAbsDiff(a, b); d > 1e-5 {
		t.Errorf("merged and factored differ by %.3g for a random z", d)
	}
	if d := maxAbsDiff(a, base); d < 1e-3 {
		t.Errorf("a random z moves the logits by only %.3g", d)
	}
	if err := merged.SetZ(nil); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(logitsAt(t, merged, c.InputIDs, c.Positions), base); d > 1e-6 {
		t.Errorf("SetZ(nil) does not restore the base model: %.3g", d)
	}
}

// writeRandomCheckpoint writes a random-weight checkpoint folder with a byte-level
// tokenizer, for config (a config.json).
func writeRandomCheckpoint(t testing.TB, config string, seed uint64) string {
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

// smolLM2Layers is shaped like SmolLM2-135M (hidden 576, 9/3 heads, MLP 1536), with two
// of its 30 layers and a small vocabulary: the matrix shapes are the real ones.
const smolLM2Layers = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 300, "hidden_size": 576,
  "intermediate_size": 1536, "num_hidden_layers": 2, "num_attention_heads": 9,
  "num_key_value_heads": 3, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
  "rope_theta": 100000, "tie_word_embeddings": true, "eos_token_id": 256
}`

// TestInt8Fidelity: in an int8 pack every adapted matrix, recomposed at z = 1, is within
// 1 % relative Frobenius error of the checkpoint's; the logit error is reported relative
// to the logit std.
func TestInt8Fidelity(t *testing.T) {
	type source struct{ name, dir string }
	var sources []source
	if fixtures.Present(t) {
		for _, name := range fixtures.Models {
			sources = append(sources, source{name, fixtures.Dir(t, name)})
		}
	}
	sources = append(sources, source{"smollm2-shaped", writeRandomCheckpoint(t, smolLM2Layers, 1)})
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			_, p := convert(t, s.dir, ConvertOptions{Quant: QuantInt8, Targets: []string{"mlp", "attn"}})
			m, _ := load(t, p, FactoredPath)
			orig, err := model.Load(os.DirFS(s.dir))
			if err != nil {
				t.Fatal(err)
			}
			var errs []float64
			for _, name := range p.Manifest.Matrices {
				f := m.Weights.Linears[name].(*Factored).f
				w := make([]float32, f.M*f.N)
				f.Recompose(w, nil)
				e := RelFrobenius(w, orig.Weights.Linears[name].(*model.Dense).W)
				errs = append(errs, e)
				if e > 0.01 {
					t.Errorf("%s: recomposed W is %.3g%% off", name, 100*e)
				}
			}
			sort.Float64s(errs)
			t.Logf("%d matrices: relative Frobenius error min %.3g%% median %.3g%% max %.3g%%",
				len(errs), 100*errs[0], 100*errs[len(errs)/2], 100*errs[len(errs)-1])
			if !strings.HasSuffix(s.name, "tiny") {
				return
			}
			_, e := load(t, p, MergedPath)
			ref, err := model.NewCPU(orig, model.CPUOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range fixtures.Cases(t, s.dir) {
				a := logitsAt(t, e, c.InputIDs, c.Positions)
				b := logitsAt(t, ref, c.InputIDs, c.Positions)
				var sum, sq float64
				var n int
				for _, row := range b {
					for _, v := range row {
						sum += float64(v)
						sq += float64(v) * float64(v)
						n++
					}
				}
				mean := sum / float64(n)
				std := math.Sqrt(sq/float64(n) - mean*mean)
				t.Logf("%s: int8 pack max |Δlogit| %.3g = %.3g logit std", c.Name, maxAbsDiff(a, b), maxAbsDiff(a, b)/std)
			}
		})
	}
}

// TestMix: α = (1, 0) reproduces the first expert exactly, per-matrix α picks per matrix,
// and α is clamped to [0, 1].
func TestMix(t *testing.T) {
	p := &Pack{Manifest: Manifest{Matrices: []string{"a", "b"}}, ranks: map[string]int{"a": 3, "b": 2}}
	e1 := &Expert{Name: "one", Z: map[string][]float32{"a": {1, 2, 3}, "b": {4, 5}}}
	e2 := &Expert{Name: "two", Z: map[string][]float32{"a": {0.5, 0.25, 2}, "b": {-1, 7}}}
	tests := []struct {
		name  string
		alpha [][]float64
		want  map[string][]float32
	}{
		{"first only", [][]float64{{1}, {0}}, e1.Z},
		{"second only", [][]float64{{0}, {1}}, e2.Z},
		{"half each", [][]float64{{0.5}, {0.5}}, map[string][]float32{"a": {0.75, 1.125, 2.5}, "b": {1.5, 6}}},
		{"per matrix", [][]float64{{1, 0}, {0, 1}}, map[string][]float32{"a": {1, 2, 3}, "b": {-1, 7}}},
		{"clamped", [][]float64{{2}, {-1}}, e1.Z},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z, err := Mix([]*Expert{e1, e2}, tt.alpha, p.Manifest.Matrices)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				if !slices.Equal(z[name], want) {
					t.Errorf("z[%s] = %v, want %v", name, z[name], want)
				}
			}
		})
	}
	if _, err := Mix([]*Expert{e1, e2}, [][]float64{{1, 0, 1}, {0}}, p.Manifest.Matrices); err == nil {
		t.Error("three α for two matrices accepted")
	}
}

// TestExperts: experts round-trip through the pack folder, and a misfit is refused with
// the expert's and the tensor's names.
func TestExperts(t *testing.T) {
	src := writeRandomCheckpoint(t, tinyConfig, 2)
	dir, p := convert(t, src, ConvertOptions{})
	score := 0.5
	e := p.Uniform("flat", 0.7)
	e.Domain, e.Description, e.Score = "math", "a test expert", &score
	if err := SaveExpert(dir, p, e); err != nil {
		t.Fatal(err)
	}
	if err := SaveExpert(dir, p, p.Uniform("other", 1)); err != nil {
		t.Fatal(err)
	}
	list, err := p.Experts()
	if err != nil || len(list) != 2 || list[0].Name != "flat" || list[1].Name != "other" {
		t.Fatalf("experts %+v (%v)", list, err)
	}
	got, err := p.Expert("flat")
	if err != nil {
		t.Fatal(err)
	}
	if got.Domain != "math" || *got.Score != 0.5 || got.Trained != "uniform 0.7" || !slices.Equal(got.Z[p.Manifest.Matrices[0]], e.Z[p.Manifest.Matrices[0]]) {
		t.Errorf("read back %+v", got)
	}
	m0 := p.Manifest.Matrices[0]
	bad := p.Uniform("bad", 1)
	bad.Z[m0] = bad.Z[m0][:3]
	if err := SaveExpert(dir, p, bad); err == nil || !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), m0) {
		t.Errorf("short z: %v", err)
	}
	bad = p.Uniform("bad", 1)
	bad.Z["model.layers.0.self_attn.q_proj"] = make([]float32, 4)
	if err := p.Check(bad); err == nil || !strings.Contains(err.Error(), "does not adapt") {
		t.Errorf("z for a matrix the pack does not adapt: %v", err)
	}
	if err := SaveExpert(dir, p, p.Uniform("../evil", 1)); err == nil {
		t.Error("an expert name with a path was accepted")
	}
	// A changed expert file is refused.
	path := filepath.Join(dir, "experts", "flat.safetensors")
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o644)
	if _, err := p.Expert("flat"); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("changed expert file: %v", err)
	}
	if _, err := p.Expert("nope"); err == nil || !strings.Contains(err.Error(), `no expert "nope"`) {
		t.Errorf("missing expert: %v", err)
	}
}

const tinyConfig = `{
  "architectures": ["Qwen2ForCausalLM"], "vocab_size": 260, "hidden_size": 48,
  "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
  "rope_theta": 10000, "tie_word_embeddings": true
}`

// TestPackErrors: a changed, missing or split-off shard, a newer format and a z of the
// wrong length are clear errors naming the file and tensor.
func TestPackErrors(t *testing.T) {
	src := writeRandomCheckpoint(t, tinyConfig, 3)
	// Small shards, so the embedding is split by rows into parts.
	dir, p := convert(t, src, ConvertOptions{ShardBytes: 8 << 10})
	if len(p.Manifest.Parts) == 0 || len(p.Manifest.Shards) < 3 {
		t.Fatalf("8 KiB shards: %d shards, parts %v", len(p.Manifest.Shards), p.Manifest.Parts)
	}
	if _, err := p.Load(MergedPath); err != nil {
		t.Fatalf("pack with split tensors: %v", err)
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
	shard := p.Manifest.Shards[1].File
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
		{"missing shard", func(d string) { os.Remove(filepath.Join(d, shard)) }, false, shard},
		{"newer format", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, ManifestFile))
			os.WriteFile(filepath.Join(d, ManifestFile), bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 3`), 1), 0o644)
		}, true, "pack.json: format version 3 is newer"},
		{"version 2 field in version 1", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, ManifestFile))
			os.WriteFile(filepath.Join(d, ManifestFile), bytes.Replace(data, []byte(`"block": 32,`), []byte(`"block": 32, "exact_rank": 8,`), 1), 0o644)
		}, true, "exact_rank and f32 need format version 2"},
		{"exact rank not below the rank", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, ManifestFile))
			data = bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 2`), 1)
			os.WriteFile(filepath.Join(d, ManifestFile), bytes.Replace(data, []byte(`"block": 32,`), []byte(`"block": 32, "exact_rank": 48,`), 1), 0o644)
		}, true, "exact_rank 48, want below the rank 48 of model.layers.0.mlp.gate_proj"},
		{"f32 names no matrix", func(d string) {
			data, _ := os.ReadFile(filepath.Join(d, ManifestFile))
			data = bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 2`), 1)
			os.WriteFile(filepath.Join(d, ManifestFile), bytes.Replace(data, []byte(`"block": 32,`), []byte(`"block": 32, "f32": ["model.norm.weight"],`), 1), 0o644)
		}, true, "f32: model.norm.weight is not an unadapted matrix"},
		{"not a pack", func(d string) { os.Remove(filepath.Join(d, ManifestFile)) }, true, "pack.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyPack(t)
			tt.spoil(d)
			q, err := OpenDir(d)
			if err == nil && !tt.open {
				_, err = q.Load(MergedPath)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, e := load(t, p, MergedPath)
	m0 := p.Manifest.Matrices[0]
	err := e.SetZ(map[string][]float32{m0: {1, 2}})
	if err == nil || !strings.Contains(err.Error(), m0) || !strings.Contains(err.Error(), "2 values") {
		t.Errorf("z of the wrong length: %v", err)
	}
}

// TestConvertExactRank: an int8 pack with an exact rank and f32 embeddings, its tensors
// split by rows across small shards, holds the first K columns of U and V and the
// embedding exactly, recomposes closer to the checkpoint than plain int8, and gives the
// GPU engine's loader the same factors (svf.JoinColumns is what both use).
func TestConvertExactRank(t *testing.T) {
	src := writeRandomCheckpoint(t, tinyConfig, 5)
	const k = 16
	targets := []string{"mlp", "attn"}
	_, exact := convert(t, src, ConvertOptions{Targets: targets, ExactRank: k, F32: []string{"model.embed_tokens.weight"}, ShardBytes: 8 << 10})
	_, plain := convert(t, src, ConvertOptions{Targets: targets})
	_, full := convert(t, src, ConvertOptions{Targets: targets, Quant: QuantF32})
	if exact.Manifest.Version != 2 || exact.Manifest.ExactRank != k || plain.Manifest.Version != 1 {
		t.Fatalf("versions %d (exact rank %d) and %d, want 2 (%d) and 1", exact.Manifest.Version, exact.Manifest.ExactRank, plain.Manifest.Version, k)
	}
	if len(exact.Manifest.Parts) == 0 {
		t.Fatalf("8 KiB shards split nothing")
	}
	me, _ := load(t, exact, FactoredPath)
	mp, _ := load(t, plain, FactoredPath)
	mf, _ := load(t, full, FactoredPath)
	if !slices.Equal(me.Weights.Embed, mf.Weights.Embed) {
		t.Errorf("the f32 embedding differs from the f32 pack's")
	}
	for _, name := range exact.Manifest.Matrices {
		fe := me.Weights.Linears[name].(*Factored).f
		ff := mf.Weights.Linears[name].(*Factored).f
		for _, fac := range []struct {
			name string
			e, f []float32
			rows int
		}{{"U", fe.U, ff.U, fe.M}, {"V", fe.V, ff.V, fe.N}} {
			for i := range fac.rows {
				if !slices.Equal(fac.e[i*fe.R:i*fe.R+k], fac.f[i*fe.R:i*fe.R+k]) {
					t.Fatalf("%s.%s row %d: the first %d columns are not the f32 pack's", name, fac.name, i, k)
				}
			}
		}
		w := func(m *model.Model) []float32 {
			f := m.Weights.Linears[name].(*Factored).f
			x := make([]float32, f.M*f.N)
			f.Recompose(x, nil)
			return x
		}
		ref := w(mf)
		if ee, ep := RelFrobenius(w(me), ref), RelFrobenius(w(mp), ref); ee >= ep {
			t.Errorf("%s: exact rank %d recomposes %.3g%% off, plain int8 %.3g%%: no closer", name, k, 100*ee, 100*ep)
		}
	}
	if _, err := Convert(os.DirFS(src), t.TempDir(), ConvertOptions{ExactRank: 48}); err == nil || !strings.Contains(err.Error(), "exact rank 48, want below the rank 48") {
		t.Errorf("exact rank of the full rank: %v", err)
	}
	if _, err := Convert(os.DirFS(src), t.TempDir(), ConvertOptions{F32: []string{"lm_head.weight"}}); err == nil || !strings.Contains(err.Error(), "lm_head.weight is not an unadapted matrix") {
		t.Errorf("f32 of a tied lm_head: %v", err)
	}
}

// TestConvertDeterministic: converting twice gives the same bytes in every file.
func TestConvertDeterministic(t *testing.T) {
	src := writeRandomCheckpoint(t, tinyConfig, 4)
	a, _ := convert(t, src, ConvertOptions{Targets: []string{"mlp", "attn"}})
	b, _ := convert(t, src, ConvertOptions{Targets: []string{"mlp", "attn"}})
	entries, _ := os.ReadDir(a)
	for _, e := range entries {
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two conversions", e.Name())
		}
	}
}
