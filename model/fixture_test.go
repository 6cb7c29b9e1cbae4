package model_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/fixtures"
)

// TestFixtureLogits holds the CPU engine to llama.cpp's float32 logits at every stored
// position (2e-5 absolute catches a missing llama3 RoPE scaling, 4.5e-5) and to its
// argmax per position.
func TestFixtureLogits(t *testing.T) {
	for _, name := range fixtures.Models {
		t.Run(name, func(t *testing.T) {
			dir := fixtures.Dir(t, name)
			m, err := model.Load(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			e, err := model.NewCPU(m, model.CPUOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range fixtures.Cases(t, dir) {
				t.Run(c.Name, func(t *testing.T) {
					e.Clear(0)
					var b model.Batch
					for i, id := range c.InputIDs {
						b.Add(id, i, 0, slices.Contains(c.Positions, i))
					}
					if err := e.Forward(&b); err != nil {
						t.Fatal(err)
					}
					want := c.Logits(t)
					row := make([]float32, m.Config.VocabSize)
					var worst float64
					for r, pos := range c.Positions {
						if err := e.Logits(row, r); err != nil {
							t.Fatal(err)
						}
						worst = max(worst, c.MaxDiff(row, want, r))
						if got := model.Argmax(row); c.AllPositions() && got != c.Argmax[r] {
							t.Errorf("position %d: argmax %d, llama.cpp %d", pos, got, c.Argmax[r])
						}
					}
					t.Logf("max |Δlogit| %.3g over %d positions", worst, len(c.Positions))
					if worst > 2e-5 {
						t.Errorf("max |Δlogit| = %.3g, want ≤ 2e-5", worst)
					}
				})
			}
		})
	}
}

// TestFixtureGreedy holds 16-token greedy continuations, one token per forward with the
// KV cache, to llama.cpp's exactly.
func TestFixtureGreedy(t *testing.T) {
	for _, name := range fixtures.Models {
		t.Run(name, func(t *testing.T) {
			dir := fixtures.Dir(t, name)
			m, err := model.Load(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			e, err := model.NewCPU(m, model.CPUOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range fixtures.Cases(t, dir) {
				got, err := model.Generate(context.Background(), e, c.InputIDs, model.Greedy(), c.Greedy.N, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, c.Greedy.IDs) {
					t.Errorf("%s: greedy %v, llama.cpp %v", c.Name, got, c.Greedy.IDs)
				}
			}
		})
	}
}
