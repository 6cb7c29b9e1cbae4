package svf_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/enginetest"
	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// logitStd is the standard deviation of every value of rows.
func logitStd(rows [][]float32) float64 {
	var sum, sq float64
	var n int
	for _, row := range rows {
		for _, v := range row {
			sum += float64(v)
			sq += float64(v) * float64(v)
			n++
		}
	}
	mean := sum / float64(n)
	return math.Sqrt(sq/float64(n) - mean*mean)
}

// int8Tolerance is the int8 path's tolerance on logits, in logit standard deviations:
// int8 factors in the pack, W' requantised per block and activations quantised per block
// move the fixtures' logits by at most 0.088 std (measured: 0.054–0.088, where the f32
// merged path of the same pack moves them 0.037–0.059). A wrong GQA mapping or dropped
// biases move them 4–5 std.
const int8Tolerance = 0.12

// TestLoadInt8Fixtures holds the int8 path (LoadInt8) to llama.cpp's f32 logits within
// int8Tolerance, for MLP, MLP+attention and an exact rank.
func TestLoadInt8Fixtures(t *testing.T) {
	for _, name := range fixtures.Models {
		t.Run(name, func(t *testing.T) {
			src := fixtures.Dir(t, name)
			for _, opt := range []convert.Options{
				{Quant: pack.QuantInt8, Targets: []string{"mlp"}},
				{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}},
				{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}, ExactRank: 8},
			} {
				t.Run(fmt.Sprint(opt.Targets, opt.ExactRank), func(t *testing.T) {
					_, p := newPack(t, src, opt)
					m, err := p.LoadInt8(nil)
					if err != nil {
						t.Fatal(err)
					}
					e, err := model.NewCPU(m, model.CPUOptions{})
					if err != nil {
						t.Fatal(err)
					}
					_, ef := packtest.Load(t, p, svf.MergedPath)
					for _, c := range fixtures.Cases(t, src) {
						got := packtest.LogitsAt(t, e, c.InputIDs, c.Positions)
						f32 := packtest.LogitsAt(t, ef, c.InputIDs, c.Positions)
						want := c.Logits(t)
						var worst, worstF float64
						for r := range c.Positions {
							worst = max(worst, c.MaxDiff(got[r], want, r))
							worstF = max(worstF, c.MaxDiff(f32[r], want, r))
						}
						std := logitStd(f32)
						if worst > int8Tolerance*std {
							t.Errorf("%s: int8 path max |Δlogit| %.3g = %.3g std, want ≤ %g std", c.Name, worst, worst/std, int8Tolerance)
						}
						t.Logf("%s: int8 path max |Δ| %.3g (%.3g std), f32 merged of the int8 pack %.3g (%.3g std), int8 vs f32 merged %.3g", c.Name, worst, worst/std, worstF, worstF/std, packtest.MaxAbsDiff(got, f32))
					}
				})
			}
		})
	}
}

// simdLike are Go's kernels under another type: the CPU engine runs population batches
// on the int8 kernels with any kernels but Go's own, as it does with the page's SIMD ones.
type simdLike struct{ model.GoKernels }

