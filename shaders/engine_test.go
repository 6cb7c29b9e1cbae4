package shaders

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gogpu/gputypes"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// enginePacks are the packs each fixture model is converted to for the engine tests.
var enginePacks = []struct {
	quant   string
	targets []string
	models  []string // nil: every fixture model
}{
	{pack.QuantF32, []string{"mlp"}, nil},
	{pack.QuantInt8, []string{"mlp"}, nil},
	{pack.QuantInt8, []string{"mlp", "attn"}, []string{"llama-tiny"}},
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
// position of every case, and identical 16-token greedy continuations. On int8 packs the
// GPU engine holds W' as Q8 (the default) and the CPU engine is its twin (q8Twin); the
// GPU engine's logits must also stay within the int8 tolerance, 0.05, of the CPU
// engine's float32 W', greedy continuations parting only at near ties (int8Tolerance).
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
				if _, err := convert.Convert(os.DirFS(dir), out, convert.Options{Targets: pk.targets, Quant: pk.quant}); err != nil {
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
				// cpuF32: the CPU engine, W' in float32; cpu: the GPU engine's twin.
				cpuF32, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 2})
				if err != nil {
					t.Fatal(err)
				}
				cpu := cpuF32
				if pk.quant == pack.QuantInt8 {
					mq, err := p.Load(svf.MergedPath)
					if err != nil {
						t.Fatal(err)
					}
					q8Twin(t, mq, p)
					if cpu, err = model.NewCPU(mq, model.CPUOptions{MaxSeqs: 2}); err != nil {
						t.Fatal(err)
					}
				}
				gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxSeqs: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer gpu.Close()
				defer corruptShard(t, d, out)
				for zi, z := range []map[string][]float32{nil, randomZ(p, 1)} {
					if err := cpu.SetZ(z); err != nil {
						t.Fatal(err)
					}
					if err := cpuF32.SetZ(z); err != nil {
						t.Fatal(err)
					}
					if err := gpu.SetZ(z); err != nil {
						t.Fatal(err)
					}
					for _, c := range cases {
						if c.Name == "long" && (z != nil || pk.quant != pack.QuantF32) {
							continue // 478 tokens: once per model is enough
						}
						// Every position, but for the long case (478 rows of logits would
						// pass the 128 MiB binding limit) the fixture's stored ones.
						worst := compareForward(t, cpu, gpu, c.InputIDs, c.Positions)
						t.Logf("z %d, case %s: max |Δlogit| %.3g over %d positions", zi, c.Name, worst, len(c.Positions))
						if worst > 1e-4 {
							t.Errorf("z %d, case %s: max |Δlogit| = %.3g, want ≤ 1e-4", zi, c.Name, worst)
						}
						want, err := model.Generate(context.Background(), cpu, c.InputIDs, model.Greedy(), 16, nil, nil)
						if err != nil {
							t.Fatal(err)
						}
						got, err := model.Generate(context.Background(), gpu, c.InputIDs, model.Greedy(), 16, nil, nil)
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(got, want) {
							t.Errorf("z %d, case %s: greedy GPU %v, CPU %v", zi, c.Name, got, want)
						}
						if cpu != cpuF32 && c.Name == "english" {
							int8Tolerance(t, cpuF32, gpu, c.InputIDs, fmt.Sprintf("z %d, case %s", zi, c.Name))
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
						if name == "llama-tiny" && pk.quant == pack.QuantInt8 && len(pk.targets) == 1 {
							mergedF32(t, d, p, cpuF32, c.InputIDs)
						}
						// Sampling reads the row back and draws with the CPU sampler; the
						// repetition penalty too.
						for _, sp := range []model.SamplerParams{
							{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: 3},
							{Temperature: 1.5, Seed: 4},
							{Temperature: 0.7, RepeatPenalty: 1.3, Seed: 5},
						} {
							sampledAgree(t, cpu, gpu, c.InputIDs, sp, 16, fmt.Sprintf("z %d, sampler %+v", zi, sp))
						}
						if name == "llama-tiny" && pk.quant == pack.QuantF32 {
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
	gpu, err := NewEngine(d, p.Pack, EngineOptions{DeviceSampling: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	for seed := range uint64(4) {
		sp := model.SamplerParams{Temperature: 0.8, TopK: 40, TopP: 0.9, Seed: seed}
		want, err := model.Generate(context.Background(), cpu, prompt, model.NewSampler(sp), 4, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := model.Generate(context.Background(), gpu, prompt, model.NewSampler(sp), 4, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("device sampling %+v: GPU %v, CPU %v", sp, got, want)
		}
	}
}

// sampledAgree draws n tokens after prompt with samplers of params sp on both engines,
// feeding both the CPU engine's tokens: the draws must be the same, except where the
// sampler's order of the two tokens drawn hangs on a near tie — their logits within
// 1e-5, against logit differences of ~2e-7 between the engines (a temperature over a
// 128k vocabulary makes such ties likely) — where the comparison ends.
func sampledAgree(t *testing.T, cpu, gpu model.Engine, prompt []int, sp model.SamplerParams, n int, what string) {
	t.Helper()
	s1, s2 := model.NewSampler(sp), model.NewSampler(sp)
	var b model.Batch
	for i, id := range prompt {
		s1.Accept(id)
		s2.Accept(id)
		b.Add(id, i, 0, i == len(prompt)-1)
	}
	V := cpu.Config().VocabSize
	w, g := make([]float32, V), make([]float32, V)
	for step := range n {
		for _, e := range []model.Engine{cpu, gpu} {
			if step == 0 {
				e.Clear(0)
			}
			if err := e.Forward(&b); err != nil {
				t.Fatal(err)
			}
		}
		if err := cpu.Logits(w, 0); err != nil {
			t.Fatal(err)
		}
		if err := gpu.Logits(g, 0); err != nil {
			t.Fatal(err)
		}
		want, got := s1.Sample(w), s2.Sample(g)
		if want != got {
			if d := math.Abs(float64(w[want] - w[got])); d > 1e-5 {
				t.Errorf("%s: token %d: GPU draws %d, CPU %d, their logits %.3g apart", what, step, got, want, d)
			} else {
				t.Logf("%s: token %d: GPU draws %d, CPU %d: a near tie (logits %.3g apart)", what, step, got, want, d)
			}
			return
		}
		s1.Accept(want)
		s2.Accept(want)
		b.Reset()
		b.Add(want, len(prompt)+step, 0, true)
	}
}

// mergedF32 checks EngineOptions.MergedF32, the exact reference: W' in float32 gives the
// CPU engine's float32 W' logits within 1e-4.
func mergedF32(t *testing.T, d *Device, p *svf.Pack, cpu model.Engine, prompt []int) {
	t.Helper()
	gpu, err := NewEngine(d, p.Pack, EngineOptions{MergedF32: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	positions := make([]int, len(prompt))
	for i := range positions {
		positions[i] = i
	}
	worst := compareForward(t, cpu, gpu, prompt, positions)
	t.Logf("MergedF32: max |Δlogit| %.3g over %d positions", worst, len(prompt))
	if !(worst <= 1e-4) {
		t.Errorf("MergedF32: max |Δlogit| = %.3g, want ≤ 1e-4", worst)
	}
}

// int8Tolerance holds the GPU engine with Q8 W' to the CPU engine with float32 W': logits
// within 0.05 at every position of prompt, and 16 greedy tokens that may part only where
// the float32 logits of the two candidates are closer than twice the largest difference
// seen (the fixtures' random models have greedy margins down to 2.4e-3; Q8 W' moves
// logits by up to ~6e-3).
func int8Tolerance(t *testing.T, cpuF32, gpu model.Engine, prompt []int, what string) {
	t.Helper()
	positions := make([]int, len(prompt))
	for i := range positions {
		positions[i] = i
	}
	worst := compareForward(t, cpuF32, gpu, prompt, positions)
	t.Logf("%s: Q8 W' against float32 W': max |Δlogit| %.3g", what, worst)
	if !(worst <= 0.05) {
		t.Errorf("%s: Q8 W' against float32 W': max |Δlogit| = %.3g, want ≤ 0.05", what, worst)
	}
	want, err := model.Generate(context.Background(), cpuF32, prompt, model.Greedy(), 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := model.Generate(context.Background(), gpu, prompt, model.Greedy(), 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for k < len(want) && k < len(got) && want[k] == got[k] {
		k++
	}
	if k == len(want) && len(got) == len(want) {
		return
	}
	if k == len(want) || k == len(got) {
		t.Fatalf("%s: greedy lengths %d and %d", what, len(got), len(want))
	}
	// The float32 logits where they part.
	var b model.Batch
	ids := append(slices.Clone(prompt), want[:k]...)
	for i, id := range ids {
		b.Add(id, i, 0, i == len(ids)-1)
	}
	cpuF32.Clear(0)
	if err := cpuF32.Forward(&b); err != nil {
		t.Fatal(err)
	}
	row := make([]float32, cpuF32.Config().VocabSize)
	if err := cpuF32.Logits(row, 0); err != nil {
		t.Fatal(err)
	}
	margin := float64(row[want[k]] - row[got[k]])
	t.Logf("%s: greedy with Q8 W' parts from float32 W' at token %d (%d, not %d): float32 margin %.3g, max |Δlogit| %.3g",
		what, k, got[k], want[k], margin, worst)
	if margin > 2*worst {
		t.Errorf("%s: greedy with Q8 W' parts at token %d where float32 W' prefers %d by %.3g, more than twice the logit error %.3g",
			what, k, want[k], margin, worst)
	}
}

// q8Merged is the CPU twin of the GPU engine's default W': an adapted matrix of the CPU
// engine whose W', after every SetZ, is quantised with pack.QuantizeQ8 (as RecomposeQ8
// does on the device) and applied dequantised. Population batches run the inner
// matrix's factored form, as on the GPU.
type q8Merged struct {
	model.Adaptable
	dense model.Dense
}

func (l *q8Merged) SetZ(z []float32) error {
	if err := l.Adaptable.SetZ(z); err != nil {
		return err
	}
	l.refresh()
	return nil
}

func (l *q8Merged) Apply(y, x []float32, T int) { l.dense.Apply(y, x, T) }

// refresh reads W' and the bias back from the inner matrix (applied to the identity and
// to zero) and quantises W'.
func (l *q8Merged) refresh() {
	out, in := l.Dims()
	eye := make([]float32, in*in)
	for i := range in {
		eye[i*in+i] = 1
	}
	wt := make([]float32, in*out) // W'ᵀ + b on every row
	l.Adaptable.Apply(wt, eye, in)
	b := make([]float32, out)
	l.Adaptable.Apply(b, make([]float32, in), 1)
	w := make([]float32, out*in)
	for o := range out {
		for j := range in {
			w[o*in+j] = wt[j*out+o] - b[o]
		}
	}
	q, s := pack.QuantizeQ8(w, out, in)
	pack.DequantizeQ8(w, q, s, out, in)
	var bias []float32
	for _, v := range b {
		if v != 0 {
			bias = b
			break
		}
	}
	l.dense = model.Dense{W: w, B: bias, Out: out, In: in}
}

// q8Twin makes the adapted matrices of m (loaded from p on the merged path) q8Merged.
func q8Twin(t testing.TB, m *model.Model, p *svf.Pack) {
	t.Helper()
	for _, name := range p.Manifest.Matrices {
		a, ok := m.Weights.Linears[name].(model.Adaptable)
		if !ok {
			t.Fatalf("matrix %s is not adapted in the CPU model", name)
		}
		l := &q8Merged{Adaptable: a}
		l.refresh()
		if err := m.Weights.Replace(name, l); err != nil {
			t.Fatal(err)
		}
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
	if e, err := NewEngine(d, p.Pack, EngineOptions{}); err == nil || !strings.Contains(err.Error(), "sha256") {
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
		for _, quant := range []string{pack.QuantF32, pack.QuantInt8} {
			t.Run(name+"/"+quant, func(t *testing.T) {
				out := t.TempDir()
				if _, err := convert.Convert(os.DirFS(dir), out, convert.Options{Quant: quant}); err != nil {
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
				if quant == pack.QuantInt8 {
					q8Twin(t, m, p) // the GPU engine's Q8 W'
				}
				cpu, err := model.NewCPU(m, model.CPUOptions{})
				if err != nil {
					t.Fatal(err)
				}
				gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxBinding: 4 << 20})
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
				want, err := model.Generate(context.Background(), cpu, c.InputIDs, model.Greedy(), 16, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := model.Generate(context.Background(), gpu, c.InputIDs, model.Greedy(), 16, nil, nil)
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

// TestEngineDispatches counts the kernels of a decode step: five a layer (QKVFused,
// Attention, O with the residual, SwiGLUFused, down with the residual; six on CPU
// adapters such as this one, whose attention is AttentionSplit's two) and three outside
// them (embedding, final norm with lm_head, argmax) when q/k/v and gate/up are stacked —
// an int8 pack with MLP and attention adapted (W' recomposed into the stacks) and an f32
// pack with attention adapted (q/k/v recomposed into their stack, gate/up filled from
// the shards). Split weights add
// dispatches: with 8 KiB bindings gate and up are held apart.
func TestEngineDispatches(t *testing.T) {
	d := device(t)
	for _, tc := range []struct {
		name           string
		config         string
		opt            convert.Options
		binding        uint64
		layer, outside int
	}{
		{"qwen2/int8/mlp+attn", smallConfig, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}}, 0, 5, 3},
		{"llama-tied/f32/attn", smallTiedConfig, convert.Options{Quant: pack.QuantF32, Targets: []string{"attn"}}, 0, 5, 3},
		{"qwen2/int8/split", smallConfig, convert.Options{Quant: pack.QuantInt8}, smallBinding, -1, -1},
	} {
		p := randomPack(t, tc.config, 3, tc.opt)
		gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxBinding: tc.binding})
		if err != nil {
			t.Fatal(err)
		}
		perLayer, outside, err := gpu.DecodeDispatches()
		split := gpu.splitAttention()
		gpu.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: a decode step records %v dispatches in its layers, %d outside", tc.name, perLayer, outside)
		want := tc.layer
		if split && want > 0 {
			want++
		}
		for l, n := range perLayer {
			if want >= 0 && n != want {
				t.Errorf("%s: layer %d records %d dispatches, want %d", tc.name, l, n, want)
			}
		}
		if tc.outside >= 0 && outside != tc.outside {
			t.Errorf("%s: %d dispatches outside the layers, want %d", tc.name, outside, tc.outside)
		}
	}
}

// TestEngineGenerate holds Engine.Generate (the token chained on the device, read back
// asynchronously) to model.Generate on the same engine: the same tokens and the same
// cached length afterwards, greedy and with device sampling, through a stop token, a
// context cancelled from emit, maxTokens and the end of the context.
func TestEngineGenerate(t *testing.T) {
	d := device(t)
	p := randomPack(t, smallConfig, 5, convert.Options{Quant: pack.QuantInt8})
	gpu, err := NewEngine(d, p.Pack, EngineOptions{Context: 40, DeviceSampling: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	prompt := smallPrompts[0]
	greedy, err := model.Generate(context.Background(), gpu, prompt, model.Greedy(), 12, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		sp        model.SamplerParams
		max       int
		stop      []int
		emitUntil int // emit cancels the context after this many tokens; 0: never
	}{
		{"greedy", model.SamplerParams{}, 12, nil, 0},
		{"greedy/stop", model.SamplerParams{}, 12, []int{greedy[5]}, 0},
		{"greedy/emit", model.SamplerParams{}, 12, nil, 4},
		{"greedy/max1", model.SamplerParams{}, 1, nil, 0},
		{"greedy/context", model.SamplerParams{}, 100, nil, 0},
		{"sampled", model.SamplerParams{Temperature: 0.9, TopK: 20, TopP: 0.95, Seed: 7}, 10, nil, 0},
		{"penalty", model.SamplerParams{RepeatPenalty: 1.3}, 6, nil, 0},
	} {
		run := func(gen func(context.Context, model.Engine, []int, *model.Sampler, int, []int, func(int)) ([]int, error)) ([]int, int) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			emit := func(int) {
				if n++; n == c.emitUntil {
					cancel()
				}
			}
			out, err := gen(ctx, gpu, prompt, model.NewSampler(c.sp), c.max, c.stop, emit)
			if err != nil && (c.emitUntil == 0 || !errors.Is(err, context.Canceled)) {
				t.Fatalf("%s: %v", c.name, err)
			}
			return out, gpu.lens[0]
		}
		want, wantLen := run(model.Generate)
		got, gotLen := run(func(ctx context.Context, e model.Engine, pr []int, s *model.Sampler, max int, stop []int, emit func(int)) ([]int, error) {
			return e.(*Engine).Generate(ctx, pr, s, max, stop, emit)
		})
		t.Logf("%s: %v, %d positions cached", c.name, got, gotLen)
		if !slices.Equal(got, want) || gotLen != wantLen {
			t.Errorf("%s: Generate %v with %d positions cached; model.Generate %v with %d", c.name, got, gotLen, want, wantLen)
		}
	}
}

// TestEngineAdopt: a forward pass of a new number of rows takes the bind groups of the
// one recorded for another (Batch.Adopt: the cache keeps one pass, not one per prompt
// length) and gives exactly the logits of an engine that built its own, rows after rows
// and back; a pass of other kernels (output rows for every row) builds its own.
func TestEngineAdopt(t *testing.T) {
	d := device(t)
	p := randomPack(t, smallConfig, 5, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}})
	open := func() *Engine {
		e, err := NewEngine(d, p.Pack, EngineOptions{Context: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	reused := open()
	V := reused.Config().VocabSize
	// logits runs a prompt of n tokens on e, asking for the last row's logits (every
	// row's with all).
	logits := func(e *Engine, n int, all bool) []float32 {
		t.Helper()
		var b model.Batch
		for i := range n {
			b.Add((7*i+3)%V, i, 0, all || i == n-1)
		}
		e.Clear(0)
		if err := e.Forward(&b); err != nil {
			t.Fatal(err)
		}
		out, last := make([]float32, V), 0
		if all {
			last = n - 1
		}
		if err := e.Logits(out, last); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The buffers grown first: growing drops every recorded pass.
	logits(reused, 23, true)
	for _, n := range []int{17, 23, 19, 23, 17} {
		got := logits(reused, n, false)
		want := logits(open(), n, false)
		if !slices.Equal(got, want) {
			t.Errorf("%d rows after other lengths: logits differ from a fresh engine's", n)
		}
		passes := 0
		for k := range reused.forwards {
			if k.nOut == 1 && k.T > 1 {
				passes++
			}
		}
		if passes != 1 {
			t.Errorf("%d rows: %d passes of one output row cached, want 1 (the others adopted)", n, passes)
		}
	}
	// Logits for every row: other kernels (no gathering of output rows), its own build.
	before := len(reused.forwards)
	got := logits(reused, 21, true)
	if want := logits(open(), 21, true); !slices.Equal(got, want) {
		t.Error("a pass of other kernels: logits differ from a fresh engine's")
	}
	if len(reused.forwards) != before+1 {
		t.Errorf("a pass of other kernels: %d passes cached, want %d", len(reused.forwards), before+1)
	}
}

// TestPreferMergedF32: on this CPU adapter (lavapipe) a small int8 pack's W' is held in
// float32, a large one's (SmolLM2's shape: 538 MB in float32) stays int8, and an f32
// pack has nothing to choose.
func TestPreferMergedF32(t *testing.T) {
	d := device(t)
	if d.Info().DeviceType != gputypes.DeviceTypeCPU {
		t.Skipf("adapter %q is not a CPU adapter", d.Info().Name)
	}
	small := randomPack(t, smallConfig, 5, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}}).Pack
	f32 := randomPack(t, smallConfig, 5, convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}}).Pack
	large := *small
	c := *small.Config
	c.Dim, c.FFN, c.NLayers, c.NHeads, c.NKVHeads, c.HeadDim = 576, 1536, 30, 9, 3, 64
	large.Manifest.Matrices = nil
	for l := range c.NLayers {
		large.Manifest.Matrices = append(large.Manifest.Matrices, model.MatrixNames(l)...)
	}
	large.Config = &c
	for _, tc := range []struct {
		name string
		p    *pack.Pack
		want bool
	}{{"small int8", small, true}, {"SmolLM2-shaped int8", &large, false}, {"f32", f32, false}} {
		if got := PreferMergedF32(d, tc.p); got != tc.want {
			t.Errorf("%s: PreferMergedF32 %v, want %v", tc.name, got, tc.want)
		}
	}
}
