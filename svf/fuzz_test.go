package svf_test

import (
	"reflect"
	"testing"

	"github.com/t2web/t2web/svf"
)

// FuzzDecodeExpert feeds DecodeExpert hostile expert files: an error, never a panic, and
// an expert it reads that Encode writes again reads back the same.
func FuzzDecodeExpert(f *testing.F) {
	score := 0.5
	z := map[string][]float32{"model.layers.0.mlp.up_proj": {0.5, 1.5}, "model.layers.1.mlp.down_proj": {1}}
	for _, x := range []*svf.Expert{
		{Name: "task", Z: z, Score: &score, MixOf: []string{"math", "code"}, Alpha: [][]float64{{0.25}, {1}}},
		{Name: "plain", Domain: "math", Description: "d", Trained: "t", Z: z},
	} {
		data, err := x.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := svf.DecodeExpert(data, "fuzz.safetensors")
		if (x == nil) == (err == nil) {
			t.Fatalf("DecodeExpert = %v, %v: want exactly one of an expert and an error", x, err)
		}
		if x == nil {
			return
		}
		again, err := x.Encode()
		if err != nil {
			return // e.g. a name Encode refuses
		}
		y, err := svf.DecodeExpert(again, "again.safetensors")
		if err != nil {
			t.Fatalf("an expert written again does not read back: %v", err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("read back %+v, wrote %+v", y, x)
		}
	})
}
