package model

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fixtureCase is one case of cases.json in the oracle fixtures.
type fixtureCase struct {
	Name      string          `json:"name"`
	InputIDs  []int           `json:"input_ids"`
	File      string          `json:"logits_file"`
	Shape     []int           `json:"logits_shape"`
	Positions json.RawMessage `json:"logits_positions"`
	Columns   struct {
		Start, Step, Count int
	} `json:"logits_columns"`
	Argmax []int `json:"argmax_per_position"`
	Greedy struct {
		N   int   `json:"n_new"`
		IDs []int `json:"generated_ids"`
	} `json:"greedy"`
}

// fixtureModel returns the folder of an oracle fixture model, skipping the test when the
// fixtures are not installed.
func fixtureModel(t testing.TB, name string) string {
	t.Helper()
	root := os.Getenv("T2_FIXTURES")
	if root == "" {
		t.Skip("set T2_FIXTURES to the oracle fixtures folder (../shared/fixtures)")
	}
	return filepath.Join(root, name)
}

func readCases(t testing.TB, dir string) []fixtureCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Cases []fixtureCase }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(data)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return x
}

var fixtureModels = []string{"llama-tiny", "qwen2-tiny"}

// TestFixtureLogits holds the CPU engine to llama.cpp's float32 logits at every stored
// position (2e-5 absolute catches a missing llama3 RoPE scaling, 4.5e-5) and to its
// argmax per position.
func TestFixtureLogits(t *testing.T) {
	for _, name := range fixtureModels {
		t.Run(name, func(t *testing.T) {
			dir := fixtureModel(t, name)
			m, err := Load(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewCPU(m, CPUOptions{})
			if err != nil {
				t.Fatal(err)
			}
			V := m.Config.VocabSize
			for _, c := range readCases(t, dir) {
				t.Run(c.Name, func(t *testing.T) {
					positions := make([]int, len(c.InputIDs))
					for i := range positions {
						positions[i] = i
					}
					if string(c.Positions) != `"all"` {
						if err := json.Unmarshal(c.Positions, &positions); err != nil {
							t.Fatal(err)
						}
					}
					e.Clear(0)
					var b Batch
					for i, id := range c.InputIDs {
						b.Add(id, i, 0, slices.Contains(positions, i))
					}
					if err := e.Forward(&b); err != nil {
						t.Fatal(err)
					}
					want := readF32(t, filepath.Join(dir, c.File))
					cols := c.Columns.Count
					row := make([]float32, V)
					var worst float64
					for r, pos := range positions {
						if err := e.Logits(row, r); err != nil {
							t.Fatal(err)
						}
						for j := range cols {
							d := math.Abs(float64(row[c.Columns.Start+j*c.Columns.Step] - want[r*cols+j]))
							worst = max(worst, d)
						}
						if got := Argmax(row); got != c.Argmax[r] && string(c.Positions) == `"all"` {
							t.Errorf("position %d: argmax %d, llama.cpp %d", pos, got, c.Argmax[r])
						}
					}
					t.Logf("max |Δlogit| %.3g over %d positions", worst, len(positions))
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
	for _, name := range fixtureModels {
		t.Run(name, func(t *testing.T) {
			dir := fixtureModel(t, name)
			m, err := Load(os.DirFS(dir))
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewCPU(m, CPUOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range readCases(t, dir) {
				got, err := Generate(e, c.InputIDs, Greedy(), c.Greedy.N, nil, nil)
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
