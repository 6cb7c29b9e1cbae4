package model

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

const llamaConfig = `{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 64,
  "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 512,
  "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false,
  "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "bos_token_id": 128000, "eos_token_id": [128001, 128009]
}`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(llamaConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Architecture: "LlamaForCausalLM", VocabSize: 128256, Dim: 64, NLayers: 2, NHeads: 4,
		NKVHeads: 2, HeadDim: 16, FFN: 192, RopeTheta: 500000, RMSNormEps: 1e-5, MaxPositions: 512, BOS: 128000}
	got := *c
	got.RopeScaling, got.EOS = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if s := c.RopeScaling; s == nil || s.Type != "llama3" || s.Factor != 8 || s.OriginalMaxPositions != 8192 {
		t.Errorf("rope_scaling %+v", s)
	}
	if len(c.EOS) != 2 || c.EOS[1] != 128009 {
		t.Errorf("eos %v", c.EOS)
	}
}

func TestParseConfigFamilies(t *testing.T) {
	base := `"vocab_size": 100, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
	  "num_attention_heads": 4, "max_position_embeddings": 64, "rms_norm_eps": 1e-6`
	tests := []struct {
		name, json string
		check      func(*Config) bool
	}{
		{"qwen2 has qkv bias", `{"architectures": ["Qwen2ForCausalLM"], ` + base + `, "sliding_window": 32, "use_sliding_window": false}`,
			func(c *Config) bool { return c.QKVBias && !c.OBias && c.SlidingWindow == 0 }},
		{"llama attention_bias", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "attention_bias": true}`,
			func(c *Config) bool { return c.QKVBias && c.OBias }},
		{"mistral sliding window", `{"architectures": ["MistralForCausalLM"], ` + base + `, "sliding_window": 16}`,
			func(c *Config) bool { return c.SlidingWindow == 16 && !c.QKVBias }},
		{"defaults", `{"architectures": ["LlamaForCausalLM"], ` + base + `}`,
			func(c *Config) bool { return c.NKVHeads == 4 && c.HeadDim == 8 && c.RopeTheta == 10000 && c.BOS == -1 }},
		{"linear scaling", `{"architectures": ["LlamaForCausalLM"], ` + base + `, "rope_scaling": {"type": "linear", "factor": 2}}`,
			func(c *Config) bool { return c.RopeScaling.Type == "linear" && c.RopeScaling.Factor == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("%+v", c)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	full := map[string]string{
		"architectures": `["LlamaForCausalLM"]`, "vocab_size": "100", "hidden_size": "32",
		"intermediate_size": "64", "num_hidden_layers": "1", "num_attention_heads": "4",
		"max_position_embeddings": "64", "rms_norm_eps": "1e-6",
	}
	build := func(override map[string]string, drop string) string {
		var parts []string
		for k, v := range full {
			if k == drop {
				continue
			}
			if o, ok := override[k]; ok {
				v = o
			}
			parts = append(parts, `"`+k+`": `+v)
		}
		for k, v := range override {
			if _, ok := full[k]; !ok {
				parts = append(parts, `"`+k+`": `+v)
			}
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	tests := []struct {
		name     string
		json     string
		want     string
		sentinel error
	}{
		{"unknown architecture", build(map[string]string{"architectures": `["GPT2LMHeadModel"]`}, ""), `architecture "GPT2LMHeadModel"`, ErrUnsupported},
		{"no architectures", build(nil, "architectures"), "architectures is missing", nil},
		{"missing hidden_size", build(nil, "hidden_size"), "hidden_size is missing", nil},
		{"missing rms_norm_eps", build(nil, "rms_norm_eps"), "rms_norm_eps is missing", nil},
		{"missing max positions", build(nil, "max_position_embeddings"), "max_position_embeddings is missing", nil},
		{"zero layers", build(map[string]string{"num_hidden_layers": "0"}, ""), "num_hidden_layers is 0", nil},
		// Found by FuzzOpenPack: a pack.json claiming 10⁸ layers hung Open.
		{"absurd layers", build(map[string]string{"num_hidden_layers": "99999999"}, ""), "num_hidden_layers is 99999999, want 1…1024", nil},
		{"absurd vocabulary", build(map[string]string{"vocab_size": "2147483647"}, ""), "vocab_size is 2147483647", nil},
		{"absurd head_dim", build(map[string]string{"head_dim": "1000000"}, ""), "head_dim 1000000", nil},
		{"kv heads do not divide", build(map[string]string{"num_key_value_heads": "3"}, ""), "num_key_value_heads 3", nil},
		{"odd head_dim", build(map[string]string{"head_dim": "7"}, ""), "head_dim 7", nil},
		{"gelu", build(map[string]string{"hidden_act": `"gelu"`}, ""), `hidden_act "gelu"`, ErrUnsupported},
		{"yarn", build(map[string]string{"rope_scaling": `{"rope_type": "yarn", "factor": 4}`}, ""), `rope_scaling type "yarn"`, ErrUnsupported},
		{"llama3 without low_freq_factor", build(map[string]string{"rope_scaling": `{"rope_type": "llama3", "factor": 8, "high_freq_factor": 4, "original_max_position_embeddings": 8192}`}, ""), "low_freq_factor is missing", nil},
		{"bad eos", build(map[string]string{"eos_token_id": `"x"`}, ""), "eos_token_id", nil},
		{"not json", "{", "config.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil {
				t.Fatalf("no error for %s", tt.json)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "config.json") {
				t.Errorf("error %q does not name %q in config.json", err, tt.want)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %q does not wrap %v", err, tt.sentinel)
			}
		})
	}
}

// TestInvFreqLlama3 checks the three bands of llama3 scaling against values worked out
// from Hugging Face's _compute_llama3_parameters: high frequencies unchanged, low ones
// divided by the factor, the middle interpolated.
func TestInvFreqLlama3(t *testing.T) {
	c, err := ParseConfig([]byte(llamaConfig))
	if err != nil {
		t.Fatal(err)
	}
	plain := *c
	plain.RopeScaling = nil
	base, scaled := plain.InvFreq(), c.InvFreq()
	for i := range base {
		wavelen := 2 * math.Pi / base[i]
		var want float64
		switch {
		case wavelen < 8192.0/4:
			want = base[i]
		case wavelen > 8192.0/1:
			want = base[i] / 8
		default:
			smooth := (8192/wavelen - 1) / (4 - 1)
			want = (1-smooth)*base[i]/8 + smooth*base[i]
		}
		if math.Abs(scaled[i]-want) > 1e-15*want {
			t.Errorf("inv_freq[%d] = %g, want %g", i, scaled[i], want)
		}
	}
	// With head_dim 16 and theta 5e5 all three bands occur.
	if scaled[0] != base[0] || scaled[7] != base[7]/8 {
		t.Errorf("bands: first %g/%g, last %g/%g", scaled[0], base[0], scaled[7], base[7])
	}
}
