package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/svf"
)

// referenceDir holds the fixture made by PyTorch from the reference code's layouts
// (testdata/reference/make.py): a tiny Llama, its torch.svd cache, a policy, and the
// logits of the base and adapted models.
const referenceDir = "testdata/reference"

// referenceExpected is testdata/reference/expected.json.
type referenceExpected struct {
	Sequences   [][]int   `json:"sequences"`
	MaxMult     float64   `json:"max_mult"`
	MaskMatrix  string    `json:"mask_mm2_matrix"`
	MaskMM2Head []float32 `json:"mask_mm2_first"`
}

func readReferenceExpected(t *testing.T) referenceExpected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(referenceDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e referenceExpected
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// readF32 reads a little-endian float32 file.
func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(data)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return x
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func idList(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// reportLine is a line of convert --reference-svd's report: matrix, shape, error, exact.
var reportLine = regexp.MustCompile(`(?m)^  model\.layers\.\d+\.\S+\s+\d+×\d+\s+(\S+)\s+exact$`)

// TestReferenceRoundTrip: a pack made from the reference's torch.svd factors, with the
// reference's expert imported, gives PyTorch's logits of the model the reference adapts
// (compose_new_params) within 1e-4, merged or factored, and without the expert those of
// the base model — whether the pack adapts the MLP only or attention too (z = 1 there). A pack t2
// decomposed itself does too (its factors differ from torch's by float32 rounding; about
// 4e-5 here). The expert moves the logits by far more than that, so the comparison can
// fail.
func TestReferenceRoundTrip(t *testing.T) {
	want := readReferenceExpected(t)
	hf := filepath.Join(referenceDir, "hf")
	dir := t.TempDir()
	for _, tt := range []struct {
		targets string
		own     bool // t2's own SVD, not the reference's factors
	}{{"mlp", false}, {"mlp,attn", false}, {"mlp", true}} {
		targets := tt.targets
		pack := filepath.Join(dir, fmt.Sprintf("%s-%v", strings.ReplaceAll(targets, ",", "-"), tt.own))
		args := []string{"convert", "--model", hf, "--out", pack, "--quant", "f32", "--targets", targets}
		if !tt.own {
			args = append(args, "--reference-svd", filepath.Join(referenceDir, "decomposed_params.pt"))
		}
		code, out, errOut := t2(args...)
		if code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
		checked := 0
		for _, m := range reportLine.FindAllStringSubmatch(out, -1) {
			if rel, err := strconv.ParseFloat(m[1], 64); err == nil && rel < 1e-5 {
				checked++
			}
		}
		matrices := 6 // gate, up, down of 2 layers
		if targets != "mlp" {
			matrices += 8 // q, k, v, o
		}
		if tt.own {
			matrices = 0
		}
		if checked != matrices || !strings.Contains(out, "largest: ") != tt.own {
			t.Errorf("convert reports %d matrices with an error below 1e-5, want %d:\n%s", checked, matrices, out)
		}
		code, out, errOut = t2("import", "--pack", pack, "--reference-expert", filepath.Join(referenceDir, "policy_params.pt"),
			"--name", "ref", "--domain", "math")
		if code != 0 {
			t.Fatalf("import into %s: %s", targets, errOut)
		}
		wantOut := "for 6 mlp matrices"
		if targets != "mlp" {
			wantOut += ", z = 1 for the 8 attention matrices"
		}
		if !strings.Contains(out, wantOut) || !strings.Contains(out, "max_mult from the reference's default") {
			t.Errorf("import says %q, want %q", out, wantOut)
		}
		// The base model, and the adapted one merged (W' recomposed) and factored
		// (c·U(s⊙(Vᵀx))).
		runs := []struct {
			kind string
			args []string
		}{{"base", nil}, {"expert", []string{"--expert", "ref"}}, {"expert", []string{"--expert", "ref", "--factored"}}}
		var worst [3]float64
		moved := 0.0
		for n, ids := range want.Sequences {
			ref := map[string][]float32{}
			for _, kind := range []string{"base", "expert"} {
				ref[kind] = readF32(t, filepath.Join(referenceDir, fmt.Sprintf("logits-%s-%d.bin", kind, n)))
			}
			moved = max(moved, maxDiff(ref["base"], ref["expert"]))
			for k, r := range runs {
				args := append([]string{"logits", "--pack", pack, "--ids", idList(ids), "--out", filepath.Join(dir, "l.bin")}, r.args...)
				if code, _, errOut := t2(args...); code != 0 {
					t.Fatal(errOut)
				}
				got := readF32(t, filepath.Join(dir, "l.bin"))
				if len(got) != len(ref[r.kind]) || len(got) != len(ids)*259 {
					t.Fatalf("%v: %d logits, PyTorch %d", args, len(got), len(ref[r.kind]))
				}
				worst[k] = max(worst[k], maxDiff(got, ref[r.kind]))
			}
		}
		t.Logf("--targets %s, own SVD %v: max |Δlogit| vs PyTorch: base %.2e, adapted %.2e, factored %.2e (the expert moves logits by up to %.2f)",
			targets, tt.own, worst[0], worst[1], worst[2], moved)
		if slices.Max(worst[:]) > 1e-4 {
			t.Errorf("--targets %s, own SVD %v: max |Δlogit| base %g, adapted %g, factored %g, want ≤ 1e-4", targets, tt.own, worst[0], worst[1], worst[2])
		}
		if moved < 0.1 {
			t.Errorf("the expert moves the logits by %g only: the test could not tell it from the base model", moved)
		}
	}
}

// TestReferenceImportLayouts: policy_params.pt and learnable_params.pt give the same
// expert; --max-mult scales z as the reference's get_mask does (values by PyTorch), and a
// run folder named MODE_mmX supplies X.
func TestReferenceImportLayouts(t *testing.T) {
	want := readReferenceExpected(t)
	pack := filepath.Join(t.TempDir(), "pack")
	if code, _, errOut := t2("convert", "--model", filepath.Join(referenceDir, "hf"), "--out", pack, "--quant", "f32",
		"--reference-svd", filepath.Join(referenceDir, "decomposed_params.pt")); code != 0 {
		t.Fatal(errOut)
	}
	// A run folder as svd_reinforce_hydra.py names it: results/TASK/POLICY_mmX/EXP/RUN.
	run := filepath.Join(t.TempDir(), "results", "gsm8k", "1_mm2", "llama", "20250101")
	os.MkdirAll(run, 0o755)
	policy, _ := os.ReadFile(filepath.Join(referenceDir, "policy_params.pt"))
	os.WriteFile(filepath.Join(run, "policy_params.pt"), policy, 0o644)
	for _, tt := range []struct {
		name, file string
		args       []string
		say        string
	}{
		{"a", filepath.Join(referenceDir, "policy_params.pt"), nil, "max_mult from the reference's default"},
		{"b", filepath.Join(referenceDir, "learnable_params.pt"), nil, "max_mult from the reference's default"},
		{"mm2", filepath.Join(referenceDir, "policy_params.pt"), []string{"--max-mult", "2"}, "·2 (max_mult from --max-mult)"},
		{"run", filepath.Join(run, "policy_params.pt"), nil, "·2 (max_mult from the run folder 1_mm2)"},
		{"flag", filepath.Join(run, "policy_params.pt"), []string{"--max-mult", "1"}, "·1 (max_mult from --max-mult)"},
	} {
		code, out, errOut := t2(append([]string{"import", "--pack", pack, "--reference-expert", tt.file, "--name", tt.name}, tt.args...)...)
		if code != 0 || !strings.Contains(out, tt.say) {
			t.Errorf("%s: exit %d, %q %s, want %q", tt.name, code, out, errOut, tt.say)
		}
	}
	p, err := svf.OpenDir(pack)
	if err != nil {
		t.Fatal(err)
	}
	expert := func(name string) *svf.Expert {
		e, err := p.Expert(name)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, mm2, run2, flag1 := expert("a"), expert("b"), expert("mm2"), expert("run"), expert("flag")
	for _, m := range p.Manifest.Matrices {
		if !slices.Equal(a.Z[m], b.Z[m]) || !slices.Equal(mm2.Z[m], run2.Z[m]) || !slices.Equal(a.Z[m], flag1.Z[m]) {
			t.Errorf("%s: the layouts or the max_mult sources disagree", m)
		}
	}
	m := strings.TrimSuffix(want.MaskMatrix, ".weight")
	if got := mm2.Z[m][:len(want.MaskMM2Head)]; !slices.Equal(got, want.MaskMM2Head) {
		t.Errorf("%s with max_mult 2: z %v, PyTorch's get_mask %v", m, got, want.MaskMM2Head)
	}
	if a.Domain != "" || !strings.Contains(a.Trained, "reference policy") {
		t.Errorf("expert card: domain %q, trained %q", a.Domain, a.Trained)
	}
}

// TestReferenceErrors: factors of other weights, a policy of another model or pack, and
// files that are not what they should be are refused, naming the file, key or matrix.
func TestReferenceErrors(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(referenceDir, "hf")
	svd := filepath.Join(referenceDir, "decomposed_params.pt")
	policy := filepath.Join(referenceDir, "policy_params.pt")
	// The fixture's checkpoint with one MLP weight scaled by 1.01: ‖ΔW‖/‖W‖ ≈ 0.0099.
	changed := filepath.Join(dir, "changed")
	os.MkdirAll(changed, 0o755)
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		data, _ := os.ReadFile(filepath.Join(hf, f))
		os.WriteFile(filepath.Join(changed, f), data, 0o644)
	}
	scaleTensor(t, filepath.Join(hf, "model.safetensors"), filepath.Join(changed, "model.safetensors"), "model.layers.1.mlp.up_proj.weight", 1.01)
	other := randomCheckpoint(t) // width 64: other shapes
	pack := filepath.Join(dir, "pack")
	attnPack := filepath.Join(dir, "attn")
	otherPack := filepath.Join(dir, "other")
	for _, args := range [][]string{
		{"convert", "--model", hf, "--out", pack, "--quant", "f32"},
		{"convert", "--model", hf, "--out", attnPack, "--quant", "f32", "--targets", "attn"},
		{"convert", "--model", other, "--out", otherPack, "--quant", "f32"},
	} {
		if code, _, errOut := t2(args...); code != 0 {
			t.Fatal(errOut)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"changed weight", []string{"convert", "--model", changed, "--out", filepath.Join(dir, "p1"), "--reference-svd", svd},
			"model.layers.1.mlp.up_proj: " + svd + ": ‖W − U·diag(S)·Vᵀ‖/‖W‖ = 0.0099 is above the tolerance 0.001"},
		{"tolerance", []string{"convert", "--model", hf, "--out", filepath.Join(dir, "p2"), "--reference-svd", svd, "--svd-tolerance", "1e-9"},
			"is above the tolerance 1e-09 (--svd-tolerance)"},
		{"other shapes", []string{"convert", "--model", other, "--out", filepath.Join(dir, "p3"), "--reference-svd", svd},
			"model.layers.0.mlp.gate_proj.weight.U has shape [64 32], want [128 64]"},
		{"not factors", []string{"convert", "--model", hf, "--out", filepath.Join(dir, "p4"), "--reference-svd", policy},
			"has no tensor model.layers.0.mlp.gate_proj.weight.U"},
		{"legacy svd", []string{"convert", "--model", hf, "--out", filepath.Join(dir, "p5"), "--reference-svd", "../model/torchpt/testdata/legacy.pt"},
			"legacy torch.save format"},
		{"other model's policy", []string{"import", "--pack", pack, "--reference-expert", filepath.Join(referenceDir, "policy_other_model.pt"), "--name", "x"},
			"3 vectors, want 6, one per mlp weight of the model in its state_dict order (gate, up, down of each layer); none for learnable_params_module_list.3 (model.layers.1.mlp.gate_proj.weight)"},
		{"other pack", []string{"import", "--pack", otherPack, "--reference-expert", policy, "--name", "x"},
			"key learnable_params_module_list.0 (model.layers.0.mlp.gate_proj.weight): shape [32], want a vector p of the matrix's rank, [64]"},
		{"attention-only pack", []string{"import", "--pack", attnPack, "--reference-expert", policy, "--name", "x"},
			"the pack does not adapt this matrix (its targets are [attn]"},
		{"factors as expert", []string{"import", "--pack", pack, "--reference-expert", svd, "--name", "x"},
			`key "model.embed_tokens.weight.U" is neither learnable_params_module_list.K`},
		{"hostile file", []string{"import", "--pack", pack, "--reference-expert", "../model/torchpt/testdata/evil.pt", "--name", "x"},
			`refused: global "posix.system"`},
		{"no name", []string{"import", "--pack", pack, "--reference-expert", policy}, "usage: t2 import"},
	} {
		code, _, errOut := t2(tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tt.name, code, errOut, tt.want)
		}
	}
}

// scaleTensor copies the safetensors file src to dst with tensor name scaled by f.
func scaleTensor(t *testing.T, src, dst, name string, f float32) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Open(bytes.NewReader(data), int64(len(data)), src)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, info := range st.Tensors() {
		x, err := st.Float32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Name == name {
			for i := range x {
				x[i] *= f
			}
		}
		ts = append(ts, safetensors.Tensor{Name: info.Name, DType: safetensors.F32, Shape: info.Shape, Data: safetensors.Float32Bytes(x)})
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMaxMultOf: a folder named as the reference's policy_name gives max_mult.
func TestMaxMultOf(t *testing.T) {
	for _, tt := range []struct {
		path string
		want float64
	}{
		{"results/gsm8k/1_mm1/x/y/policy_params.pt", 1},
		{"results/gsm8k/1_mm2.5/x/y/policy_params.pt", 2.5},
		{"/a/b/policy_params.pt", 1},
		{"1_mm3/policy_params.pt", 3},
		{"mm3/policy_params.pt", 1},
		{"1_mm0/policy_params.pt", 1}, // not positive: the default
	} {
		if got, _ := maxMultOf(tt.path); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.path, got, tt.want)
		}
	}
}
