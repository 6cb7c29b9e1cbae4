package convert

import (
	"errors"
	"github.com/t2web/t2web/model/pack"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/svf"
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

// TestConvertFactors: Convert takes an adapted matrix's factors from Options.Factors
// (here Decompose's, so the pack is byte for byte the same as without it) and names the
// matrix when they fail.
func TestConvertFactors(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 3)
	_, plain := newPack(t, src, Options{Quant: pack.QuantF32})
	var (
		mu    sync.Mutex // Factors may be called concurrently
		calls []string
	)
	_, given := newPack(t, src, Options{Quant: pack.QuantF32, Factors: func(matrix string, w []float32, m, n int) (*svf.Factors, error) {
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
	_, err := Convert(os.DirFS(src), t.TempDir(), Options{Factors: func(matrix string, w []float32, m, n int) (*svf.Factors, error) {
		return nil, boom
	}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "model.layers.0.mlp.gate_proj") {
		t.Errorf("failing Factors: %v, want boom naming the matrix", err)
	}
}
