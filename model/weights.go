package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/t2web/t2web/model/safetensors"
)

// Weights holds every weight of the model as float32, in Hugging Face's layout.
type Weights struct {
	Embed  []float32 // [V, D] model.embed_tokens.weight
	Layers []Layer   // [NLayers]
	Norm   []float32 // [D] model.norm.weight
	LMHead []float32 // [V, D] lm_head.weight; the same slice as Embed when tied
}

// Layer is one transformer block.
type Layer struct {
	AttnNorm []float32 // [D] input_layernorm.weight
	Wq       []float32 // [H*Dh, D] self_attn.q_proj.weight
	Wk       []float32 // [Hkv*Dh, D] self_attn.k_proj.weight
	Wv       []float32 // [Hkv*Dh, D] self_attn.v_proj.weight
	Wo       []float32 // [D, H*Dh] self_attn.o_proj.weight
	Bq       []float32 // [H*Dh] q bias, nil without
	Bk       []float32 // [Hkv*Dh] k bias, nil without
	Bv       []float32 // [Hkv*Dh] v bias, nil without
	Bo       []float32 // [D] o bias, nil without
	MLPNorm  []float32 // [D] post_attention_layernorm.weight
	Gate     []float32 // [F, D] mlp.gate_proj.weight
	Up       []float32 // [F, D] mlp.up_proj.weight
	Down     []float32 // [D, F] mlp.down_proj.weight
}

// TensorSpec names one weight of a checkpoint, its shape, and the field of a Weights
// that holds it.
type TensorSpec struct {
	Name  string
	Shape []int
	Data  *[]float32
}

// Bind lists every tensor the config needs, in Hugging Face names, each bound to its
// field in w (w.Layers is sized to the config). Loading, random checkpoints and packs all
// walk this one list. With tied embeddings there is no lm_head.weight: LMHead is Embed.
func (c *Config) Bind(w *Weights) []TensorSpec {
	d, f, v := c.Dim, c.FFN, c.VocabSize
	q, kv := c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim
	if len(w.Layers) != c.NLayers {
		w.Layers = make([]Layer, c.NLayers)
	}
	s := []TensorSpec{{"model.embed_tokens.weight", []int{v, d}, &w.Embed}}
	for i := range w.Layers {
		l := &w.Layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		s = append(s,
			TensorSpec{p + "input_layernorm.weight", []int{d}, &l.AttnNorm},
			TensorSpec{p + "self_attn.q_proj.weight", []int{q, d}, &l.Wq},
			TensorSpec{p + "self_attn.k_proj.weight", []int{kv, d}, &l.Wk},
			TensorSpec{p + "self_attn.v_proj.weight", []int{kv, d}, &l.Wv},
			TensorSpec{p + "self_attn.o_proj.weight", []int{d, q}, &l.Wo},
		)
		if c.QKVBias {
			s = append(s,
				TensorSpec{p + "self_attn.q_proj.bias", []int{q}, &l.Bq},
				TensorSpec{p + "self_attn.k_proj.bias", []int{kv}, &l.Bk},
				TensorSpec{p + "self_attn.v_proj.bias", []int{kv}, &l.Bv},
			)
		}
		if c.OBias {
			s = append(s, TensorSpec{p + "self_attn.o_proj.bias", []int{d}, &l.Bo})
		}
		s = append(s,
			TensorSpec{p + "post_attention_layernorm.weight", []int{d}, &l.MLPNorm},
			TensorSpec{p + "mlp.gate_proj.weight", []int{f, d}, &l.Gate},
			TensorSpec{p + "mlp.up_proj.weight", []int{f, d}, &l.Up},
			TensorSpec{p + "mlp.down_proj.weight", []int{d, f}, &l.Down},
		)
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
