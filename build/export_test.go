package main

import (
	"encoding/binary"
	"github.com/t2web/t2web/model/pack"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ggufparser "github.com/gpustack/gguf-parser-go"

	"github.com/t2web/t2web/model/fixtures"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// TestExportGGUF: t2 export writes, for a pack with an expert applied, a GGUF file that
// gguf-parser-go reads back as a llama model of the pack's shape, with its tokenizer
// (vocabulary padded to vocab_size, merges, EOS) and chat template, every tensor where
// its info says; the f32 tensors hold exactly the merged, adapted weights (q and k rows
// in llama.cpp's RoPE order), and q8_0 and f16 files hold them within their rounding.
func TestExportGGUF(t *testing.T) {
	src := fixtures.Dir(t, "llama-tiny")
	dir := t.TempDir()
	packDir := filepath.Join(dir, "pack")
	if _, err := convert.Convert(os.DirFS(src), packDir, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}}); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := t2("expert", "new", "--pack", packDir, "--name", "half", "--value", "0.5"); code != 0 {
		t.Fatalf("expert new: %s", errOut)
	}
	ref, err := (&source{pack: packDir, expert: "half", dequantize: true}).load()
	if err != nil {
		t.Fatal(err)
	}
	c := ref.Config
	for _, typ := range []string{"f32", "f16", "q8_0"} {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(dir, typ+".gguf")
			if code, stdout, errOut := t2("export", "--pack", packDir, "--expert", "half", "--gguf", out, "--type", typ); code != 0 {
				t.Fatalf("export: %s", errOut)
			} else {
				t.Log(stdout)
			}
			gf, err := ggufparser.ParseGGUFFile(out)
			if err != nil {
				t.Fatal(err)
			}
			a := gf.Architecture()
			if a.Architecture != "llama" || a.EmbeddingLength != uint64(c.Dim) || a.BlockCount != uint64(c.NLayers) ||
				a.AttentionHeadCountKV != uint64(c.NKVHeads) || len(a.FeedForwardLength) == 0 || a.FeedForwardLength[0] != uint64(c.FFN) {
				t.Errorf("architecture %+v does not match the config %+v", a, c)
			}
			tk := gf.Tokenizer()
			if tk.Model != "gpt2" || tk.TokensLength != uint64(c.VocabSize) || tk.MergesLength == 0 || tk.EOSTokenID != int64(ref.EOS[0]) {
				t.Errorf("tokenizer %+v: want gpt2, %d tokens, merges, EOS %d", tk, c.VocabSize, ref.EOS[0])
			}
			if kv, ok := gf.Header.MetadataKV.Get("tokenizer.chat_template"); !ok || kv.ValueString() == "" {
				t.Error("no tokenizer.chat_template")
			}
			// 2 per layer norms + 7 matrices per layer, embedding, final norm, lm_head, rope_freqs
			if want := c.NLayers*9 + 4; len(gf.TensorInfos) != want {
				t.Errorf("%d tensors, want %d", len(gf.TensorInfos), want)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			tensor := func(name string) ([]float32, ggufparser.GGUFTensorInfo) {
				for _, ti := range gf.TensorInfos {
					if ti.Name == name {
						return decodeTensor(t, data[gf.TensorDataStartOffset+int64(ti.Offset):], ti), ti
					}
				}
				t.Fatalf("no tensor %s", name)
				return nil, ggufparser.GGUFTensorInfo{}
			}
			q := ref.Weights.Linears["model.layers.1.self_attn.q_proj"].(*svf.Merged).Dense()
			for _, check := range []struct {
				name string
				want []float32
				dims []uint64
			}{
				{"token_embd.weight", ref.Weights.Embed, []uint64{uint64(c.Dim), uint64(c.VocabSize)}},
				{"blk.1.attn_q.weight", permuteRope(q.W, c.NHeads, c.HeadDim, c.Dim), []uint64{uint64(c.Dim), uint64(c.NHeads * c.HeadDim)}},
				{"blk.0.ffn_down.weight", ref.Weights.Linears["model.layers.0.mlp.down_proj"].(*svf.Merged).Dense().W, []uint64{uint64(c.FFN), uint64(c.Dim)}},
				{"output_norm.weight", ref.Weights.Norm, []uint64{uint64(c.Dim)}},
			} {
				got, ti := tensor(check.name)
				if !slices.Equal(ti.Dimensions, check.dims) {
					t.Errorf("%s: dimensions %v, want %v", check.name, ti.Dimensions, check.dims)
				}
				tol := 0.0
				if len(ti.Dimensions) == 2 {
					tol = map[string]float64{"f32": 0, "f16": 1e-3, "q8_0": 1e-2}[typ]
				}
				if e := svf.RelFrobenius(got, check.want); e > tol {
					t.Errorf("%s: %.3g relative error, want ≤ %g", check.name, e, tol)
				}
			}
		})
	}
}

