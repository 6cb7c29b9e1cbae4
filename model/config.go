package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
)

// Config is the architecture of a Llama-family checkpoint, read from its Hugging Face
// config.json. Llama 2/3.x, SmolLM2, Mistral and Qwen2/2.5 share one block; what differs
// between them is here: GQA, head size, RoPE base and scaling, qkv bias, tied embeddings.
type Config struct {
	Architecture  string       // "LlamaForCausalLM", "MistralForCausalLM" or "Qwen2ForCausalLM"
	VocabSize     int          // V
	Dim           int          // D, hidden_size
	NLayers       int          // num_hidden_layers
	NHeads        int          // H, num_attention_heads
	NKVHeads      int          // Hkv, num_key_value_heads (H when absent)
	HeadDim       int          // Dh, head_dim (D/H when absent)
	FFN           int          // F, intermediate_size
	RopeTheta     float64      // rope_theta (10000 when absent)
	RopeScaling   *RopeScaling // nil: none
	RMSNormEps    float64      // rms_norm_eps
	QKVBias       bool         // q, k, v projections carry a bias (Qwen2; Llama attention_bias)
	OBias         bool         // o projection carries a bias (Llama attention_bias)
	TieEmbeddings bool         // lm_head shares the embedding matrix
	MaxPositions  int          // max_position_embeddings
	SlidingWindow int          // attention sees at most this many positions back; 0: unlimited
	BOS           int          // bos_token_id, -1 when absent
	EOS           []int        // eos_token_id (one or a list)
	DType         string       // torch_dtype, informative: "bfloat16", "float16", "float32"
}

// RopeScaling is config.json's rope_scaling: how RoPE frequencies are stretched for
// contexts longer than the model was trained on.
type RopeScaling struct {
	Type                 string  // "llama3" or "linear"
	Factor               float64 // factor
	LowFreqFactor        float64 // llama3: low_freq_factor
	HighFreqFactor       float64 // llama3: high_freq_factor
	OriginalMaxPositions int     // llama3: original_max_position_embeddings
}

// ErrUnsupported marks a checkpoint that uses something this package does not implement.
var ErrUnsupported = errors.New("model: unsupported")

// rawConfig mirrors the config.json fields we read; pointers tell absent from zero.
type rawConfig struct {
	Architectures     []string        `json:"architectures"`
	ModelType         string          `json:"model_type"`
	VocabSize         *int            `json:"vocab_size"`
	HiddenSize        *int            `json:"hidden_size"`
	NumHiddenLayers   *int            `json:"num_hidden_layers"`
	NumAttentionHeads *int            `json:"num_attention_heads"`
	NumKeyValueHeads  *int            `json:"num_key_value_heads"`
	HeadDim           *int            `json:"head_dim"`
	IntermediateSize  *int            `json:"intermediate_size"`
	RopeTheta         *float64        `json:"rope_theta"`
	RopeScaling       json.RawMessage `json:"rope_scaling"`
	RMSNormEps        *float64        `json:"rms_norm_eps"`
	AttentionBias     bool            `json:"attention_bias"`
	MLPBias           bool            `json:"mlp_bias"`
	HiddenAct         string          `json:"hidden_act"`
	TieWordEmbeddings *bool           `json:"tie_word_embeddings"`
	MaxPositions      *int            `json:"max_position_embeddings"`
	SlidingWindow     *int            `json:"sliding_window"`
	UseSlidingWindow  *bool           `json:"use_sliding_window"`
	BOSTokenID        *int            `json:"bos_token_id"`
	EOSTokenID        json.RawMessage `json:"eos_token_id"`
	TorchDType        string          `json:"torch_dtype"`
	PretrainingTP     int             `json:"pretraining_tp"`
}

