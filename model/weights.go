package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model/safetensors"
)

// Weights holds every weight of the model, in Hugging Face's layout.
type Weights struct {
	Embed  []float32 // [V, D] model.embed_tokens.weight
	Layers []Layer   // [NLayers]
	Norm   []float32 // [D] model.norm.weight
	LMHead []float32 // [V, D] lm_head.weight; the same slice as Embed when tied
	// EmbedQ8 and LMHeadQ8, when not nil, hold the embedding and lm_head in int8 for the
	// CPU engine's int8 path (a pack that stores them so); Embed and LMHead are nil then.
	EmbedQ8, LMHeadQ8 *Q8 // [V, D]
	// Linears names every matrix of the layers by its Hugging Face name without
	// ".weight", e.g. "model.layers.0.mlp.up_proj".
	Linears map[string]Linear
}

// Layer is one transformer block.
type Layer struct {
	AttnNorm []float32 // [D] input_layernorm.weight
	Q        Linear    // [H*Dh, D] self_attn.q_proj, with a bias in Qwen2
	K        Linear    // [Hkv*Dh, D] self_attn.k_proj
	V        Linear    // [Hkv*Dh, D] self_attn.v_proj
	O        Linear    // [D, H*Dh] self_attn.o_proj
	MLPNorm  []float32 // [D] post_attention_layernorm.weight
	Gate     Linear    // [F, D] mlp.gate_proj
	Up       Linear    // [F, D] mlp.up_proj
	Down     Linear    // [D, F] mlp.down_proj
}

// MatrixNames lists the matrices of layer i, as Weights.Linears names them, with the
// Layer field each fills: q, k, v, o, gate, up, down.
func MatrixNames(layer int) []string {
	p := fmt.Sprintf("model.layers.%d.", layer)
	return []string{p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj", p + "self_attn.o_proj",
		p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj"}
}

// fields returns the Linear slots of l in MatrixNames order.
func (l *Layer) fields() []*Linear {
	return []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down}
}

// MatrixDims returns (out, in) of each matrix of a layer in MatrixNames order.
func (c *Config) MatrixDims() [][2]int {
	d, f := c.Dim, c.FFN
	q, kv := c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim
	return [][2]int{{q, d}, {kv, d}, {kv, d}, {d, q}, {f, d}, {f, d}, {d, f}}
}

// MatrixShapes maps every layer matrix of the model (MatrixNames) to its (out, in).
func (c *Config) MatrixShapes() map[string][2]int {
	dims := map[string][2]int{}
	shapes := c.MatrixDims()
	for l := range c.NLayers {
		for j, name := range MatrixNames(l) {
			dims[name] = shapes[j]
		}
	}
	return dims
}

// TensorSpec names one weight of a checkpoint, its shape, and the field of a Weights
// that holds it.
type TensorSpec struct {
	Name  string
	Shape []int
	Data  *[]float32
}

// Bind lists every tensor the config needs, in Hugging Face names, each bound to the
// slice of w that holds it. A Weights without layers gets them, its matrices Dense; one
// that has them keeps them, so Bind also walks loaded weights (to write them). Loading,
// random checkpoints, packs and training all walk this one list. With tied embeddings
// there is no lm_head.weight: LMHead is Embed.
func (c *Config) Bind(w *Weights) []TensorSpec {
	d, v := c.Dim, c.VocabSize
	fresh := len(w.Layers) != c.NLayers || w.Linears == nil
	if fresh {
		w.Layers = make([]Layer, c.NLayers)
		w.Linears = map[string]Linear{}
	}
	s := []TensorSpec{{"model.embed_tokens.weight", []int{v, d}, &w.Embed}}
	dims := c.MatrixDims()
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		s = append(s, TensorSpec{p + "input_layernorm.weight", []int{d}, &l.AttnNorm})
		for j, name := range MatrixNames(i) {
			m, ok := w.Linears[name].(*Dense)
			if fresh {
				m = &Dense{Out: dims[j][0], In: dims[j][1]}
				*l.fields()[j] = m
				w.Linears[name] = m
			} else if !ok {
				panic(fmt.Sprintf("model: Bind: matrix %s is a %T, not a Dense", name, w.Linears[name]))
			}
			s = append(s, TensorSpec{name + ".weight", []int{m.Out, m.In}, &m.W})
			if (j < 3 && c.QKVBias) || (j == 3 && c.OBias) {
				s = append(s, TensorSpec{name + ".bias", []int{m.Out}, &m.B})
			}
			if j == 3 {
				s = append(s, TensorSpec{p + "post_attention_layernorm.weight", []int{d}, &l.MLPNorm})
			}
		}
	}
	s = append(s, TensorSpec{"model.norm.weight", []int{d}, &w.Norm})
	if !c.TieEmbeddings {
		s = append(s, TensorSpec{"lm_head.weight", []int{v, d}, &w.LMHead})
	}
	return s
}

// LoadWeights reads every tensor the config needs from a checkpoint, converting to
// float32. A missing tensor or a shape that differs from the config is an error naming it.
func LoadWeights(c *Config, ck *safetensors.Checkpoint) (*Weights, error) {
	w := &Weights{}
	for _, s := range c.Bind(w) {
		info, ok := ck.Info(s.Name)
		if !ok {
			return nil, fmt.Errorf("checkpoint: tensor %s is missing (config.json %s needs it)", s.Name, c.Architecture)
		}
		if !slices.Equal(info.Shape, s.Shape) {
			return nil, fmt.Errorf("checkpoint: tensor %s has shape %v, config.json implies %v", s.Name, info.Shape, s.Shape)
		}
		x, err := ck.Float32(s.Name)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		// One NaN or infinity makes every later activation NaN: the model would answer
		// nothing, silently. Refuse it here, naming where.
		if i := slices.IndexFunc(x, func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }); i >= 0 {
			return nil, fmt.Errorf("checkpoint: tensor %s: entry %s is %v: the weights are damaged", s.Name, unravel(i, s.Shape), x[i])
		}
		*s.Data = x
	}
	if c.TieEmbeddings {
		w.LMHead = w.Embed
	}
	return w, nil
}

// RandomWeights draws weights for c from N(0, 0.02²), with norms 1 and biases 0, the same
// for the same seed. They serve tests, benchmarks and the site's placeholder model.
func RandomWeights(c *Config, seed uint64) *Weights {
	rng := rand.New(rand.NewPCG(seed, 0x72616e646f6d))
	w := &Weights{}
	for _, s := range c.Bind(w) {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		x := make([]float32, n)
		switch {
		case len(s.Shape) == 2:
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 0.02)
			}
		case strings.HasSuffix(s.Name, "norm.weight"):
			for i := range x {
				x[i] = 1
			}
		}
		*s.Data = x
	}
	if c.TieEmbeddings {
		w.LMHead = w.Embed
	}
	return w
}

// Clone returns a copy of w that shares the tensors but not the structure: replacing a
// matrix of the copy (Replace) leaves w as it is.
func (w *Weights) Clone() *Weights {
	c := *w
	c.Layers = slices.Clone(w.Layers)
	c.Linears = make(map[string]Linear, len(w.Linears))
	for name, l := range w.Linears {
		c.Linears[name] = l
	}
	return &c
}

// unravel writes a flat index into a row-major tensor of shape as its coordinates,
// "[row,col]".
func unravel(i int, shape []int) string {
	at := make([]string, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		at[d], i = strconv.Itoa(i%shape[d]), i/shape[d]
	}
	return "[" + strings.Join(at, ",") + "]"
}
