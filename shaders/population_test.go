package shaders

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/enginetest"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
	"github.com/t2web/t2web/svf/tasks"
)

// smallConfig is a small Qwen2 (q/k/v biases) with an untied lm_head and an MLP width
// off the workgroup multiples; smallTiedConfig ties the embeddings.
const (
	smallConfig = `{
  "architectures": ["Qwen2ForCausalLM"], "vocab_size": 300, "hidden_size": 64,
  "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
  "rope_theta": 10000, "tie_word_embeddings": false, "eos_token_id": 256
}`
	smallTiedConfig = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 301, "hidden_size": 64,
  "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
  "rope_theta": 10000, "tie_word_embeddings": true, "eos_token_id": 256
}`
)

// smallBinding is the EngineOptions.MaxBinding of the split tests: 8 KiB splits the
// small models' embedding, lm_head, MLP matrices and their U into parts.
const smallBinding = 8 << 10

// randomPack writes a random-weight checkpoint of config (with a byte-level tokenizer)
// and converts it to a pack.
func randomPack(t testing.TB, config string, seed uint64, opt convert.Options) *svf.Pack {
	t.Helper()
	src := t.TempDir()
	cfg, err := model.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	if err := model.WriteCheckpoint(src, []byte(config), model.RandomWeights(cfg, seed), safetensors.BF16); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "tokenizer.json"), tokenizer.ByteLevelJSON([]string{"<|endoftext|>"}), 0o644)
	os.WriteFile(filepath.Join(src, "tokenizer_config.json"), []byte(`{"eos_token": "<|endoftext|>"}`), 0o644)
	dir := filepath.Join(t.TempDir(), "pack")
	if _, err := convert.Convert(os.DirFS(src), dir, opt); err != nil {
		t.Fatal(err)
	}
	p, err := svf.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ranks(p *svf.Pack) map[string]int {
	r := map[string]int{}
	for _, name := range p.Manifest.Matrices {
		r[name], _ = p.Rank(name)
	}
	return r
}

// smallPrompts are three prompts of different lengths.
var smallPrompts = [][]int{
	{1, 17, 250, 3, 99, 4, 42, 7, 8},
	{200, 5, 6, 120, 33},
	{9, 10, 11, 12, 13, 14, 15},
}

// TestEngineSplit holds a GPU engine whose weights are split by rows (MaxBinding
// lowered to 8 KiB: the embedding, lm_head, MLP matrices and the adapted matrices' U and
// W' in parts) to the CPU engine: logits within 1e-4 at every position at z = 1 and a
// random z, identical greedy continuations, for f32 and int8 packs, tied and untied
// embeddings; W' in float32 (MergedF32) or Q8 (the default: the CPU engine's twin is
// q8Twin). A limit below one row is refused, naming the matrix.
func TestEngineSplit(t *testing.T) {
	d := device(t)
	for _, tc := range []struct {
		name, config string
		opt          convert.Options
		mergedF32    bool
	}{
		{"qwen2/f32", smallConfig, convert.Options{Quant: pack.QuantF32}, false},
		{"qwen2/int8", smallConfig, convert.Options{Quant: pack.QuantInt8}, false},
		{"llama-tied/int8", smallTiedConfig, convert.Options{Quant: pack.QuantInt8}, false},
		{"llama-tied/f32", smallTiedConfig, convert.Options{Quant: pack.QuantF32}, false},
		{"qwen2/int8/merged-f32", smallConfig, convert.Options{Quant: pack.QuantInt8}, true},
		// Factors joined on the host from f32 and Q8 columns split across 16 KiB shards
		// (W' recomposed to Q8 from f32 factors), and f32 embeddings in an int8 pack.
		{"qwen2/int8/exact-rank", smallConfig, convert.Options{Quant: pack.QuantInt8, ExactRank: 12,
			F32: []string{"model.embed_tokens.weight", "lm_head.weight"}, ShardBytes: 16 << 10}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Targets = []string{"mlp", "attn"}
			p := randomPack(t, tc.config, 4, tc.opt)
			m, err := p.Load(svf.MergedPath)
			if err != nil {
				t.Fatal(err)
			}
			if tc.opt.Quant == pack.QuantInt8 && !tc.mergedF32 {
				q8Twin(t, m, p)
			}
			cpu, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: 2})
			if err != nil {
				t.Fatal(err)
			}
			gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxSeqs: 2, MaxBinding: smallBinding, MergedF32: tc.mergedF32})
			if err != nil {
				t.Fatal(err)
			}
			defer gpu.Close()
			ly := gpu.layers[0]
			t.Logf("parts: embed %d, lm_head %d, gate %d, down %d, q %d", len(gpu.embed.parts), len(gpu.lmHead.parts),
				len(ly.gate.parts), len(ly.down.parts), len(ly.q.parts))
			// Q8 W' is a quarter of f32's: llama-tied's gate then fits one binding.
			smallW := tc.opt.Quant == pack.QuantInt8 && !tc.mergedF32 && tc.config == smallTiedConfig
			if len(gpu.embed.parts) < 2 || len(gpu.lmHead.parts) < 2 || len(ly.gate.parts) < 2 && !smallW {
				t.Fatalf("MaxBinding %d did not split the weights", smallBinding)
			}
			prompt := smallPrompts[0]
			positions := make([]int, len(prompt))
			for i := range positions {
				positions[i] = i
			}
			for zi, z := range []map[string][]float32{nil, randomZ(p, 2)} {
				if err := cpu.SetZ(z); err != nil {
					t.Fatal(err)
				}
				if err := gpu.SetZ(z); err != nil {
					t.Fatal(err)
				}
				worst := compareForward(t, cpu, gpu, prompt, positions)
				t.Logf("z %d: max |Δlogit| %.3g", zi, worst)
				if !(worst <= 1e-4) {
					t.Errorf("z %d: max |Δlogit| = %.3g, want ≤ 1e-4", zi, worst)
				}
				want, err := model.Generate(context.Background(), cpu, prompt, model.Greedy(), 12, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := model.Generate(context.Background(), gpu, prompt, model.Greedy(), 12, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("z %d: greedy GPU %v, CPU %v", zi, got, want)
				}
			}
		})
	}
	p := randomPack(t, smallConfig, 4, convert.Options{Quant: pack.QuantF32})
	if e, err := NewEngine(d, p.Pack, EngineOptions{MaxBinding: 128}); err == nil || !strings.Contains(err.Error(), "cannot be split") {
		if e != nil {
			e.Close()
		}
		t.Errorf("a binding smaller than one row: %v, want an error saying it cannot be split", err)
	}
}

// TestEnginePopulation: on the GPU engine, a population batch of 5 candidates (one the
// base model) over 3 prompts, rows of every sequence and candidate interleaved, prefill
// then decode, gives each row the logits of SetZ(its candidate) within 1e-4, and
// batched greedy generation across the population the sequential continuations — f32
// and int8 packs with MLP and attention adapted, weights split by rows (8 KiB parts).
func TestEnginePopulation(t *testing.T) {
	d := device(t)
	for _, quant := range []string{pack.QuantF32, pack.QuantInt8} {
		t.Run(quant, func(t *testing.T) {
			p := randomPack(t, smallConfig, 5, convert.Options{Quant: quant, Targets: []string{"mlp", "attn"}})
			// W' in float32: population rows run factored, exactly; SetZ then matches them.
			gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxSeqs: 16, MaxBinding: smallBinding, MergedF32: true})
			if err != nil {
				t.Fatal(err)
			}
			defer gpu.Close()
			zs := enginetest.RandomZs(ranks(p), 5, 2, 1)
			worst := enginetest.Population(t, gpu, zs, smallPrompts, 2, 1e-4)
			t.Logf("max |Δlogit| population vs SetZ: %.3g", worst)
			enginetest.GreedyPopulation(t, gpu, zs, smallPrompts, 6)
			t.Logf("max |Δlogit| forked vs whole: %.3g", enginetest.Fork(t, gpu, smallPrompts[0], smallPrompts[1], 1e-4))
			populationErrors(t, gpu, p)
		})
	}
}

// populationErrors: SetPopulation refuses a z of the wrong rank or for a matrix that is
// not adapted, naming the candidate; a population batch needs a population and
// candidates in range.
func populationErrors(t *testing.T, e *Engine, p *svf.Pack) {
	t.Helper()
	name := p.Manifest.Matrices[0]
	if err := e.SetPopulation([]map[string][]float32{nil, {name: make([]float32, 3)}}); err == nil ||
		!strings.Contains(err.Error(), "candidate 1: z for "+name+" has 3 values") {
		t.Errorf("z of the wrong rank: %v", err)
	}
	if err := e.SetPopulation([]map[string][]float32{{"model.embed_tokens": nil}}); err == nil ||
		!strings.Contains(err.Error(), "not adapted") {
		t.Errorf("z for the embedding: %v", err)
	}
	var b model.Batch
	b.AddCand(1, 0, 0, 0, true)
	if err := e.Forward(&b); err == nil || !strings.Contains(err.Error(), "no population") {
		t.Errorf("candidates without a population: %v", err)
	}
	if err := e.SetPopulation([]map[string][]float32{nil, nil}); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.AddCand(1, 0, 0, 2, true)
	if err := e.Forward(&b); err == nil || !strings.Contains(err.Error(), "outside the population") {
		t.Errorf("candidate out of range: %v", err)
	}
	if err := e.SetPopulation(nil); err != nil {
		t.Fatal(err)
	}
}

// TestEngineScoreCandidates: few-shot scoring of a random population on the GPU engine —
// every candidate × example in the same forward passes — gives each candidate the
// accuracy and mean log-likelihood of scoring it alone with SetZ, and of scoring it the
// way the engine's costs choose, for both score modes; the choice follows the rows.
func TestEngineScoreCandidates(t *testing.T) {
	d := device(t)
	p := randomPack(t, smallConfig, 7, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}})
	m, err := p.Load(svf.FactoredPath) // for its tokenizer; the GPU engine runs the weights
	if err != nil {
		t.Fatal(err)
	}
	// W' in float32, so that sequential scoring (SetZ) matches batched (factored).
	gpu, err := NewEngine(d, p.Pack, EngineOptions{MaxSeqs: 24, MergedF32: true})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	zs := enginetest.RandomZs(ranks(p), 6, 3, 2)
	// Outputs are what candidate 0 answers greedily, so its accuracy is 1 and the others'
	// differ.
	if err := gpu.SetZ(zs[0]); err != nil {
		t.Fatal(err)
	}
	var examples []tasks.Example
	for _, q := range []string{"2+2?", "who is tallest", "x = 3", "print(7)"} {
		examples = append(examples, tasks.Example{Input: q})
	}
	res, err := svf.Evaluate(m, gpu, examples, func(tasks.Example, string) bool { return true }, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range examples {
		examples[i].Output = res.Items[i].Answer
	}
	if err := gpu.SetZ(nil); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{svf.ScoreAccuracy, svf.ScoreLikelihood} {
		opt := svf.FewShotOptions{Score: mode, MaxTokens: 5, MaxRows: 64}
		batched, err := svf.ScoreCandidates(m, gpu, zs, examples, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, how := range []string{svf.ScoringSequential, svf.ScoringAuto} {
			opt.Scoring = how
			other, err := svf.ScoreCandidates(m, gpu, zs, examples, opt)
			if err != nil {
				t.Fatal(err)
			}
			for c := range zs {
				valueOK := batched[c].Value == other[c].Value || (mode == svf.ScoreLikelihood && math.Abs(batched[c].Value-other[c].Value) <= 1e-4)
				if !valueOK || math.Abs(batched[c].Tie-other[c].Tie) > 1e-4 {
					t.Errorf("%s: candidate %d: batched %+v, %q %+v", mode, c, batched[c], how, other[c])
				}
			}
		}
		if mode == svf.ScoreAccuracy && batched[0].Value != 1 {
			t.Errorf("candidate 0, whose answers the outputs are, scores %v", batched[0].Value)
		}
		t.Logf("%s: %+v", mode, batched)
	}
	// The choice by cost: few rows a candidate batched (no recomposition per candidate),
	// many sequential (M·N a row instead of (M+N)·R); never sequential on Q8 W', whose
	// scores would move.
	b, s, same := gpu.ScoringCost(6, 1)
	if !same || b >= s || svf.ChooseScoring(gpu, 6, 1) != svf.ScoringBatched {
		t.Errorf("1 row a candidate: batched %g, sequential %g (same %v): %s", b, s, same, svf.ChooseScoring(gpu, 6, 1))
	}
	if b, s, _ := gpu.ScoringCost(6, 10000); b <= s || svf.ChooseScoring(gpu, 6, 10000) != svf.ScoringSequential {
		t.Errorf("10000 rows a candidate: batched %g, sequential %g: %s", b, s, svf.ChooseScoring(gpu, 6, 10000))
	}
	q8, err := NewEngine(d, p.Pack, EngineOptions{MaxSeqs: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer q8.Close()
	if _, _, same := q8.ScoringCost(6, 10000); same || svf.ChooseScoring(q8, 6, 10000) != svf.ScoringBatched {
		t.Errorf("Q8 W': sequential said to give the same scores, or chosen")
	}
}

// TestEngineSomeRowsAskLogits: the GPU engine runs its last layer on the rows that ask
// for logits only, for plain batches, populations run factored and a population of the
// base model (which runs plain on its held copy); every asking row and the next token
// keep the logits of the batch whose every row asks.
func TestEngineSomeRowsAskLogits(t *testing.T) {
	gpu, p := smallInt8Engine(t, 9)
	a, b := []int{5, 9, 13, 2, 77, 120, 3}, []int{40, 41, 3, 8, 250, 19}
	t.Run("plain", func(t *testing.T) { enginetest.SomeRowsAskLogits(t, gpu, a, b, -1, 1e-4) })
	zs := enginetest.RandomZs(ranks(p), 2, -1, 3)
	if err := gpu.SetPopulation(zs); err != nil {
		t.Fatal(err)
	}
	t.Run("factored", func(t *testing.T) { enginetest.SomeRowsAskLogits(t, gpu, a, b, 1, 1e-4) })
	if err := gpu.SetPopulation([]map[string][]float32{nil}); err != nil {
		t.Fatal(err)
	}
	t.Run("held", func(t *testing.T) { enginetest.SomeRowsAskLogits(t, gpu, a, b, 0, 1e-4) })
}

// TestEngineHeld: the GPU engine holds the base model's W' and a kept z's (KeepMerged)
// beside its current one. A population of one of them runs plain on its copy, giving
// SetZ's logits bit for bit; a population of another z runs factored; SetZ to a held z
// copies it, giving the bits its recomposition gave; a dropped z runs factored again,
// also in a population set before it was dropped.
func TestEngineHeld(t *testing.T) {
	gpu, p := smallInt8Engine(t, 11)
	zs := enginetest.RandomZs(ranks(p), 3, -1, 5)
	kept, other, current := zs[0], zs[1], zs[2]
	ids := smallPrompts[0]
	last := []int{len(ids) - 1}
	plain := func(z map[string][]float32) []float32 {
		t.Helper()
		if err := gpu.SetZ(z); err != nil {
			t.Fatal(err)
		}
		return packtest.LogitsAt(t, gpu, ids, last)[0]
	}
	wantBase := plain(nil) // the load's W' (recomposed at z = 1)
	wantKept, wantOther := plain(kept), plain(other)
	wantCurrent := plain(current)
	factored := packtest.PopulationLogits(t, gpu, ids, kept)
	if slices.Equal(factored, wantKept) {
		t.Fatal("a population of a z not held gave SetZ's logits bit for bit: it did not run factored")
	}
	if got := packtest.PopulationLogits(t, gpu, ids, nil); !slices.Equal(got, wantBase) {
		t.Errorf("a population of the base model: max |Δlogit| %.3g from SetZ(nil)'s, want bit for bit (its held copy)", packtest.MaxAbsDiff([][]float32{got}, [][]float32{wantBase}))
	}
	if err := gpu.KeepMerged(kept); err != nil {
		t.Fatal(err)
	}
	if got := packtest.PopulationLogits(t, gpu, ids, kept); !slices.Equal(got, wantKept) {
		t.Errorf("a population of the kept z: max |Δlogit| %.3g from SetZ's, want bit for bit", packtest.MaxAbsDiff([][]float32{got}, [][]float32{wantKept}))
	}
	if got := packtest.PopulationLogits(t, gpu, ids, other); slices.Equal(got, wantKept) || slices.Equal(got, wantOther) {
		t.Error("a population of another z ran a merged W' (the kept z's or its own), want factored")
	}
	if again := packtest.LogitsAt(t, gpu, ids, last)[0]; !slices.Equal(again, wantCurrent) {
		t.Error("keeping a z changed the current expert's logits")
	}
	if got := plain(kept); !slices.Equal(got, wantKept) {
		t.Error("SetZ of the kept z (a copy) gave other logits than its recomposition")
	}
	if got := plain(nil); !slices.Equal(got, wantBase) {
		t.Error("SetZ(nil) after an expert (the base copy) gave other logits than the load's")
	}
	if err := gpu.KeepMerged(nil); err != nil {
		t.Fatal(err)
	}
	if got := packtest.PopulationLogits(t, gpu, ids, kept); !slices.Equal(got, factored) {
		t.Error("a population of a dropped z did not run factored as before")
	}
	if got := plain(kept); !slices.Equal(got, wantKept) {
		t.Error("SetZ of a dropped z did not recompose it as before")
	}
	// A population set while its z was held, the copy dropped before its batch: the
	// batch runs factored, its scales made then (the device holds another z's before).
	packtest.PopulationLogits(t, gpu, ids, other)
	for _, err := range []error{gpu.KeepMerged(kept), gpu.SetPopulation([]map[string][]float32{kept}), gpu.KeepMerged(nil)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := packtest.PopulationRowLogits(t, gpu, ids); !slices.Equal(got, factored) {
		t.Error("a population whose held copy was dropped before its batch did not run factored")
	}
}

// smallInt8Engine is a GPU engine of two sequences on a random int8 pack of smallConfig
// (seed), every attention and MLP matrix adapted; closed when the test ends.
func smallInt8Engine(t *testing.T, seed uint64) (*Engine, *svf.Pack) {
	t.Helper()
	p := randomPack(t, smallConfig, seed, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}})
	gpu, err := NewEngine(device(t), p.Pack, EngineOptions{MaxSeqs: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gpu.Close() })
	return gpu, p
}
