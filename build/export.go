package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/gguf"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/svf"
)

// cmdExport writes a pack's model, adapted by an expert or a mixture and merged, as a
// GGUF file that llama.cpp-based runtimes load (the peers of `make bench-peers` run
// exactly our weights), or as a Hugging Face checkpoint folder that transformers, vLLM
// and `t2 convert` load.
func cmdExport(args []string, stdout, stderr io.Writer) error {
	fs := flags("export", "--pack DIR [--expert NAME | --mix a:0.3,b:0.7] (--gguf FILE [--type f32|f16|q8_0] | --hf DIR [--dtype bf16|f16|f32])", stderr)
	src := &source{dequantize: true}
	fs.StringVar(&src.pack, "pack", "", "pack `folder` (t2 convert)")
	fs.StringVar(&src.expert, "expert", "", "apply the pack's expert `name`")
	fs.StringVar(&src.mix, "mix", "", "apply a mixture of the pack's experts, e.g. `a:0.3,b:0.7`")
	ggufOut := fs.String("gguf", "", "write the GGUF `file`")
	typ := fs.String("type", "f32", "with --gguf: tensor `type` of the matrices: f32, f16 or q8_0 (norms stay f32)")
	hfOut := fs.String("hf", "", "write a Hugging Face checkpoint `folder` (config.json, model.safetensors, tokenizer files)")
	dtype := fs.String("dtype", "", "with --hf: `dtype` of every tensor: bf16, f16 or f32 (default: the config's torch_dtype, f32 when it names none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if src.pack == "" || (*ggufOut == "") == (*hfOut == "") || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *hfOut != "" {
		if _, _, err := hfDType(*dtype); err != nil { // before the model loads
			return err
		}
		return exportHF(src, *hfOut, *dtype, stdout)
	}
	t, err := gguf.ParseType(*typ)
	if err != nil {
		return err
	}
	m, err := src.load()
	if err != nil {
		return err
	}
	tok, err := os.ReadFile(filepath.Join(src.pack, "tokenizer.json"))
	if err != nil {
		return err
	}
	tpl, err := chatTemplateSource(filepath.Join(src.pack, "tokenizer_config.json"))
	if err != nil {
		return err
	}
	kvs, tensors, err := ggufModel(m, tok, tpl, t, filepath.Base(filepath.Clean(src.pack)))
	if err != nil {
		return fmt.Errorf("%s: %w", src.pack, err)
	}
	f, err := os.Create(*ggufOut)
	if err != nil {
		return err
	}
	if err := gguf.Write(f, kvs, tensors); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", *ggufOut, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, _ := os.Stat(*ggufOut)
	fmt.Fprintf(stdout, "wrote %s (%s, %d tensors, %s)\n", *ggufOut, t, len(tensors), sizeText(st.Size()))
	return nil
}