// decodeTensor reads a tensor of type F32, F16 or Q8_0 from b.
func decodeTensor(t *testing.T, b []byte, ti ggufparser.GGUFTensorInfo) []float32 {
	n := 1
	for _, d := range ti.Dimensions {
		n *= int(d)
	}
	x := make([]float32, n)
	le := binary.LittleEndian
	switch ti.Type {
	case ggufparser.GGMLTypeF32:
		copy(x, safetensors.BytesFloat32(b[:4*n]))
	case ggufparser.GGMLTypeF16:
		for i := range x {
			x[i] = safetensors.F16ToFloat32(le.Uint16(b[2*i:]))
		}
	case ggufparser.GGMLTypeQ8_0:
		for blk := range n / 32 {
			d := safetensors.F16ToFloat32(le.Uint16(b[34*blk:]))
			for j := range 32 {
				x[32*blk+j] = float32(int8(b[34*blk+2+j])) * d
			}
		}
	default:
		t.Fatalf("%s: type %v", ti.Name, ti.Type)
	}
	return x
}

// TestExportHF: t2 export --hf writes, for a pack with an expert applied, a Hugging Face
// folder that loads back (t2 logits --model) with the logits of the pack and expert
// (f32: within 1e-5, measured bit for bit; bf16: 0.02, measured 3e-3, the ramp expert moving them 0.4), its config's torch_dtype saying the
// dtype written, and the pack's tokenizer files; for both fixture architectures (Qwen2:
// biases and tied embeddings).
func TestExportHF(t *testing.T) {
	for _, name := range fixtures.Models {
		t.Run(name, func(t *testing.T) {
			src := fixtures.Dir(t, name)
			dir := t.TempDir()
			packDir := filepath.Join(dir, "pack")
			if _, err := convert.Convert(os.DirFS(src), packDir, convert.Options{Quant: pack.QuantInt8, Targets: []string{"mlp", "attn"}}); err != nil {
				t.Fatal(err)
			}
			p, err := svf.OpenDir(packDir)
			if err != nil {
				t.Fatal(err)
			}
			x := p.Uniform("ramp", 1) // z from 0.2 to 1.8 along each matrix's σ
			for _, z := range x.Z {
				for i := range z {
					z[i] = 0.2 + 1.6*float32(i)/float32(len(z))
				}
			}
			if err := svf.SaveExpert(packDir, p, x); err != nil {
				t.Fatal(err)
			}
			ids := "1,5,9,200,17,3,64"
			logits := func(args ...string) []float32 {
				t.Helper()
				out := filepath.Join(t.TempDir(), "logits.bin")
				if code, _, errOut := t2(append(args, "--ids", ids, "--out", out)...); code != 0 {
					t.Fatalf("logits %v: %s", args, errOut)
				}
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				return safetensors.BytesFloat32(data)
			}
			want := logits("logits", "--pack", packDir, "--expert", "ramp", "--dequantize")
			base := logits("logits", "--pack", packDir, "--dequantize")
			if d := maxAbsDiff(want, base); d < 1e-3 {
				t.Fatalf("the expert changes the logits by only %g: the test would not see it dropped", d)
			}
			for _, c := range []struct {
				dtype, torch string
				tol          float64
			}{{"f32", "float32", 1e-5}, {"bf16", "bfloat16", 0.02}} {
				t.Run(c.dtype, func(t *testing.T) {
					hf := filepath.Join(dir, "hf-"+c.dtype)
					if code, _, errOut := t2("export", "--pack", packDir, "--expert", "ramp", "--hf", hf, "--dtype", c.dtype); code != 0 {
						t.Fatalf("export: %s", errOut)
					}
					got := logits("logits", "--model", hf)
					d := maxAbsDiff(got, want)
					if d > c.tol {
						t.Errorf("exported model's logits differ from the pack's by %g, want ≤ %g", d, c.tol)
					}
					t.Logf("max |Δlogit| %g (the expert moves them by %g)", d, maxAbsDiff(want, base))
					cfg, err := os.ReadFile(filepath.Join(hf, "config.json"))
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(string(cfg), `"torch_dtype": "`+c.torch+`"`) {
						t.Errorf("config.json does not say torch_dtype %s:\n%s", c.torch, cfg)
					}
					for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
						a, errA := os.ReadFile(filepath.Join(packDir, f))
						b, errB := os.ReadFile(filepath.Join(hf, f))
						if errA != nil || errB != nil || string(a) != string(b) {
							t.Errorf("%s not copied unchanged (%v, %v)", f, errA, errB)
						}
					}
				})
			}
		})
	}
}

// TestExportUsage: export writes exactly one of --gguf and --hf, and names a bad dtype.
func TestExportUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--pack", "p"}, "usage"},
		{[]string{"export", "--pack", "p", "--gguf", "a.gguf", "--hf", "d"}, "usage"},
		{[]string{"export", "--pack", t.TempDir(), "--hf", "d", "--dtype", "int4"}, `dtype "int4"`},
	} {
		code, _, errOut := t2(c.args...)
		if code == 0 || !strings.Contains(strings.ToLower(errOut), c.want) {
			t.Errorf("t2 %v: exit %d, %q; want a failure saying %q", c.args, code, errOut, c.want)
		}
	}
}

// maxAbsDiff is the largest |a[i] − b[i]|; +Inf when the lengths differ.
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}
