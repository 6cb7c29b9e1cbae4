package safetensors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/fixtures"
)

// TestFixtures opens the two real checkpoints of the oracle fixtures, made by PyTorch's
// safetensors writer, and checks their layout against config.json and a few values
// against ones computed independently (Python's struct module, float64 sums in file
// order). The F16 embedding holds over twenty thousand subnormals, so its sum checks
// the subnormal path of F16ToFloat32.
func TestFixtures(t *testing.T) {
	dir := fixtures.Root(t)
	for _, tc := range []struct {
		model   string
		tensors int
		dtypes  []DType // every tensor has one of these
		embed   DType
		// A tensor's first values and the float64 sum, in file order, of the embedding.
		probe      string
		probeFirst []float32
		embedSum   float64
	}{
		{
			model: "llama-tiny", tensors: 21, dtypes: []DType{BF16}, embed: BF16,
			probe: "model.layers.0.self_attn.q_proj.weight", probeFirst: []float32{-0.04052734375, 0.0206298828125, 0.005523681640625},
			embedSum: -82.71653875230913,
		},
		{
			// The fixtures README says norms and biases are F32; the file as shipped
			// has them in F16 too, so both are accepted.
			model: "qwen2-tiny", tensors: 26, dtypes: []DType{F16, F32}, embed: F16,
			probe: "model.layers.0.self_attn.q_proj.bias", probeFirst: []float32{-0.032958984375, 0.1802978515625, 0.0221099853515625},
			embedSum: 7.939900517463684,
		},
	} {
		t.Run(tc.model, func(t *testing.T) {
			var config struct {
				VocabSize        int `json:"vocab_size"`
				HiddenSize       int `json:"hidden_size"`
				IntermediateSize int `json:"intermediate_size"`
				NumLayers        int `json:"num_hidden_layers"`
			}
			b, err := os.ReadFile(filepath.Join(dir, tc.model, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &config); err != nil {
				t.Fatal(err)
			}

			// Through os.File directly, and through the checkpoint folder.
			osf, err := os.Open(filepath.Join(dir, tc.model, SingleFile))
			if err != nil {
				t.Fatal(err)
			}
			defer osf.Close()
			st, err := osf.Stat()
			if err != nil {
				t.Fatal(err)
			}
			f, err := Open(osf, st.Size(), osf.Name())
			if err != nil {
				t.Fatal(err)
			}
			c, err := OpenCheckpoint(os.DirFS(filepath.Join(dir, tc.model)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			tensors := f.Tensors()
			if len(tensors) != tc.tensors || len(c.Tensors()) != tc.tensors {
				t.Errorf("%d tensors (checkpoint: %d), want %d", len(tensors), len(c.Tensors()), tc.tensors)
			}
			if f.Metadata()["format"] != "pt" {
				t.Errorf("metadata %v, want format pt", f.Metadata())
			}
			var end int64
			for _, info := range tensors {
				if !slices.Contains(tc.dtypes, info.DType) {
					t.Errorf("%s: dtype %s, want one of %v", info.Name, info.DType, tc.dtypes)
				}
				if info.Begin != end {
					t.Errorf("%s starts at %d, want %d (PyTorch writes no gaps)", info.Name, info.Begin, end)
				}
				end = info.End
				if strings.HasSuffix(info.Name, "layernorm.weight") || info.Name == "model.norm.weight" {
					if !slices.Equal(info.Shape, []int{config.HiddenSize}) {
						t.Errorf("%s: shape %v, want [%d]", info.Name, info.Shape, config.HiddenSize)
					}
				}
				if strings.HasSuffix(info.Name, "mlp.gate_proj.weight") && !slices.Equal(info.Shape, []int{config.IntermediateSize, config.HiddenSize}) {
					t.Errorf("%s: shape %v, want [%d %d]", info.Name, info.Shape, config.IntermediateSize, config.HiddenSize)
				}
			}
			if want := st.Size() - f.dataAt; end != want {
				t.Errorf("tensors end at %d, data section is %d bytes", end, want)
			}
			for i := range config.NumLayers {
				if _, ok := c.Info(fmt.Sprintf("model.layers.%d.self_attn.o_proj.weight", i)); !ok {
					t.Errorf("layer %d has no o_proj", i)
				}
			}

			embed, ok := c.Info("model.embed_tokens.weight")
			if !ok {
				t.Fatal("no model.embed_tokens.weight")
			}
			if embed.DType != tc.embed || !slices.Equal(embed.Shape, []int{config.VocabSize, config.HiddenSize}) {
				t.Errorf("embed_tokens: %s %v, want %s [%d %d]", embed.DType, embed.Shape, tc.embed, config.VocabSize, config.HiddenSize)
			}
			x, err := c.Float32(embed.Name)
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, v := range x {
				sum += float64(v)
			}
			if sum != tc.embedSum {
				t.Errorf("embed_tokens sums to %.17g, want %.17g", sum, tc.embedSum)
			}
			p, err := f.Float32(tc.probe)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p[:len(tc.probeFirst)], tc.probeFirst) {
				t.Errorf("%s starts %v, want %v", tc.probe, p[:len(tc.probeFirst)], tc.probeFirst)
			}
		})
	}
}