// exportHF writes the adapted, merged model of src as a Hugging Face checkpoint folder
// dir: model.safetensors in dtype, the pack's config.json with torch_dtype set to match,
// and the pack's tokenizer and generation files unchanged. Loading the folder gives the
// logits of the pack with the expert applied (f32: the same weights, bit for bit).
func exportHF(src *source, dir, dtype string, stdout io.Writer) error {
	p, err := svf.OpenDir(src.pack)
	if err != nil {
		return err
	}
	if dtype == "" {
		dtype = p.Config.DType
	}
	st, torchName, err := hfDType(dtype)
	if err != nil {
		return err
	}
	cfg, err := withTorchDType(p.Manifest.Config, torchName)
	if err != nil {
		return fmt.Errorf("%s: config: %w", src.pack, err)
	}
	m, err := src.load()
	if err != nil {
		return err
	}
	w, err := denseWeights(m)
	if err != nil {
		return fmt.Errorf("%s: %w", src.pack, err)
	}
	if err := model.WriteCheckpoint(dir, cfg, w, st); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for _, name := range p.Manifest.Files {
		data, err := os.ReadFile(filepath.Join(src.pack, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	info, err := os.Stat(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s, model.safetensors %s)\n", dir, torchName, sizeText(info.Size()))
	return nil
}

// hfDType maps a --dtype value, or a config's torch_dtype, to a safetensors dtype and the
// torch_dtype that names it; "" is f32.
func hfDType(s string) (safetensors.DType, string, error) {
	switch strings.ToLower(s) {
	case "bf16", "bfloat16":
		return safetensors.BF16, "bfloat16", nil
	case "f16", "fp16", "float16":
		return safetensors.F16, "float16", nil
	case "", "f32", "fp32", "float32":
		return safetensors.F32, "float32", nil
	}
	return "", "", fmt.Errorf("dtype %q: want bf16, f16 or f32", s)
}

// withTorchDType returns config.json with its torch_dtype set to name, every other field
// kept (keys sorted, as encoding/json writes maps).
func withTorchDType(config []byte, name string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(config, &fields); err != nil {
		return nil, err
	}
	fields["torch_dtype"], _ = json.Marshal(name)
	out, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// denseWeights returns m's weights with every layer matrix as the f32 Dense it runs as
// (an adapted matrix recomposed with its z), sharing m's slices.
func denseWeights(m *model.Model) (*model.Weights, error) {
	if m.Weights.Embed == nil {
		return nil, errors.New("the model's embedding is not f32 (load it dequantised)")
	}
	w := *m.Weights
	w.Layers = slices.Clone(w.Layers)
	w.Linears = make(map[string]model.Linear, len(m.Weights.Linears))
	for l := range w.Layers {
		for _, name := range model.MatrixNames(l) {
			d, err := denseOf(m.Weights.Linears[name])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			w.Linears[name] = d
		}
	}
	return &w, nil
}

// ggufModel returns the metadata and tensors of m in llama.cpp's layout, as its
// convert_hf_to_gguf.py writes them: architecture "llama" (Llama, Mistral) or "qwen2";
// tensors renamed (token_embd, blk.N.attn_q, …, output), matrices of type t, vectors f32;
// for "llama" the rows of q and k permuted from Hugging Face's rotate-half RoPE layout
// to llama.cpp's interleaved one; llama3 RoPE scaling as the rope_freqs tensor; the
// tokenizer as a GPT-2 BPE vocabulary padded to the model's vocab_size, with the
// chat template tpl (none when empty). tokJSON is the model's tokenizer.json.
func ggufModel(m *model.Model, tokJSON []byte, tpl string, t gguf.Type, name string) ([]gguf.KV, []gguf.Tensor, error) {
	c, w := m.Config, m.Weights
	arch := "llama"
	switch c.Architecture {
	case "LlamaForCausalLM", "MistralForCausalLM":
	case "Qwen2ForCausalLM":
		arch = "qwen2"
	default:
		return nil, nil, fmt.Errorf("export: architecture %s has no GGUF mapping here", c.Architecture)
	}
	if w.Embed == nil {
		return nil, nil, errors.New("export: the model's embedding is not f32 (load it dequantised)")
	}
	kvs := []gguf.KV{
		kv("general.architecture", arch),
		kv("general.name", name),
		kv("general.alignment", uint32(gguf.Alignment)),
		kv(arch+".context_length", uint32(c.MaxPositions)),
		kv(arch+".embedding_length", uint32(c.Dim)),
		kv(arch+".block_count", uint32(c.NLayers)),
		kv(arch+".feed_forward_length", uint32(c.FFN)),
		kv(arch+".attention.head_count", uint32(c.NHeads)),
		kv(arch+".attention.head_count_kv", uint32(c.NKVHeads)),
		kv(arch+".attention.key_length", uint32(c.HeadDim)),
		kv(arch+".attention.value_length", uint32(c.HeadDim)),
		kv(arch+".rope.dimension_count", uint32(c.HeadDim)),
		kv(arch+".rope.freq_base", float32(c.RopeTheta)),
		kv(arch+".attention.layer_norm_rms_epsilon", float32(c.RMSNormEps)),
		kv(arch+".vocab_size", uint32(c.VocabSize)),
	}
	if c.SlidingWindow > 0 {
		return nil, nil, errors.New("export: sliding-window attention has no GGUF mapping here")
	}
	var tensors []gguf.Tensor
	matrix := func(name string, x []float32, rows, cols int) {
		tt := t
		if t == gguf.Q8_0 && cols%32 != 0 {
			tt = gguf.F16 // Q8_0 needs whole blocks along a row
		}
		tensors = append(tensors, gguf.Tensor{Name: name, Rows: rows, Cols: cols, Type: tt, Data: x})
	}
	vector := func(name string, x []float32) {
		tensors = append(tensors, gguf.Tensor{Name: name, Rows: 1, Cols: len(x), Type: gguf.F32, Data: x})
	}
	if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "linear":
			kvs = append(kvs, kv(arch+".rope.scaling.type", "linear"), kv(arch+".rope.scaling.factor", float32(s.Factor)))
		case "llama3":
			// llama.cpp divides each frequency by rope_freqs[i]: the unscaled over the scaled.
			inv := c.InvFreq()
			f := make([]float32, len(inv))
			for i, g := range inv {
				f[i] = float32(1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.HeadDim)) / g)
			}
			vector("rope_freqs.weight", f)
		default:
			return nil, nil, fmt.Errorf("export: rope_scaling %s has no GGUF mapping here", s.Type)
		}
	}
	matrix("token_embd.weight", w.Embed, c.VocabSize, c.Dim)
	names := []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}
	for l := range c.NLayers {
		p := fmt.Sprintf("blk.%d.", l)
		ly := &w.Layers[l]
		vector(p+"attn_norm.weight", ly.AttnNorm)
		for j, hf := range model.MatrixNames(l) {
			d, err := denseOf(w.Linears[hf])
			if err != nil {
				return nil, nil, fmt.Errorf("export: %s: %w", hf, err)
			}
			x := d.W
			if arch == "llama" && j < 2 {
				heads := c.NHeads
				if j == 1 {
					heads = c.NKVHeads
				}
				x = permuteRope(x, heads, c.HeadDim, d.In)
			}
			matrix(p+names[j]+".weight", x, d.Out, d.In)
			if d.B != nil {
				b := d.B
				if arch == "llama" && j < 2 {
					heads := c.NHeads
					if j == 1 {
						heads = c.NKVHeads
					}
					b = permuteRope(b, heads, c.HeadDim, 1)
				}
				vector(p+names[j]+".bias", b)
			}
		}
		vector(p+"ffn_norm.weight", ly.MLPNorm)
	}
	vector("output_norm.weight", w.Norm)
	if !c.TieEmbeddings {
		matrix("output.weight", w.LMHead, c.VocabSize, c.Dim)
	}
	tk, err := ggufTokenizer(m, tokJSON, tpl)
	if err != nil {
		return nil, nil, err
	}
	return append(kvs, tk...), tensors, nil
}