// ParseConfig reads a Hugging Face config.json. An unknown architecture, a missing
// required field or an unsupported option is an error naming it.
func ParseConfig(data []byte) (*Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		if t, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, fmt.Errorf("config.json: field %s is a JSON %s, want %s", t.Field, t.Value, jsonKind(t.Type))
		}
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if len(r.Architectures) == 0 {
		return nil, errors.New("config.json: field architectures is missing (want e.g. [\"LlamaForCausalLM\"])")
	}
	c := &Config{Architecture: r.Architectures[0], BOS: -1, DType: r.TorchDType}
	switch c.Architecture {
	case "LlamaForCausalLM", "MistralForCausalLM":
		c.QKVBias, c.OBias = r.AttentionBias, r.AttentionBias
	case "Qwen2ForCausalLM":
		c.QKVBias = true
	default:
		return nil, fmt.Errorf("config.json: architecture %q: %w (want LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM)", c.Architecture, ErrUnsupported)
	}
	// The upper bounds are far beyond any released model of these architectures (the
	// largest: 126 layers, hidden 16,384, vocabulary 152,064, a million positions); a
	// value past one is a damaged or hostile config.json, refused before anything loops
	// over the layers or allocates by it.
	required := []struct {
		name string
		src  *int
		dst  *int
		max  int
	}{
		{"vocab_size", r.VocabSize, &c.VocabSize, 1 << 22},
		{"hidden_size", r.HiddenSize, &c.Dim, 1 << 17},
		{"num_hidden_layers", r.NumHiddenLayers, &c.NLayers, 1 << 10},
		{"num_attention_heads", r.NumAttentionHeads, &c.NHeads, 1 << 10},
		{"intermediate_size", r.IntermediateSize, &c.FFN, 1 << 20},
		{"max_position_embeddings", r.MaxPositions, &c.MaxPositions, 1 << 24},
	}
	for _, f := range required {
		if f.src == nil {
			return nil, fmt.Errorf("config.json: field %s is missing", f.name)
		}
		if *f.src <= 0 || *f.src > f.max {
			return nil, fmt.Errorf("config.json: field %s is %d, want 1…%d", f.name, *f.src, f.max)
		}
		*f.dst = *f.src
	}
	if r.RMSNormEps == nil {
		return nil, errors.New("config.json: field rms_norm_eps is missing")
	}
	c.RMSNormEps = *r.RMSNormEps
	c.NKVHeads = c.NHeads
	if r.NumKeyValueHeads != nil {
		c.NKVHeads = *r.NumKeyValueHeads
	}
	if c.NKVHeads <= 0 || c.NHeads%c.NKVHeads != 0 {
		return nil, fmt.Errorf("config.json: num_key_value_heads %d must divide num_attention_heads %d", c.NKVHeads, c.NHeads)
	}
	c.HeadDim = c.Dim / c.NHeads
	if r.HeadDim != nil {
		c.HeadDim = *r.HeadDim
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim > 1<<12 {
		return nil, fmt.Errorf("config.json: head_dim %d must be even, > 0 and at most %d", c.HeadDim, 1<<12)
	}
	c.RopeTheta = 10000
	if r.RopeTheta != nil {
		c.RopeTheta = *r.RopeTheta
	}
	if r.HiddenAct != "" && r.HiddenAct != "silu" {
		return nil, fmt.Errorf("config.json: hidden_act %q: %w (want silu)", r.HiddenAct, ErrUnsupported)
	}
	if r.MLPBias {
		return nil, fmt.Errorf("config.json: mlp_bias true: %w", ErrUnsupported)
	}
	if r.PretrainingTP > 1 {
		return nil, fmt.Errorf("config.json: pretraining_tp %d: %w (want 1)", r.PretrainingTP, ErrUnsupported)
	}
	if r.TieWordEmbeddings != nil {
		c.TieEmbeddings = *r.TieWordEmbeddings
	}
	if r.SlidingWindow != nil && *r.SlidingWindow > 0 {
		// Qwen2 names a window but only applies it when use_sliding_window is true.
		if c.Architecture != "Qwen2ForCausalLM" || (r.UseSlidingWindow != nil && *r.UseSlidingWindow) {
			c.SlidingWindow = *r.SlidingWindow
		}
	}
	if r.BOSTokenID != nil {
		c.BOS = *r.BOSTokenID
	}
	eos, err := parseIDs(r.EOSTokenID)
	if err != nil {
		return nil, fmt.Errorf("config.json: field eos_token_id: %w", err)
	}
	c.EOS = eos
	if c.RopeScaling, err = parseRopeScaling(r.RopeScaling); err != nil {
		return nil, err
	}
	return c, nil
}

