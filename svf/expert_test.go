package svf

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/safetensors"
)

// TestExpertFileMixture: a mixture's experts and α survive the expert file (so a saved or
// downloaded mixture still says what it is made of), an expert without them reads back
// without, and a file whose α does not match its experts is refused by name.
func TestExpertFileMixture(t *testing.T) {
	score := 0.5
	z := map[string][]float32{"model.layers.0.mlp.up_proj": {0.5, 1.5}}
	for _, x := range []*Expert{
		{Name: "task", Z: z, Score: &score, MixOf: []string{"math", "code"}, Alpha: [][]float64{{0.25}, {1}}},
		{Name: "per-layer", Z: z, MixOf: []string{"math"}, Alpha: [][]float64{{0.1, 0.2, 0.3}}},
		{Name: "plain", Domain: "math", Z: z},
	} {
		data, err := x.Encode()
		if err != nil {
			t.Fatal(err)
		}
		y, err := DecodeExpert(data, x.Name+".safetensors")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s: read back %+v, wrote %+v", x.Name, y, x)
		}
	}
	if _, err := (&Expert{Name: "bad", Z: z, MixOf: []string{"a", "b"}, Alpha: [][]float64{{1}}}).Encode(); err == nil {
		t.Errorf("a mixture of 2 experts with 1 α was written")
	}
	for _, alpha := range []string{"[[1]]", "not json"} {
		var buf bytes.Buffer
		meta := map[string]string{"format": "t2web-expert", "name": "x", "mix_of": "a,b", "alpha": alpha}
		ts := []safetensors.Tensor{safetensors.Float32Tensor("model.layers.0.mlp.up_proj", []float32{1, 1}, []int{2})}
		if err := safetensors.Write(&buf, ts, meta); err != nil {
			t.Fatal(err)
		}
		_, err := DecodeExpert(buf.Bytes(), "x.safetensors")
		if err == nil || !strings.Contains(err.Error(), "x.safetensors: metadata alpha") {
			t.Errorf("alpha %q for mix_of a,b: %v", alpha, err)
		}
	}
}