// denseOf returns the f32 matrix of a layer matrix of a model loaded in f32.
func denseOf(l model.Linear) (*model.Dense, error) {
	switch l := l.(type) {
	case *model.Dense:
		return l, nil
	case *svf.Merged:
		return l.Dense(), nil
	}
	return nil, fmt.Errorf("a %T, not an f32 matrix (load the pack merged and dequantised)", l)
}

// permuteRope reorders the rows of x[heads·dh, cols] within each head from Hugging
// Face's rotate-half layout (row i pairs with row i+dh/2) to the interleaved one
// llama.cpp's "llama" RoPE uses (row 2i with 2i+1): new row 2i+j is old row j·dh/2+i.
func permuteRope(x []float32, heads, dh, cols int) []float32 {
	out := make([]float32, len(x))
	half := dh / 2
	for h := range heads {
		for i := range half {
			for j := range 2 {
				src, dst := h*dh+j*half+i, h*dh+2*i+j
				copy(out[dst*cols:(dst+1)*cols], x[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// ggufTokenizer returns the tokenizer metadata of a byte-level BPE tokenizer.json: the
// vocabulary by id (padded with unused [PADn] tokens up to vocab_size, as
// convert_hf_to_gguf.py does), token types (special added tokens are control tokens),
// merges, BOS/EOS, and the chat template.
func ggufTokenizer(m *model.Model, data []byte, tpl string) ([]gguf.KV, error) {
	var tj struct {
		Model struct {
			Type   string          `json:"type"`
			Vocab  map[string]int  `json:"vocab"`
			Merges json.RawMessage `json:"merges"`
		} `json:"model"`
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Pre preTokenizerJSON `json:"pre_tokenizer"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer.json: model type %q: export writes BPE tokenizers", tj.Model.Type)
	}
	V := m.Config.VocabSize
	tokens := make([]string, V)
	types := make([]int32, V)
	for s, id := range tj.Model.Vocab {
		if id < 0 || id >= V {
			return nil, fmt.Errorf("tokenizer.json: token %q has id %d outside the vocabulary of %d", s, id, V)
		}
		tokens[id], types[id] = s, 1 // normal
	}
	for _, a := range tj.Added {
		if a.ID < 0 || a.ID >= V {
			return nil, fmt.Errorf("tokenizer.json: added token %q has id %d outside the vocabulary of %d", a.Content, a.ID, V)
		}
		tokens[a.ID], types[a.ID] = a.Content, 1
		if a.Special {
			types[a.ID] = 3 // control
		}
	}
	for i := range tokens {
		if types[i] == 0 {
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), 5 // unused
		}
	}
	// merges: ["a b", …] or [["a", "b"], …]
	var merges []string
	if len(tj.Model.Merges) > 0 {
		if err := json.Unmarshal(tj.Model.Merges, &merges); err != nil {
			var pairs [][2]string
			if err := json.Unmarshal(tj.Model.Merges, &pairs); err != nil {
				return nil, fmt.Errorf("tokenizer.json: model.merges: %w", err)
			}
			for _, p := range pairs {
				merges = append(merges, p[0]+" "+p[1])
			}
		}
	}
	kvs := []gguf.KV{
		kv("tokenizer.ggml.model", "gpt2"),
		kv("tokenizer.ggml.pre", ggufPre(tj.Pre)),
		kv("tokenizer.ggml.tokens", tokens),
		kv("tokenizer.ggml.token_type", types),
		kv("tokenizer.ggml.merges", append([]string{}, merges...)),
		kv("tokenizer.ggml.add_bos_token", false),
	}
	if c := m.Config; c.BOS >= 0 {
		kvs = append(kvs, kv("tokenizer.ggml.bos_token_id", uint32(c.BOS)))
	}
	if len(m.EOS) > 0 {
		kvs = append(kvs, kv("tokenizer.ggml.eos_token_id", uint32(m.EOS[0])))
	}
	if len(m.EOS) > 1 { // e.g. <|endoftext|> and <|im_end|>: llama.cpp ends at both
		kvs = append(kvs, kv("tokenizer.ggml.eot_token_id", uint32(m.EOS[1])))
	}
	if tpl != "" {
		kvs = append(kvs, kv("tokenizer.chat_template", tpl))
	}
	return kvs, nil
}

// chatTemplateSource reads the chat template of a tokenizer_config.json: its
// chat_template string, or the one named "default" of a list; "" when it has none.
func chatTemplateSource(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var tc struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &tc); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(tc.ChatTemplate) == 0 || string(tc.ChatTemplate) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(tc.ChatTemplate, &s) == nil {
		return s, nil
	}
	var list []struct{ Name, Template string }
	if err := json.Unmarshal(tc.ChatTemplate, &list); err != nil {
		return "", fmt.Errorf("%s: field chat_template: %w", path, err)
	}
	for _, t := range list {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", nil
}

// kv makes one metadata pair.
func kv(key string, value any) gguf.KV { return gguf.KV{Key: key, Value: value} }

// preTokenizerJSON is the part of a tokenizer.json pre_tokenizer that says how digits are
// split: a Sequence of pre-tokenizers, or one.
type preTokenizerJSON struct {
	Type             string             `json:"type"`
	IndividualDigits bool               `json:"individual_digits"`
	Pretokenizers    []preTokenizerJSON `json:"pretokenizers"`
}

// ggufPre names llama.cpp's pre-tokenizer for a byte-level BPE's pre_tokenizer:
// "smollm" (each digit alone, then GPT-2's regex, as SmolLM2's and the demo's
// Digits + ByteLevel do), else "default" (GPT-2's regex).
func ggufPre(p preTokenizerJSON) string {
	steps := p.Pretokenizers
	if p.Type != "Sequence" {
		steps = []preTokenizerJSON{p}
	}
	if len(steps) == 2 && steps[0].Type == "Digits" && steps[0].IndividualDigits && steps[1].Type == "ByteLevel" {
		return "smollm"
	}
	return "default"
}
