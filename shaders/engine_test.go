package shaders

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/svf"
)

// enginePacks are the packs each fixture model is converted to for the engine tests.
var enginePacks = []struct {
	quant   string
	targets []string
	models  []string // nil: every fixture model
}{
	{svf.QuantF32, []string{"mlp"}, nil},
	{svf.QuantInt8, []string{"mlp"}, nil},
	{svf.QuantInt8, []string{"mlp", "attn"}, []string{"llama-tiny"}},
}

// randomZ draws z in [0.5, 1.5] for every adapted matrix of p.
func randomZ(p *svf.Pack, seed uint64) map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	z := map[string][]float32{}
	for _, name := range p.Manifest.Matrices {
		r, _ := p.Rank(name)
		v := make([]float32, r)
		for i := range v {
			v[i] = float32(0.5 + rng.Float64())
		}
		z[name] = v
	}
	return z
}

// TestEngineFixtures holds the GPU engine to the CPU engine on both fixture models, from
// f32 and int8 packs, at z = 1 and a random expert: logits within 1e-4 absolute at every
// position of every case, and identical 16-token greedy continuations.
func TestEngineFixtures(t *testing.T) {
	d := device(t)
	for _, name := range fixtures.Models {
		dir := fixtures.Dir(t, name)
		cases := fixtures.Cases(t, dir)
		for _, pk := range enginePacks {
			if pk.models != nil && !slices.Contains(pk.models, name) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/%v", name, pk.quant, pk.targets), func(t *testing.T) {
				out := t.TempDir()
				if _, err := svf.Convert(os.DirFS(dir), out, svf.ConvertOptions{Targets: pk.targets, Quant: pk.quant}); err != nil {
					t.Fatal(err)
				}
				p, err := svf.OpenDir(out)
				if err != nil {
					t.Fatal(err)
				}
				m, err := p.Load(svf.MergedPath)
				if err != nil {
					t.Fatal(err)
				}
				cpu, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 2})
				if err != nil {
					t.Fatal(err)
				}
				gpu, err := NewEngine(d, p, EngineOptions{MaxSeqs: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer gpu.Close()
				defer corruptShard(t, d, out)
				for zi, z := range []map[string][]float32{nil, randomZ(p, 1)} {
					if err := cpu.SetZ(z); err != nil {
						t.Fatal(err)
					}
					if err := gpu.SetZ(z); err != nil {
						t.Fatal(err)
					}
					for _, c := range cases {
						if c.Name == "long" && (z != nil || pk.quant != svf.QuantF32) {
							continue // 478 tokens: once per model is enough
						}
						// Every position, but for the long case (478 rows of logits would
						// pass the 128 MiB binding limit) the fixture's stored ones.
						worst := compareForward(t, cpu, gpu, c.InputIDs, c.Positions)
						t.Logf("z %d, case %s: max |Δlogit| %.3g over %d positions", zi, c.Name, worst, len(c.Positions))
						if worst > 1e-4 {
							t.Errorf("z %d, case %s: max |Δlogit| = %.3g, want ≤ 1e-4", zi, c.Name, worst)
						}
						want, err := model.Generate(cpu, c.InputIDs, model.Greedy(), 16, nil, nil)
						if err != nil {
							t.Fatal(err)
						}
						got, err := model.Generate(gpu, c.InputIDs, model.Greedy(), 16, nil, nil)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want) {
							t.Errorf("z %d, case %s: greedy GPU %v, CPU %v", zi, c.Name, got, want)
						}
						if c.Name != "english" || z != nil {
							continue
						}
						// Two sequences at once, one slot each.
						prompts := [][]int{c.InputIDs, cases[1].InputIDs}
						greedy := []*model.Sampler{model.Greedy(), model.Greedy()}
						wantB, _, err := model.GenerateBatch(cpu, prompts, greedy, 8, nil)
						if err != nil {
							t.Fatal(err)
						}
						greedy = []*model.Sampler{model.Greedy(), model.Greedy()}
						gotB, _, err := model.GenerateBatch(gpu, prompts, greedy, 8, nil)
						if err != nil {
							t.Fatal(err)
						}
						for i := range prompts {
							if !slices.Equal(gotB[i], wantB[i]) {
								t.Errorf("GenerateBatch sequence %d: GPU %v, CPU %v", i, gotB[i], wantB[i])
							}
						}
						if name == "llama-tiny" && pk.quant == svf.QuantInt8 && len(pk.targets) == 1 {
							quantMerged(t, d, p, cpu, c.InputIDs)
						}
						// Sampling on the device draws with the CPU sampler's random stream;
						// the repetition penalty falls back to the CPU.
						for _, sp := range []model.SamplerParams{
							{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: 3},
							{Temperature: 1.5, Seed: 4},
							{Temperature: 0.7, RepeatPenalty: 1.3, Seed: 5},
						} {
							want, err := model.Generate(cpu, c.InputIDs, model.NewSampler(sp), 16, nil, nil)
							if err != nil {
								t.Fatal(err)
							}
							got, err := model.Generate(gpu, c.InputIDs, model.NewSampler(sp), 16, nil, nil)
							if err != nil {
								t.Fatal(err)
							}
							if !slices.Equal(got, want) {
								t.Errorf("z %d, sampler %+v: GPU %v, CPU %v", zi, sp, got, want)
							}
						}
						if name == "llama-tiny" && pk.quant == svf.QuantF32 {
							deviceSampling(t, d, p, cpu, c.InputIDs)
						}
					}
				}
			})
		}
	}
}

