// Package enginetest holds checks that every model.Engine must pass, for the tests of
// the packages implementing one (model's CPU engine with svf's matrices, the GPU engine
// of package shaders), in the manner of testing/fstest.
package enginetest

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
)

// PopulationBatch adds to b, for every (prompt i, candidate c) pair, the rows from
// from[i] up to (not including) to[i] of prompts[i] in sequence slot i·P+c under
// candidate c, interleaved: one row of each pair in turn, so rows of different
// sequences and candidates alternate. Every row asks for logits. It returns, for each
// pair, the output rows of its tokens in order.
func PopulationBatch(b *model.Batch, prompts [][]int, P int, from, to []int) (rows [][][]int) {
	rows = make([][][]int, len(prompts))
	for i := range prompts {
		rows[i] = make([][]int, P)
	}
	out := 0
	for step := 0; ; step++ {
		added := false
		for i, p := range prompts {
			pos := from[i] + step
			if pos >= to[i] {
				continue
			}
			for c := range P {
				b.AddCand(p[pos], pos, i*P+c, c, true)
				rows[i][c] = append(rows[i][c], out)
				out++
			}
			added = true
		}
		if !added {
			return rows
		}
	}
}

// Population checks that a population batch gives each row the logits of its
// candidate: prompts × candidates zs run in interleaved batches (SetPopulation,
// Batch.AddCand) — a prefill of all but the last decode tokens of each prompt, then
// decode steps of one token per sequence — must give the logits that SetZ(zs[c]) and
// plain batches of one sequence give, within tol (absolute). The engine needs
// len(prompts)·len(zs) sequences; the population and z are left cleared. It returns the
// largest difference seen.
func Population(t testing.TB, e model.Engine, zs []map[string][]float32, prompts [][]int, decode int, tol float64) float64 {
	t.Helper()
	P := len(zs)
	if e.MaxSeqs() < len(prompts)*P {
		t.Fatalf("enginetest: %d prompts × %d candidates need %d sequences, the engine holds %d", len(prompts), P, len(prompts)*P, e.MaxSeqs())
	}
	V := e.Config().VocabSize
	// want[i][c][pos] = logits of prompt i under candidate c at pos, one sequence at a time.
	want := make([][][][]float32, len(prompts))
	for i := range want {
		want[i] = make([][][]float32, P)
	}
	var b model.Batch
	for c, z := range zs {
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
		for i, p := range prompts {
			e.Clear(0)
			split := len(p) - decode
			b.Reset()
			for pos := range split {
				b.Add(p[pos], pos, 0, true)
			}
			want[i][c] = append(want[i][c], forward(t, e, &b, split, V)...)
			for pos := split; pos < len(p); pos++ {
				b.Reset()
				b.Add(p[pos], pos, 0, true)
				want[i][c] = append(want[i][c], forward(t, e, &b, 1, V)...)
			}
		}
	}
	if err := e.SetZ(nil); err != nil {
		t.Fatal(err)
	}
	// The check means something only where the candidates' logits differ.
	var spread float64
	for c := 1; c < P; c++ {
		for pos := range want[0][0] {
			spread = max(spread, maxDiff(want[0][c][pos], want[0][0][pos]))
		}
	}
	if P > 1 && spread <= 100*tol {
		t.Fatalf("enginetest: the candidates' logits differ by only %.3g: the zs do not tell them apart", spread)
	}

	if err := e.SetPopulation(zs); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.SetPopulation(nil); err != nil {
			t.Error(err)
		}
	}()
	for s := range len(prompts) * P {
		e.Clear(s)
	}
	from, to := make([]int, len(prompts)), make([]int, len(prompts))
	for i, p := range prompts {
		to[i] = len(p) - decode
	}
	var worst float64
	for step := 0; step <= decode; step++ {
		b.Reset()
		rows := PopulationBatch(&b, prompts, P, from, to)
		got := forward(t, e, &b, b.Len(), V)
		for i := range prompts {
			for c := range P {
				for k, r := range rows[i][c] {
					pos := from[i] + k
					d := maxDiff(got[r], want[i][c][pos])
					worst = max(worst, d)
					if !(d <= tol) {
						t.Errorf("prompt %d, candidate %d, position %d (step %d): population logits differ from SetZ's by %.3g > %.3g", i, c, pos, step, d, tol)
					}
				}
			}
		}
		for i := range prompts {
			from[i], to[i] = to[i], to[i]+1
		}
	}
	return worst
}