// parseIDs reads a token id given as a number, a list of numbers, or null.
func parseIDs(raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%s is neither a token id nor a list of ids", raw)
	}
	return many, nil
}

func parseRopeScaling(raw json.RawMessage) (*RopeScaling, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var r struct {
		RopeType             string   `json:"rope_type"`
		Type                 string   `json:"type"`
		Factor               *float64 `json:"factor"`
		LowFreqFactor        *float64 `json:"low_freq_factor"`
		HighFreqFactor       *float64 `json:"high_freq_factor"`
		OriginalMaxPositions *int     `json:"original_max_position_embeddings"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("config.json: field rope_scaling: %w", err)
	}
	kind := r.RopeType
	if kind == "" {
		kind = r.Type
	}
	s := &RopeScaling{Type: kind}
	switch kind {
	case "default", "":
		return nil, nil
	case "linear", "llama3":
	default:
		return nil, fmt.Errorf("config.json: rope_scaling type %q: %w (want none, linear or llama3)", kind, ErrUnsupported)
	}
	if r.Factor == nil || *r.Factor <= 0 {
		return nil, fmt.Errorf("config.json: rope_scaling.factor is missing or not > 0")
	}
	s.Factor = *r.Factor
	if kind == "llama3" {
		switch {
		case r.LowFreqFactor == nil:
			return nil, errors.New("config.json: rope_scaling.low_freq_factor is missing (llama3)")
		case r.HighFreqFactor == nil:
			return nil, errors.New("config.json: rope_scaling.high_freq_factor is missing (llama3)")
		case r.OriginalMaxPositions == nil:
			return nil, errors.New("config.json: rope_scaling.original_max_position_embeddings is missing (llama3)")
		case *r.HighFreqFactor == *r.LowFreqFactor:
			return nil, errors.New("config.json: rope_scaling high_freq_factor equals low_freq_factor (llama3)")
		}
		s.LowFreqFactor, s.HighFreqFactor = *r.LowFreqFactor, *r.HighFreqFactor
		s.OriginalMaxPositions = *r.OriginalMaxPositions
	}
	return s, nil
}

// InvFreq returns the RoPE inverse frequencies [Dh/2] after scaling, in float64 as
// Hugging Face's _compute_default/_llama3_parameters compute them.
func (c *Config) InvFreq() []float64 {
	half := c.HeadDim / 2
	f := make([]float64, half)
	for i := range f {
		f[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.HeadDim))
	}
	s := c.RopeScaling
	if s == nil {
		return f
	}
	switch s.Type {
	case "linear":
		for i := range f {
			f[i] /= s.Factor
		}
	case "llama3":
		old := float64(s.OriginalMaxPositions)
		lowWavelen := old / s.LowFreqFactor
		highWavelen := old / s.HighFreqFactor
		for i, inv := range f {
			wavelen := 2 * math.Pi / inv
			switch {
			case wavelen < highWavelen: // high frequency: unchanged
			case wavelen > lowWavelen: // low frequency: stretched
				f[i] = inv / s.Factor
			default: // in between: interpolate
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				f[i] = (1-smooth)*inv/s.Factor + smooth*inv
			}
		}
	}
	return f
}

// Params is the number of weights of the model.
func (c *Config) Params() int64 {
	d, f, v := int64(c.Dim), int64(c.FFN), int64(c.VocabSize)
	q := int64(c.NHeads * c.HeadDim)
	kv := int64(c.NKVHeads * c.HeadDim)
	layer := 2*d + d*q + 2*d*kv + q*d + 3*d*f
	if c.QKVBias {
		layer += q + 2*kv
	}
	if c.OBias {
		layer += d
	}
	n := v*d + int64(c.NLayers)*layer + d
	if !c.TieEmbeddings {
		n += v * d
	}
	return n
}

// jsonKind names the JSON value a config field of Go type t takes, for errors.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}
