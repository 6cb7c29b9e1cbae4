package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
)

// defaultModelConfig is the config of the random-weight model the site ships until a
// trained pack exists: Llama, byte-level vocabulary, 2 layers of width 64.
//
//go:embed default-model.json
var defaultModelConfig []byte

// randomPresets are config.json files with the shapes of real checkpoints, for
// measuring conversion and inference at real sizes without downloading weights. Their
// vocabularies keep the real size (the embedding is a large tensor of its own); the
// byte-level tokenizer uses the first 259 ids, and eos_token_id points there.
var randomPresets = map[string]string{
	// meta-llama/Llama-3.2-1B: 16 layers, hidden 2048, MLP 8192, GQA 32/8, tied embeddings.
	"llama-3.2-1b": `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
  "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
  "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05,
  "rope_theta": 500000.0, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
  "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "hidden_act": "silu",
  "tie_word_embeddings": true, "bos_token_id": null, "eos_token_id": [256, 258], "torch_dtype": "bfloat16"}`,
	// Qwen/Qwen2.5-0.5B: 24 layers, hidden 896, MLP 4864, GQA 14/2, q/k/v biases, tied.
	"qwen2.5-0.5b": `{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
  "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
  "num_key_value_heads": 2, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "use_sliding_window": false, "hidden_act": "silu", "tie_word_embeddings": true,
  "bos_token_id": null, "eos_token_id": [256, 258], "torch_dtype": "bfloat16"}`,
	// HuggingFaceTB/SmolLM2-360M: 32 layers, hidden 960, MLP 2560, GQA 15/5, tied.
	"smollm2-360m": `{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
  "hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 15,
  "num_key_value_heads": 5, "head_dim": 64, "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
  "rope_theta": 100000, "hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": null,
  "eos_token_id": [256, 258], "torch_dtype": "bfloat16"}`,
}

// cmdRandomModel writes a random-weight checkpoint folder for a config.json.
func cmdRandomModel(args []string, stdout, stderr io.Writer) error {
	fs := flags("random-model", "(--config FILE | --preset NAME) --out DIR [--seed S]", stderr)
	cfgPath := fs.String("config", "", "Hugging Face config.json `file` (LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM)")
	preset := fs.String("preset", "", "a real model's shapes instead of --config: `name` llama-3.2-1b, qwen2.5-0.5b or smollm2-360m")
	out := fs.String("out", "", "output `folder`")
	seed := fs.Uint64("seed", 1, "random `seed`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*cfgPath == "") == (*preset == "") || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	var data []byte
	source := *cfgPath
	if *preset != "" {
		cfg, ok := randomPresets[*preset]
		if !ok {
			return fmt.Errorf("preset %q: want llama-3.2-1b, qwen2.5-0.5b or smollm2-360m", *preset)
		}
		data, source = []byte(cfg), "preset "+*preset
	} else {
		var err error
		if data, err = os.ReadFile(*cfgPath); err != nil {
			return err
		}
	}
	if err := writeRandomModel(data, *seed, *out); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// randomSpecials are the special tokens of the byte-level tokenizer written with random
// models, ids 256, 257, 258 after the bytes. A config whose vocab_size is larger gets
// padding rows the tokenizer never produces.
var randomSpecials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// writeRandomModel writes a complete Hugging Face checkpoint folder for configJSON to
// outDir: config.json (as given), model.safetensors with weights drawn from N(0, 0.02²)
// (norms 1, biases 0) in the config's torch_dtype, a byte-level tokenizer.json and a
// tokenizer_config.json with a ChatML chat template. The same seed writes the same bytes.
func writeRandomModel(configJSON []byte, seed uint64, outDir string) error {
	cfg, err := model.ParseConfig(configJSON)
	if err != nil {
		return err
	}
	if n := 256 + len(randomSpecials); cfg.VocabSize < n {
		return fmt.Errorf("vocab_size %d is below the %d tokens of the byte-level tokenizer", cfg.VocabSize, n)
	}
	dtype, err := dtypeOf(cfg.DType)
	if err != nil {
		return err
	}
	if err := model.WriteCheckpoint(outDir, configJSON, model.RandomWeights(cfg, seed), dtype); err != nil {
		return err
	}
	files := map[string][]byte{
		"tokenizer.json":        tokenizer.ByteLevelJSON(randomSpecials),
		"tokenizer_config.json": chatMLConfigJSON(),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func dtypeOf(torch string) (safetensors.DType, error) {
	switch torch {
	case "", "float32":
		return "F32", nil
	case "bfloat16":
		return "BF16", nil
	case "float16":
		return "F16", nil
	}
	return "", fmt.Errorf("torch_dtype %q: want float32, bfloat16 or float16", torch)
}

// chatMLTemplate is the ChatML chat template (as Qwen and SmolLM2 use).
const chatMLTemplate = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

func chatMLConfigJSON() []byte {
	data, err := json.MarshalIndent(map[string]any{
		"tokenizer_class": "PreTrainedTokenizerFast",
		"bos_token":       nil,
		"eos_token":       "<|im_end|>",
		"chat_template":   chatMLTemplate,
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return data
}
