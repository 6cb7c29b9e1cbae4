package svf

import (
	"slices"
	"testing"
)

// TestMix: α = (1, 0) reproduces the first expert exactly, per-matrix α picks per matrix,
// and α is clamped to [0, 1].
func TestMix(t *testing.T) {
	matrices := []string{"a", "b"}
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
			z, err := Mix([]*Expert{e1, e2}, tt.alpha, matrices)
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
	if _, err := Mix([]*Expert{e1, e2}, [][]float64{{1, 0, 1}, {0}}, matrices); err == nil {
		t.Error("three α for two matrices accepted")
	}
}
