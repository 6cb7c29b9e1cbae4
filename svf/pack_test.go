package svf_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// newPack converts the checkpoint folder src into a pack in a temporary folder.
func newPack(t testing.TB, src string, opt convert.Options) (string, *svf.Pack) {
	t.Helper()
	dir := t.TempDir()
	if _, err := convert.Convert(os.DirFS(src), dir, opt); err != nil {
		t.Fatal(err)
	}
	return dir, packtest.Open(t, dir)
}

// TestPackFixtureLogits: an f32 pack at z = 1 keeps llama.cpp's logits within 5e-5 and
// its greedy continuations, on both paths and with attention adapted too.
func TestPackFixtureLogits(t *testing.T) {
	for _, name := range fixtures.Models {
		t.Run(name, func(t *testing.T) {
			src := fixtures.Dir(t, name)
			_, p := newPack(t, src, convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}})
			for _, path := range []svf.Path{svf.MergedPath, svf.FactoredPath} {
				_, e := packtest.Load(t, p, path)
				for _, c := range fixtures.Cases(t, src) {
					rows := packtest.LogitsAt(t, e, c.InputIDs, c.Positions)
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

// TestZ: a uniform z changes nothing (the nuclear-norm rescale), a random z changes the
// logits, and the merged and factored paths agree on it within 1e-5.
func TestZ(t *testing.T) {
	src := fixtures.Dir(t, "qwen2-tiny")
	_, p := newPack(t, src, convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}})
	c := fixtures.Cases(t, src)[1]
	_, merged := packtest.Load(t, p, svf.MergedPath)
	_, factored := packtest.Load(t, p, svf.FactoredPath)
	base := packtest.LogitsAt(t, merged, c.InputIDs, c.Positions)
	for _, v := range []float32{0.25, 1, 3} {
		if err := merged.SetZ(p.Uniform("u", v).Z); err != nil {
			t.Fatal(err)
		}
		if d := packtest.MaxAbsDiff(packtest.LogitsAt(t, merged, c.InputIDs, c.Positions), base); d > 1e-5 {
			t.Errorf("uniform z = %g moves the logits by %.3g", v, d)
		}
	}
	z := packtest.RandomZ(p, 3, 0.2, 1.8)
	for _, e := range []model.Engine{merged, factored} {
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
	}
	a := packtest.LogitsAt(t, merged, c.InputIDs, c.Positions)
	b := packtest.LogitsAt(t, factored, c.InputIDs, c.Positions)
	if d := packtest.MaxAbsDiff(a, b); d > 1e-5 {
		t.Errorf("merged and factored differ by %.3g for a random z", d)
	}
	if d := packtest.MaxAbsDiff(a, base); d < 1e-3 {
		t.Errorf("a random z moves the logits by only %.3g", d)
	}
	if err := merged.SetZ(nil); err != nil {
		t.Fatal(err)
	}
	if d := packtest.MaxAbsDiff(packtest.LogitsAt(t, merged, c.InputIDs, c.Positions), base); d > 1e-6 {
		t.Errorf("SetZ(nil) does not restore the base model: %.3g", d)
	}
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
	sources = append(sources, source{"smollm2-shaped", packtest.Checkpoint(t, smolLM2Layers, 1)})
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			_, p := newPack(t, s.dir, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}})
			m, _ := packtest.Load(t, p, svf.FactoredPath)
			orig, err := model.Load(os.DirFS(s.dir))
			if err != nil {
				t.Fatal(err)
			}
			var errs []float64
			for _, name := range p.Manifest.Matrices {
				f := m.Weights.Linears[name].(*svf.Factored).Factors()
				w := make([]float32, f.M*f.N)
				f.Recompose(w, nil)
				e := svf.RelFrobenius(w, orig.Weights.Linears[name].(*model.Dense).W)
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
			_, e := packtest.Load(t, p, svf.MergedPath)
			ref, err := model.NewCPU(orig, model.CPUOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range fixtures.Cases(t, s.dir) {
				a := packtest.LogitsAt(t, e, c.InputIDs, c.Positions)
				b := packtest.LogitsAt(t, ref, c.InputIDs, c.Positions)
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
				t.Logf("%s: int8 pack max |Δlogit| %.3g = %.3g logit std", c.Name, packtest.MaxAbsDiff(a, b), packtest.MaxAbsDiff(a, b)/std)
			}
		})
	}
}

// TestExperts: experts round-trip through the pack folder, and a misfit is refused with
// the expert's and the tensor's names.
func TestExperts(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 2)
	dir, p := newPack(t, src, convert.Options{})
	score := 0.5
	e := p.Uniform("flat", 0.7)
	e.Domain, e.Description, e.Score = "math", "a test expert", &score
	if err := svf.SaveExpert(dir, p, e); err != nil {
		t.Fatal(err)
	}
	if err := svf.SaveExpert(dir, p, p.Uniform("other", 1)); err != nil {
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
	if err := svf.SaveExpert(dir, p, bad); err == nil || !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), m0) {
		t.Errorf("short z: %v", err)
	}
	bad = p.Uniform("bad", 1)
	bad.Z["model.layers.0.self_attn.q_proj"] = make([]float32, 4)
	if err := p.Check(bad); err == nil || !strings.Contains(err.Error(), "does not adapt") {
		t.Errorf("z for a matrix the pack does not adapt: %v", err)
	}
	if err := svf.SaveExpert(dir, p, p.Uniform("../evil", 1)); err == nil {
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

// TestPackErrors: a pack whose tensors are split across shards loads (model/pack's tests
// hold the pack's own errors), and a z of the wrong length is a clear error naming the
// matrix.
func TestPackErrors(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 3)
	// Small shards, so the embedding is split by rows into parts.
	_, p := newPack(t, src, convert.Options{ShardBytes: 8 << 10})
	if len(p.Manifest.Parts) == 0 || len(p.Manifest.Shards) < 3 {
		t.Fatalf("8 KiB shards: %d shards, parts %v", len(p.Manifest.Shards), p.Manifest.Parts)
	}
	if _, err := p.LoadInt8(nil); err != nil {
		t.Fatalf("int8 pack with split tensors: %v", err)
	}
	_, e := packtest.Load(t, p, svf.MergedPath)
	m0 := p.Manifest.Matrices[0]
	err := e.SetZ(map[string][]float32{m0: {1, 2}})
	if err == nil || !strings.Contains(err.Error(), m0) || !strings.Contains(err.Error(), "2 values") {
		t.Errorf("z of the wrong length: %v", err)
	}
}