// forward runs b and returns its n output rows of logits.
func forward(t testing.TB, e model.Engine, b *model.Batch, n, V int) [][]float32 {
	t.Helper()
	if err := e.Forward(b); err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, n)
	for r := range out {
		out[r] = make([]float32, V)
		if err := e.Logits(out[r], r); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	if math.IsNaN(d) {
		return math.Inf(1)
	}
	return d
}

// GreedyPopulation checks model.GenerateCandidates: greedy continuations of every
// prompt under every candidate, in one population, equal those of SetZ(zs[c]) and
// model.Generate one at a time.
func GreedyPopulation(t testing.TB, e model.Engine, zs []map[string][]float32, prompts [][]int, maxTokens int) {
	t.Helper()
	P := len(zs)
	var all [][]int
	var cands []int
	var samplers []*model.Sampler
	for _, p := range prompts {
		for c := range P {
			all, cands, samplers = append(all, p), append(cands, c), append(samplers, model.Greedy())
		}
	}
	if err := e.SetPopulation(zs); err != nil {
		t.Fatal(err)
	}
	got, _, err := model.GenerateCandidates(e, all, cands, samplers, maxTokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPopulation(nil); err != nil {
		t.Fatal(err)
	}
	for c, z := range zs {
		if err := e.SetZ(z); err != nil {
			t.Fatal(err)
		}
		for i, p := range prompts {
			want, err := model.Generate(context.Background(), e, p, model.Greedy(), maxTokens, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if g := got[i*P+c]; !slices.Equal(g, want) {
				t.Errorf("prompt %d, candidate %d: GenerateCandidates %v, SetZ + Generate %v", i, c, g, want)
			}
		}
	}
	if err := e.SetZ(nil); err != nil {
		t.Fatal(err)
	}
}

// RandomZs draws P candidates' z for the adapted matrices ranks (name → R), each value
// in [0.5, 1.5]; candidate nilAt (if in range) is nil, the base model, and every other
// candidate leaves one matrix out (z = 1 there).
func RandomZs(ranks map[string]int, P, nilAt int, seed uint64) []map[string][]float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	zs := make([]map[string][]float32, P)
	for c := range zs {
		if c == nilAt {
			continue
		}
		zs[c] = map[string][]float32{}
		skip := c % max(len(ranks), 1)
		k := 0
		for _, name := range slices.Sorted(maps.Keys(ranks)) {
			if k++; k-1 == skip {
				continue
			}
			v := make([]float32, ranks[name])
			for j := range v {
				v[j] = float32(0.5 + rng.Float64())
			}
			zs[c][name] = v
		}
	}
	return zs
}

// Fork checks Engine.Fork: the prompt run once in sequence 0 and forked into sequences
// 1 and 2, each continued in one batch with its own tokens (cont, then cont reversed),
// gives the logits of the whole prompt and continuation run in a sequence of its own,
// within tol; forking from an empty sequence empties dst, and a sequence out of range
// is an error. The engine needs 4 sequences; every sequence is cleared.
func Fork(t testing.TB, e model.Engine, prompt, cont []int, tol float64) float64 {
	t.Helper()
	V := e.Config().VocabSize
	conts := [][]int{cont, reversed(cont)}
	for s := range 4 {
		e.Clear(s)
	}
	var b model.Batch
	for i, tok := range prompt {
		b.Add(tok, i, 0, false)
	}
	if err := e.Forward(&b); err != nil {
		t.Fatal(err)
	}
	for dst := 1; dst <= 2; dst++ {
		if err := e.Fork(dst, 0); err != nil {
			t.Fatal(err)
		}
	}
	b = model.Batch{}
	for j := range cont {
		for k, c := range conts {
			b.Add(c[j], len(prompt)+j, 1+k, true)
		}
	}
	got := forward(t, e, &b, 2*len(cont), V)
	worst := 0.0
	for k, c := range conts {
		e.Clear(3)
		b = model.Batch{}
		for i, tok := range append(slices.Clone(prompt), c...) {
			b.Add(tok, i, 3, i >= len(prompt))
		}
		want := forward(t, e, &b, len(c), V)
		for j := range c {
			d := maxDiff(got[2*j+k], want[j])
			worst = max(worst, d)
			if !(d <= tol) {
				t.Errorf("fork: sequence %d, token %d of its continuation: logits %.3g from those of the prompt run whole", 1+k, j, d)
			}
		}
	}
	// An empty source empties dst: position 1 would leave a gap.
	e.Clear(3)
	if err := e.Fork(1, 3); err != nil {
		t.Fatal(err)
	}
	b = model.Batch{}
	b.Add(prompt[0], 1, 1, true)
	if err := e.Forward(&b); err == nil {
		t.Errorf("fork from an empty sequence: sequence 1 still holds positions")
	}
	if err := e.Fork(e.MaxSeqs(), 0); err == nil {
		t.Errorf("fork into sequence %d of %d: no error", e.MaxSeqs(), e.MaxSeqs())
	}
	for s := range 4 {
		e.Clear(s)
	}
	return worst
}

func reversed(x []int) []int {
	y := slices.Clone(x)
	slices.Reverse(y)
	return y
}

// SomeRowsAskLogits checks a batch whose rows do not all ask for logits (engines may run
// the last layer on the asking rows alone): two interleaved sequences, a and b, asking
// at the last row of each, at one row in the middle, at every other row, at none, or
// (with cand ≥ 0, after SetPopulation) as rows of that candidate. Each asking row's
// logits must be within tol of the batch whose every row asks, and the next token of
// each sequence within tol of its logits there (a skipped row's keys and values are in
// the cache). e needs two sequences.
func SomeRowsAskLogits(t *testing.T, e model.Engine, a, b []int, cand int, tol float64) {
	t.Helper()
	V := e.Config().VocabSize
	add := func(batch *model.Batch, id, pos, seq int, want bool) {
		if cand < 0 {
			batch.Add(id, pos, seq, want)
		} else {
			batch.AddCand(id, pos, seq, cand, want)
		}
	}
	run := func(ask func(s, i int) bool) (rows [][2]int, logits [][]float32) {
		t.Helper()
		e.Clear(0)
		e.Clear(1)
		var batch model.Batch
		for i := range max(len(a), len(b)) {
			for s, p := range [][]int{a, b} {
				if i < len(p) {
					add(&batch, p[i], i, s, ask(s, i))
					if ask(s, i) {
						rows = append(rows, [2]int{s, i})
					}
				}
			}
		}
		return rows, forward(t, e, &batch, len(rows), V)
	}
	next := func() [][]float32 {
		t.Helper()
		var batch model.Batch
		add(&batch, 11, len(a), 0, true)
		add(&batch, 12, len(b), 1, true)
		return forward(t, e, &batch, 2, V)
	}
	all, logits := run(func(int, int) bool { return true })
	want := map[[2]int][]float32{}
	for r, row := range logits {
		want[all[r]] = row
	}
	wantNext := next()
	for _, tc := range []struct {
		name string
		ask  func(s, i int) bool
	}{
		{"the last of each", func(s, i int) bool { return i == len(a)-1 && s == 0 || i == len(b)-1 && s == 1 }},
		{"one in the middle", func(s, i int) bool { return s == 1 && i == 1 }},
		{"every other", func(s, i int) bool { return (s+i)%2 == 0 }},
		{"none", func(int, int) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, logits := run(tc.ask)
			for r, got := range logits {
				if d := maxDiff(got, want[rows[r]]); d > tol {
					t.Errorf("sequence %d position %d: max |Δlogit| %.3g from the batch whose every row asks", rows[r][0], rows[r][1], d)
				}
			}
			for s, got := range next() {
				if d := maxDiff(got, wantNext[s]); d > tol {
					t.Errorf("sequence %d: the next token's logits are %.3g off: a skipped row's keys or values are missing", s, d)
				}
			}
		})
	}
}
