package svf_test

import (
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/packtest"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// TestReferenceExpert: the MLP matrices get ReferenceZ(p), attention ones 1; a missing,
// extra or wrong-length vector and a bad max_mult are errors naming the matrix.
func TestReferenceExpert(t *testing.T) {
	src := packtest.Checkpoint(t, packtest.TinyConfig, 3)
	_, pk := newPack(t, src, convert.Options{Quant: pack.QuantF32, Targets: []string{"mlp", "attn"}})
	rank := func(m string) int { r, _ := pk.Rank(m); return r }
	mlp := svf.ReferenceMatrices(pk.Config)
	if want := []string{"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj",
		"model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"}; !slices.Equal(mlp, want) {
		t.Fatalf("ReferenceMatrices %v, want %v", mlp, want)
	}
	p := map[string][]float32{}
	for i, m := range mlp {
		v := make([]float32, rank(m))
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
		want := slices.Repeat([]float32{1}, rank(m))
		if v, ok := p[m]; ok {
			want = svf.ReferenceZ(v, 2)
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
	_, mlpOnly := newPack(t, src, convert.Options{Quant: pack.QuantF32})
	for _, tt := range []struct {
		name    string
		pack    *svf.Pack
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
