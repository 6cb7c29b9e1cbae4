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

// cmdRandomModel writes a random-weight checkpoint folder for a config.json.
func cmdRandomModel(args []string, stdout, stderr io.Writer) error {
	fs := flags("random-model", "--config FILE --out DIR [--seed S]", stderr)
	cfgPath := fs.String("config", "", "Hugging Face config.json `file` (LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM)")
	out := fs.String("out", "", "output `folder`")
	seed := fs.Uint64("seed", 1, "random `seed`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	data, err := os.ReadFile(*cfgPath)
	if err != nil {
		return err
	}
	if err := writeRandomModel(data, *seed, *out); err != nil {
		return fmt.Errorf("%s: %w", *cfgPath, err)
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
