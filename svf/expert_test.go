package svf

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/svf/internal/strsweep"
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

// expertNameRE is the expression isExpertName replaces, kept here as its specification.
var expertNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func TestIsExpertName(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{
		{"", false},
		{"math", true},
		{"m", true},
		{"0", true},
		{"math-v2.1_b", true},
		{"_math", false},
		{".hidden", false},
		{"-x", false},
		{"a/b", false},
		{"a b", false},
		{"math\n", false},
		{"\nmath", false},
		{"mäth", false},
		{"é", false},
		{"a−b", false},
		{"a\x00", false},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"a" + strings.Repeat("-", 63), true},
		{"a" + strings.Repeat("-", 64), false},
	} {
		if got := isExpertName(c.name); got != c.want || got != expertNameRE.MatchString(c.name) {
			t.Errorf("isExpertName(%q) = %v, want %v (the expression says %v)", c.name, got, c.want, expertNameRE.MatchString(c.name))
		}
	}
}

// TestIsExpertNameSweep holds isExpertName to the expression on every string of up to
// four characters from a small alphabet (each class of the expression, its neighbours
// and multi-byte runes), then on random strings around the 64-byte limit.
func TestIsExpertNameSweep(t *testing.T) {
	alphabet := []string{"a", "Z", "0", "9", "_", ".", "-", " ", "\n", "/", "\x00", "é", "−"}
	check := func(s string) {
		if got, want := isExpertName(s), expertNameRE.MatchString(s); got != want {
			t.Fatalf("isExpertName(%q) = %v, the expression says %v", s, got, want)
		}
	}
	for s := range strsweep.All(alphabet, 4) {
		check(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var sb strings.Builder
		n := 60 + rng.IntN(8)
		for range n {
			if rng.IntN(n) == 0 {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				sb.WriteString(alphabet[rng.IntN(7)]) // a character the expression takes
			}
		}
		check(sb.String())
	}
}
