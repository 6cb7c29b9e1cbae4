package svf

import (
	"errors"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestNewFactors: factors given with any signs come out exactly as Decompose gives them,
// and factors that are not a thin SVD are refused, naming what is wrong.
func TestNewFactors(t *testing.T) {
	for _, s := range []struct{ m, n int }{{6, 4}, {4, 6}, {9, 9}} {
		w := randMatrix(7, s.m, s.n, 1)
		want, err := Decompose(w, s.m, s.n)
		if err != nil {
			t.Fatal(err)
		}
		// Negate every other pair (u_k, v_k), as another SVD may.
		u, v := slices.Clone(want.U), slices.Clone(want.V)
		for i := range u {
			if i%want.R%2 == 1 {
				u[i] = -u[i]
			}
		}
		for i := range v {
			if i%want.R%2 == 1 {
				v[i] = -v[i]
			}
		}
		got, err := NewFactors(u, slices.Clone(want.S), v, s.m, s.n)
		if err != nil {
			t.Fatalf("%d×%d: %v", s.m, s.n, err)
		}
		if !slices.Equal(got.U, want.U) || !slices.Equal(got.V, want.V) || got.R != want.R {
			t.Errorf("%d×%d: signs not fixed as Decompose fixes them", s.m, s.n)
		}
	}
	f, _ := Decompose(randMatrix(8, 5, 3, 1), 5, 3)
	nan := slices.Clone(f.V)
	nan[4] = float32(math.NaN())
	up := slices.Clone(f.S)
	up[0], up[1] = up[1], up[0]
	neg := slices.Clone(f.S)
	neg[2] = -1e-3
	for _, tt := range []struct {
		name    string
		u, s, v []float32
		m, n    int
		want    string
	}{
		{"short U", f.U[:12], f.S, f.V, 5, 3, "U[12] S[3] V[9] do not fit W[5,3] with R = min(M, N) = 3: want U[15] S[3] V[9]"},
		{"truncated rank", f.U[:10], f.S[:2], f.V[:6], 5, 3, "want U[15] S[3] V[9]"},
		{"transposed shape", f.U, f.S, f.V, 3, 5, "do not fit W[3,5]"},
		{"NaN", f.U, f.S, nan, 5, 3, "factor V[4] is NaN"},
		{"ascending", f.U, up, f.V, 5, 3, "σ is not descending and ≥ 0: S[1]"},
		{"negative", f.U, neg, f.V, 5, 3, "S[2] = -0.001"},
	} {
		_, err := NewFactors(slices.Clone(tt.u), slices.Clone(tt.s), slices.Clone(tt.v), tt.m, tt.n)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestReconstructionError: exact for small matrices, the probe estimate close to it, and
// both tell a W from another.
func TestReconstructionError(t *testing.T) {
	const m, n = 40, 24
	w := randMatrix(9, m, n, 1)
	f, err := Decompose(w, m, n)
	if err != nil {
		t.Fatal(err)
	}
	if rel, exact := ReconstructionError(w, f); !exact || rel > 1e-6 {
		t.Errorf("own factors: %g (exact %v), want ≤ 1e-6, exact", rel, exact)
	}
	// W + noise of relative size 1e-3: the error is that noise.
	noisy := slices.Clone(w)
	noise := randMatrix(10, m, n, 1e-3)
	var dn, wn float64
	for i := range noisy {
		noisy[i] += noise[i]
		dn += float64(noise[i]) * float64(noise[i])
		wn += float64(noisy[i]) * float64(noisy[i])
	}
	want := math.Sqrt(dn / wn)
	rel, exact := ReconstructionError(noisy, f)
	if !exact || math.Abs(rel/want-1) > 1e-3 {
		t.Errorf("noisy W: %g (exact %v), want %g", rel, exact, want)
	}
	est, exact := reconstructionError(noisy, f, 0)
	if exact || math.Abs(est/want-1) > 0.3 {
		t.Errorf("noisy W, probes: %g (exact %v), want %g ± 30%%", est, exact, want)
	}
	other := randMatrix(11, m, n, 1)
	for _, budget := range []float64{exactCheckBudget, 0} {
		if rel, _ := reconstructionError(other, f, budget); rel < 1 {
			t.Errorf("another W (budget %g): %g, want ≥ 1", budget, rel)
		}
	}
}

// TestConvertFactors: Convert takes an adapted matrix's factors from ConvertOptions.Factors
// (here Decompose's, so the pack is byte for byte the same as without it) and names the
// matrix when they fail.
func TestConvertFactors(t *testing.T) {
	src := writeRandomCheckpoint(t, tinyConfig, 3)
	_, plain := convert(t, src, ConvertOptions{Quant: QuantF32})
	var (
		mu    sync.Mutex // Factors may be called concurrently
		calls []string
	)
	_, given := convert(t, src, ConvertOptions{Quant: QuantF32, Factors: func(matrix string, w []float32, m, n int) (*Factors, error) {
		mu.Lock()
		calls = append(calls, matrix)
		mu.Unlock()
		return Decompose(w, m, n)
	}})
	slices.Sort(calls)
	want := slices.Sorted(slices.Values(plain.Manifest.Matrices))
	if !slices.Equal(calls, want) {
		t.Errorf("Factors called for %v, want %v", calls, want)
	}
	if !slices.Equal(plain.Manifest.Shards, given.Manifest.Shards) {
		t.Errorf("shards differ: %v and %v", plain.Manifest.Shards, given.Manifest.Shards)
	}
	boom := errors.New("boom")
	_, err := Convert(os.DirFS(src), t.TempDir(), ConvertOptions{Factors: func(matrix string, w []float32, m, n int) (*Factors, error) {
		return nil, boom
	}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "model.layers.0.mlp.gate_proj") {
		t.Errorf("failing Factors: %v, want boom naming the matrix", err)
	}
}

// TestReferenceZ: z = bf16(bf16(sigmoid(p))·max_mult), as the reference's get_mask.
func TestReferenceZ(t *testing.T) {
	for _, tt := range []struct {
		p       float32
		maxMult float64
		want    float32
	}{
		// want: PyTorch 1.13's torch.sigmoid(p).to(torch.bfloat16) * max_mult
		{0, 1, 0.5},
		{0, 2, 1},
		{1, 1, 0.73046875},              // sigmoid 0.7310586 → bf16 187/256
		{-1, 1, 0.26953125},             // 0.2689414 → 138/512
		{1, 3, 2.1875},                  // 0.73046875·3 = 2.19140625 → bf16 2.1875
		{20, 1, 1},                      // 0.999999998 rounds up to 1
		{-20, 1, 2.066371962428093e-09}, // 2.0611537e-9 → bf16
		{0.1, 1, 0.5234375},             // 0.52497919 → 134/256
		{0.1, 1.5, 0.78515625},          // 0.5234375·1.5 = 0.78515625, exact
	} {
		got := ReferenceZ([]float32{tt.p}, tt.maxMult)[0]
		if got != tt.want {
			t.Errorf("p %v max_mult %v: z %v, want %v", tt.p, tt.maxMult, got, tt.want)
		}
		if got != bf16(got) {
			t.Errorf("p %v: z %v is not a bfloat16", tt.p, got)
		}
	}
}

// TestReferenceExpert: the MLP matrices get ReferenceZ(p), attention ones 1; a missing,
// extra or wrong-length vector and a bad max_mult are errors naming the matrix.
func TestReferenceExpert(t *testing.T) {
	src := writeRandomCheckpoint(t, tinyConfig, 3)
	_, pk := convert(t, src, ConvertOptions{Quant: QuantF32, Targets: []string{"mlp", "attn"}})
	mlp := ReferenceMatrices(pk.Config)
	if want := []string{"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj",
		"model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"}; !slices.Equal(mlp, want) {
		t.Fatalf("ReferenceMatrices %v, want %v", mlp, want)
	}
	p := map[string][]float32{}
	for i, m := range mlp {
		v := make([]float32, pk.ranks[m])
		for k := range v {
			v[k] = float32(i) - float32(k)/10
		}
		p[m] = v
	}
	e, err := pk.ReferenceExpert("ref", p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Check(e); err != nil {
		t.Fatal(err)
	}
	for _, m := range pk.Manifest.Matrices {
		want := slices.Repeat([]float32{1}, pk.ranks[m])
		if v, ok := p[m]; ok {
			want = ReferenceZ(v, 2)
		}
		if !slices.Equal(e.Z[m], want) {
			t.Errorf("%s: z %v, want %v", m, e.Z[m][:3], want[:3])
		}
	}
	if !strings.Contains(e.Trained, "max_mult 2") {
		t.Errorf("Trained %q does not say max_mult", e.Trained)
	}

	without := func(drop string) map[string][]float32 {
		q := maps.Clone(p)
		delete(q, drop)
		return q
	}
	short := maps.Clone(p)
	short[mlp[4]] = short[mlp[4]][1:]
	extra := maps.Clone(p)
	extra["model.layers.0.self_attn.q_proj"] = []float32{0}
	_, mlpOnly := convert(t, src, ConvertOptions{Quant: QuantF32})
	for _, tt := range []struct {
		name    string
		pack    *Pack
		p       map[string][]float32
		maxMult float64
		want    string
	}{
		{"missing", pk, without(mlp[2]), 1, "no vector for model.layers.0.mlp.down_proj.weight"},
		{"short", pk, short, 1, "model.layers.1.mlp.up_proj.weight: p has 47 values, want the matrix's rank 48"},
		{"not adapted", mlpOnly, extra, 1, "model.layers.0.self_attn.q_proj.weight: the pack does not adapt this matrix (its targets are [mlp])"},
		{"max_mult 0", pk, p, 0, "max_mult 0"},
		{"max_mult NaN", pk, p, math.NaN(), "max_mult NaN"},
	} {
		if _, err := tt.pack.ReferenceExpert("x", tt.p, tt.maxMult); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