// TestPopulationQ8: on the int8 path with kernels other than Go's, a population batch
// runs on the int8 kernels (MergedQ8.ApplyPopulationQ8). Every row of a batch of 4
// candidates (one the base model) over 3 prompts, interleaved, gives its candidate's
// logits within the int8 tolerance of the f32 merged path's SetZ, as the int8 path's
// SetZ does — with and without an exact rank.
func TestPopulationQ8(t *testing.T) {
	src := packtest.Checkpoint(t, populationConfig, 5)
	for _, exact := range []int{0, 8} {
		t.Run(fmt.Sprint("exact rank ", exact), func(t *testing.T) {
			e, p, ranks := populationQ8Engine(t, src, exact, 16)
			zs := enginetest.RandomZs(ranks, 4, 1, 3)
			_, ef := packtest.Load(t, p, svf.MergedPath)
			// want[c][i]: candidate c's last-token logits of prompt i, f32 merged and int8 SetZ.
			want := make([][][]float32, len(zs))
			setZ := make([][][]float32, len(zs))
			for c, z := range zs {
				if err := ef.SetZ(z); err != nil {
					t.Fatal(err)
				}
				if err := e.SetZ(z); err != nil {
					t.Fatal(err)
				}
				for _, ids := range populationPrompts {
					want[c] = append(want[c], packtest.LogitsAt(t, ef, ids, []int{len(ids) - 1})[0])
					setZ[c] = append(setZ[c], packtest.LogitsAt(t, e, ids, []int{len(ids) - 1})[0])
				}
			}
			if err := e.SetZ(nil); err != nil {
				t.Fatal(err)
			}
			if err := e.SetPopulation(zs); err != nil {
				t.Fatal(err)
			}
			var b model.Batch
			type out struct{ c, i int }
			var order []out
			seq := 0
			for c := range zs {
				for i, ids := range populationPrompts {
					e.Clear(seq)
					for pos, id := range ids {
						b.AddCand(id, pos, seq, c, pos == len(ids)-1)
					}
					order = append(order, out{c, i})
					seq++
				}
			}
			if err := e.Forward(&b); err != nil {
				t.Fatal(err)
			}
			var all [][]float32
			var worst, worstSetZ float64
			for r, o := range order {
				got := make([]float32, e.Config().VocabSize)
				if err := e.Logits(got, r); err != nil {
					t.Fatal(err)
				}
				worst = max(worst, packtest.MaxAbsDiff([][]float32{got}, [][]float32{want[o.c][o.i]}))
				worstSetZ = max(worstSetZ, packtest.MaxAbsDiff([][]float32{setZ[o.c][o.i]}, [][]float32{want[o.c][o.i]}))
				all = append(all, want[o.c][o.i])
			}
			std := logitStd(all)
			if worst < 1e-4 {
				t.Errorf("population logits within %.2g of the f32 path's: the batch did not run on the int8 kernels", worst)
			}
			if worst > int8Tolerance*std {
				t.Errorf("int8 population vs f32 SetZ: max |Δlogit| %.3g = %.3g std, want ≤ %g std", worst, worst/std, int8Tolerance)
			}
			t.Logf("max |Δlogit| vs the f32 merged path: int8 population %.3g (%.3g std), int8 SetZ %.3g (%.3g std)", worst, worst/std, worstSetZ, worstSetZ/std)
			if err := e.SetPopulation(nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPopulationQ8Base: the base W' made at load stays. Rows of a population whose
// every candidate is the base model (the first pass of T²-prompt) run on it merged, and
// give SetZ(nil)'s logits bit for bit while another z is the current one; SetZ(nil)
// after an expert gives the load's logits again, recomposing nothing.
func TestPopulationQ8Base(t *testing.T) {
	src := packtest.Checkpoint(t, populationConfig, 5)
	for _, exact := range []int{0, 8} {
		t.Run(fmt.Sprint("exact rank ", exact), func(t *testing.T) {
			e, _, ranks := populationQ8Engine(t, src, exact, 4)
			z := enginetest.RandomZs(ranks, 1, 1, 7)[0]
			ids := populationPrompts[0]
			last := []int{len(ids) - 1}
			base := packtest.LogitsAt(t, e, ids, last)[0]
			if err := e.SetZ(z); err != nil {
				t.Fatal(err)
			}
			expert := packtest.LogitsAt(t, e, ids, last)[0]
			if d := packtest.MaxAbsDiff([][]float32{expert}, [][]float32{base}); d < 1e-3 {
				t.Fatalf("the expert's logits are within %.2g of the base's: z did not change W'", d)
			}
			got := packtest.PopulationLogits(t, e, ids, nil)
			for i := range base {
				if got[i] != base[i] {
					t.Fatalf("base population row: logit %d = %g, the base model's %g", i, got[i], base[i])
				}
			}
			if again := packtest.LogitsAt(t, e, ids, last)[0]; !slices.Equal(again, expert) {
				t.Fatal("the population changed the current expert's logits")
			}
			if err := e.SetZ(nil); err != nil {
				t.Fatal(err)
			}
			if again := packtest.LogitsAt(t, e, ids, last)[0]; !slices.Equal(again, base) {
				t.Fatal("SetZ(nil) after an expert: the logits are not the load's")
			}
		})
	}
}

// TestPopulationQ8Kept: a z held by KeepMerged (the classification expert of
// T²-cls-expert's first pass) runs its population rows merged, giving SetZ(z)'s logits
// bit for bit while another z is the current one; rows of another z, and of z once
// dropped, run factored as before.
func TestPopulationQ8Kept(t *testing.T) {
	src := packtest.Checkpoint(t, populationConfig, 5)
	for _, exact := range []int{0, 8} {
		t.Run(fmt.Sprint("exact rank ", exact), func(t *testing.T) {
			e, _, ranks := populationQ8Engine(t, src, exact, 4)
			zs := enginetest.RandomZs(ranks, 3, -1, 11)
			kept, other, current := zs[0], zs[1], zs[2]
			ids := populationPrompts[0]
			last := []int{len(ids) - 1}
			plain := func(z map[string][]float32) []float32 {
				if err := e.SetZ(z); err != nil {
					t.Fatal(err)
				}
				return packtest.LogitsAt(t, e, ids, last)[0]
			}
			wantKept, wantOther := plain(kept), plain(other)
			wantCurrent := plain(current)
			factored := packtest.PopulationLogits(t, e, ids, kept)
			if slices.Equal(factored, wantKept) {
				t.Fatal("a population row of a z not held gave SetZ's logits bit for bit: it did not run factored")
			}
			if err := e.KeepMerged(kept); err != nil {
				t.Fatal(err)
			}
			if got := packtest.PopulationLogits(t, e, ids, kept); !slices.Equal(got, wantKept) {
				t.Errorf("a row of the held z: max |Δlogit| %.3g from SetZ's, want bit for bit", packtest.MaxAbsDiff([][]float32{got}, [][]float32{wantKept}))
			}
			if got := packtest.PopulationLogits(t, e, ids, other); slices.Equal(got, wantKept) || slices.Equal(got, wantOther) {
				t.Error("a row of another z ran a merged W' (the held z's or its own), want factored")
			}
			if again := packtest.LogitsAt(t, e, ids, last)[0]; !slices.Equal(again, wantCurrent) {
				t.Error("holding a z changed the current expert's logits")
			}
			if err := e.KeepMerged(nil); err != nil {
				t.Fatal(err)
			}
			if got := packtest.PopulationLogits(t, e, ids, kept); !slices.Equal(got, factored) {
				t.Error("a row of a dropped z did not run factored as before")
			}
		})
	}
}

// populationQ8Engine is the CPU engine (SIMD-like kernels, seqs sequences) on an int8
// pack of the checkpoint src with every attention and MLP matrix adapted and exact rank
// exact; with the pack and its adapted matrices' ranks.
func populationQ8Engine(t *testing.T, src string, exact, seqs int) (*model.CPU, *svf.Pack, map[string]int) {
	t.Helper()
	_, p := newPack(t, src, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}, ExactRank: exact})
	ranks := map[string]int{}
	for _, name := range p.Manifest.Matrices {
		ranks[name], _ = p.Rank(name)
	}
	m, err := p.LoadInt8(simdLike{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: seqs, Kernels: simdLike{}})
	if err != nil {
		t.Fatal(err)
	}
	return e, p, ranks
}