// compareForward runs ids through both engines with logits at positions and returns
// the largest |Δlogit|.
func compareForward(t *testing.T, cpu, gpu model.Engine, ids, positions []int) float64 {
	t.Helper()
	var b model.Batch
	for i, id := range ids {
		b.Add(id, i, 0, slices.Contains(positions, i))
	}
	cpu.Clear(0)
	gpu.Clear(0)
	if err := cpu.Forward(&b); err != nil {
		t.Fatal(err)
	}
	if err := gpu.Forward(&b); err != nil {
		t.Fatal(err)
	}
	V := cpu.Config().VocabSize
	want, got := make([]float32, V), make([]float32, V)
	var worst float64
	for i := range positions {
		if err := cpu.Logits(want, i); err != nil {
			t.Fatal(err)
		}
		if err := gpu.Logits(got, i); err != nil {
			t.Fatal(err)
		}
		for j := range want {
			worst = max(worst, math.Abs(float64(got[j]-want[j])))
		}
	}
	return worst
}

// deviceSampling checks EngineOptions.DeviceSampling: the Sample kernel, fed the CPU
// sampler's random numbers, draws the CPU's first tokens (later ones may part where
// float32 and float64 sums of the weights round differently). On llama-tiny's real
// logits (V = 128256, top-k 40, top-p 0.9) it caught lavapipe's shared loop-iteration
// limit cutting the kernel's passes short (every draw was token 65536).
func deviceSampling(t *testing.T, d *Device, p *svf.Pack, cpu model.Engine, prompt []int) {
	t.Helper()
	gpu, err := NewEngine(d, p, EngineOptions{DeviceSampling: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	for seed := range uint64(4) {
		sp := model.SamplerParams{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: seed}
		want, err := model.Generate(cpu, prompt, model.NewSampler(sp), 4, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := model.Generate(gpu, prompt, model.NewSampler(sp), 4, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("device sampling %+v: GPU %v, CPU %v", sp, got, want)
		}
	}
}

// quantMerged reports how far EngineOptions.QuantMerged (W' recomposed to int8) moves
// the logits from the CPU engine's float32 W'.
func quantMerged(t *testing.T, d *Device, p *svf.Pack, cpu model.Engine, prompt []int) {
	t.Helper()
	gpu, err := NewEngine(d, p, EngineOptions{QuantMerged: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	positions := make([]int, len(prompt))
	for i := range positions {
		positions[i] = i
	}
	worst := compareForward(t, cpu, gpu, prompt, positions)
	t.Logf("QuantMerged: max |Δlogit| %.3g over %d positions", worst, len(prompt))
	if !(worst < 0.05) {
		t.Errorf("QuantMerged: max |Δlogit| = %.3g, want < 0.05", worst)
	}
}

// corruptShard flips a byte of the pack's first shard: NewEngine must refuse it, naming
// the shard and its sha256.
func corruptShard(t *testing.T, d *Device, dir string) {
	t.Helper()
	path := filepath.Join(dir, "weights-00001.safetensors")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := svf.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := NewEngine(d, p, EngineOptions{}); err == nil || !strings.Contains(err.Error(), "sha256") {
		if e != nil {
			e.Close()
		}
		t.Errorf("NewEngine on a corrupted shard: %v, want a sha256 error", err)
	}
}

// TestEngineSplitFixtures runs the fixture models with their 128k–152k-row embedding
// and lm_head split by rows into parts of at most 4 MiB (as a device whose storage
// bindings hold less than those tensors must): logits within 1e-4 of the CPU engine's
// at every position of the first case, and the same greedy continuation, from f32 and
// int8 packs.
func TestEngineSplitFixtures(t *testing.T) {
	d := device(t)
	for _, name := range fixtures.Models {
		dir := fixtures.Dir(t, name)
		c := fixtures.Cases(t, dir)[0]
		for _, quant := range []string{svf.QuantF32, svf.QuantInt8} {
			t.Run(name+"/"+quant, func(t *testing.T) {
				out := t.TempDir()
				if _, err := svf.Convert(os.DirFS(dir), out, svf.ConvertOptions{Quant: quant}); err != nil {
					t.Fatal(err)
				}
				p, err := svf.OpenDir(out)
				if err != nil {
					t.Fatal(err)
				}
				m, err := p.Load(svf.MergedPath)
				if err != nil {
					t.Fatal(err)
				}
				cpu, err := model.NewCPU(m, model.CPUOptions{})
				if err != nil {
					t.Fatal(err)
				}
				gpu, err := NewEngine(d, p, EngineOptions{MaxBinding: 4 << 20})
				if err != nil {
					t.Fatal(err)
				}
				defer gpu.Close()
				if len(gpu.embed.parts) < 2 || len(gpu.lmHead.parts) < 2 {
					t.Fatalf("embedding in %d parts, lm_head in %d: not split", len(gpu.embed.parts), len(gpu.lmHead.parts))
				}
				positions := make([]int, len(c.InputIDs))
				for i := range positions {
					positions[i] = i
				}
				worst := compareForward(t, cpu, gpu, c.InputIDs, positions)
				t.Logf("embedding in %d parts, lm_head in %d: max |Δlogit| %.3g over %d positions",
					len(gpu.embed.parts), len(gpu.lmHead.parts), worst, len(positions))
				if worst > 1e-4 {
					t.Errorf("max |Δlogit| = %.3g, want ≤ 1e-4", worst)
				}
				want, err := model.Generate(cpu, c.InputIDs, model.Greedy(), 16, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := model.Generate(gpu, c.InputIDs, model.Greedy(), 16, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("greedy GPU %v, CPU %v", got, want)
				}
			})
		}
	}
}
