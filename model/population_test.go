package model

import (
	"strings"
	"testing"
)

// TestPopulationBatchErrors: a batch whose rows name candidates is refused, with what
// is wrong, when the engine holds no population, a candidate is out of range, or only
// some rows name one; a population batch of a model without adapted matrices runs.
func TestPopulationBatchErrors(t *testing.T) {
	e := tinyEngine(t, tinyConfig, 2)
	var b Batch
	b.AddCand(5, 0, 0, 0, true)
	if err := e.Forward(&b); err == nil || !strings.Contains(err.Error(), "no population") {
		t.Errorf("candidates without a population: %v", err)
	}
	if err := e.SetPopulation([]map[string][]float32{nil, nil}); err != nil {
		t.Fatal(err)
	}
	if err := e.SetPopulation([]map[string][]float32{{"model.layers.0.mlp.up_proj": make([]float32, 3)}}); err == nil ||
		!strings.Contains(err.Error(), "not adapted") {
		t.Errorf("z for a dense matrix: %v", err)
	}
	b.AddCand(6, 1, 0, 2, true)
	if err := e.Forward(&b); err == nil || !strings.Contains(err.Error(), "candidate 2 outside the population [0, 2)") {
		t.Errorf("candidate out of range: %v", err)
	}
	b.Reset()
	b.AddCand(5, 0, 0, 1, true)
	b.Add(6, 0, 1, true)
	if err := e.Forward(&b); err == nil || !strings.Contains(err.Error(), "either every row names a candidate") {
		t.Errorf("rows with and without candidates: %v", err)
	}
	b.Reset()
	b.AddCand(5, 0, 0, 1, true)
	b.AddCand(6, 0, 1, 0, true)
	if err := e.Forward(&b); err != nil {
		t.Errorf("population batch without adapted matrices: %v", err)
	}
	if err := e.SetPopulation(nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Forward(&b); err == nil {
		t.Errorf("population batch after SetPopulation(nil) ran")
	}
}
