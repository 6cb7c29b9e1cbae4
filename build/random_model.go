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

// Token ids of the byte-level tokenizer written with random models: ids 0–255 are the
// bytes, then three special tokens. A config whose vocab_size is larger gets padding
// rows the tokenizer never produces.
const (
	tokEndOfText = 256 + iota // <|endoftext|>
	tokIMStart                // <|im_start|>
	tokIMEnd                  // <|im_end|>
	byteVocab
)

// writeRandomModel writes a complete Hugging Face checkpoint folder for configJSON to
// outDir: config.json (as given), model.safetensors with weights drawn from N(0, 0.02²)
// (norms 1, biases 0) in the config's torch_dtype, a byte-level tokenizer.json and a
// tokenizer_config.json with a ChatML chat template. The same seed writes the same bytes.
func writeRandomModel(configJSON []byte, seed uint64, outDir string) error {
	cfg, err := model.ParseConfig(configJSON)
	if err != nil {
		return err
	}
	if cfg.VocabSize < byteVocab {
		return fmt.Errorf("vocab_size %d is below the %d tokens of the byte-level tokenizer", cfg.VocabSize, byteVocab)
	}
	dtype, err := dtypeOf(cfg.DType)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	w := model.RandomWeights(cfg, seed)
	var tensors []safetensors.Tensor
	for _, s := range cfg.Bind(w) {
		tensors = append(tensors, safetensors.Tensor{Name: s.Name, DType: dtype, Shape: s.Shape, Data: encodeAs(*s.Data, dtype)})
	}
	f, err := os.Create(filepath.Join(outDir, "model.safetensors"))
	if err != nil {
		return err
	}
	if err := safetensors.Write(f, tensors, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	files := map[string][]byte{
		"config.json":           configJSON,
		"tokenizer.json":        byteTokenizerJSON(),
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

// encodeAs stores x little-endian in dtype.
func encodeAs(x []float32, dtype safetensors.DType) []byte {
	switch dtype {
	case "BF16", "F16":
		conv := safetensors.Float32ToBF16
		if dtype == "F16" {
			conv = safetensors.Float32ToF16
		}
		b := make([]byte, 2*len(x))
		for i, v := range x {
			u := conv(v)
			b[2*i], b[2*i+1] = byte(u), byte(u>>8)
		}
		return b
	}
	return safetensors.Float32Bytes(x)
}

// byteLevel maps bytes to the printable characters GPT-2's byte-level BPE uses for them.
func byteLevel() [256]string {
	var m [256]string
	next := 256
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = string(rune(b))
		} else {
			m[b] = string(rune(next))
			next++
		}
	}
	return m
}

// byteTokenizerJSON is a Hugging Face tokenizer.json of a byte-level BPE without merges:
// every byte is a token.
func byteTokenizerJSON() []byte {
	vocab := map[string]int{}
	for b, s := range byteLevel() {
		vocab[s] = b
	}
	added := []map[string]any{}
	for i, content := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		id := tokEndOfText + i
		vocab[content] = id
		added = append(added, map[string]any{"id": id, "content": content, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false, "special": true})
	}
	byteLevelCfg := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	tok := map[string]any{
		"version":        "1.0",
		"truncation":     nil,
		"padding":        nil,
		"added_tokens":   added,
		"normalizer":     nil,
		"pre_tokenizer":  byteLevelCfg,
		"post_processor": byteLevelCfg,
		"decoder":        byteLevelCfg,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil,
			"continuing_subword_prefix": nil, "end_of_word_suffix": nil, "fuse_unk": false,
			"byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": []string{}},
	}
	data, err := json.MarshalIndent(tok, "", "  ")
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return data
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
