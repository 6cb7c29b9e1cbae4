package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model/torchpt"
	"github.com/t2web/t2web/svf"
)

// cmdImport adds an expert trained by the reference code (SakanaAI/self-adaptive-llms)
// to a pack.
func cmdImport(args []string, stdout, stderr io.Writer) error {
	fs := flags("import", "--pack DIR --reference-expert FILE.pt --name NAME [--max-mult X] [--domain D] [--description TEXT]", stderr)
	packDir := fs.String("pack", "", "pack `folder` (t2 convert; --reference-svd makes its factors the ones the expert was trained on)")
	file := fs.String("reference-expert", "", "the reference's expert `file`: torch.save(policy.state_dict()) (policy_params.pt: learnable_params_module_list.K) or its learnable_params.pt (mlp weight name → p); pre-sigmoid p, one vector per mlp weight")
	name := fs.String("name", "", "expert `name`")
	maxMult := fs.Float64("max-mult", 1, "the policy's max_mult: z = sigmoid(p)·max_mult. The .pt file does not hold it (a plain attribute of policy.Policy); "+
		"the reference's cfgs/policy/default.yaml sets 1 and a run's folder name shows it (results/TASK/MODE_mmX/...): without this flag, X of such a folder of the file's path is used, else 1")
	domain := fs.String("domain", "", "task `domain` the expert is for (math, code, reasoning, …)")
	desc := fs.String("description", "", "one line for people")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(stderr, importHelp)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || *file == "" || *name == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	mm, from := *maxMult, "--max-mult"
	if !flagSet(fs, "max-mult") {
		mm, from = maxMultOf(*file)
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	pt, err := torchpt.Open(*file)
	if err != nil {
		return err
	}
	defer pt.Close()
	params, err := referenceVectors(pt, p)
	if err != nil {
		return err
	}
	e, err := p.ReferenceExpert(*name, params, mm)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	e.Domain, e.Description = *domain, *desc
	if err := svf.SaveExpert(*packDir, p, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added expert %s to %s: z = bf16(sigmoid(p))·%g (max_mult from %s) for %d mlp matrices", *name, *packDir, mm, from, len(params))
	if rest := len(p.Manifest.Matrices) - len(params); rest > 0 {
		fmt.Fprintf(stdout, ", z = 1 for the %d attention matrices the reference does not adapt", rest)
	}
	fmt.Fprintln(stdout)
	return nil
}

const importHelp = `
The expert becomes experts/NAME.safetensors, one z per adapted matrix of the pack:

  z = bf16(sigmoid(p)) · max_mult     (the reference's policy/base.py get_mask,
                                       its rounding to bfloat16 included)

for each mlp weight (gate, up, down of each layer, the order of the base model's
state_dict), which the pack applies as the reference's compose_new_params does:
W' = U·diag(σ⊙z)·Vᵀ·(Σσ/Σ(σ⊙z)). The reference adapts the mlp weights only: attention
matrices of a pack made with --targets mlp,attn get z = 1, which leaves them unchanged.
A pack made by 't2 convert --reference-svd decomposed_params.pt' has the very factors the
expert was trained on; one t2 decomposed itself has the same σ and singular vectors up to
float32 rounding.
`

// runFolder matches the reference's policy_name, "${policy_mode}_mm${max_mult}", which
// svd_reinforce_hydra.py puts in the folder it saves policy_params.pt to.
var runFolder = regexp.MustCompile(`^\d+_mm([0-9]+(?:\.[0-9]+)?)$`)

// maxMultOf returns the max_mult a run folder in path names, or the reference's
// default 1, and where it came from.
func maxMultOf(path string) (float64, string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	for dir := filepath.Dir(path); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if m := runFolder.FindStringSubmatch(filepath.Base(dir)); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil && v > 0 {
				return v, "the run folder " + filepath.Base(dir)
			}
		}
	}
	return 1, "the reference's default"
}

// moduleListKey is a key of torch.save(policy.state_dict()): the K-th vector of the
// policy's nn.ParameterList.
var moduleListKey = regexp.MustCompile(`^learnable_params_module_list\.(\d+)$`)

// referenceVectors reads the reference's pre-sigmoid vectors p from pt, keyed by the
// pack's matrix (without ".weight"). Two layouts are read: policy_params.pt, whose keys
// learnable_params_module_list.K follow the base model's state_dict order of its "mlp"
// weights (svf.ReferenceMatrices), and learnable_params.pt, keyed by the weights' names.
// Every mlp weight needs exactly one vector of its rank.
func referenceVectors(pt *torchpt.File, p *svf.Pack) (map[string][]float32, error) {
	order := svf.ReferenceMatrices(p.Config)
	isMLP := map[string]bool{}
	for _, m := range order {
		isMLP[m] = true
	}
	out := map[string][]float32{}
	keyOf := map[string]string{} // matrix → the file's key
	layout := ""
	for _, t := range pt.Tensors() {
		var matrix, kind string
		if k := moduleListKey.FindStringSubmatch(t.Name); k != nil {
			i, err := strconv.Atoi(k[1])
			if err != nil || i >= len(order) {
				return nil, fmt.Errorf("%s: key %s: the model has %d mlp weights (gate, up, down of %d layers), so keys learnable_params_module_list.0 to .%d",
					pt.Name(), t.Name, len(order), p.Config.NLayers, len(order)-1)
			}
			matrix, kind = order[i], "policy_params"
		} else if m, ok := strings.CutSuffix(t.Name, ".weight"); ok && isMLP[m] {
			matrix, kind = m, "learnable_params"
		} else {
			return nil, fmt.Errorf("%s: key %.80q is neither learnable_params_module_list.K (torch.save(policy.state_dict())) nor the name of one of the model's mlp weights (learnable_params.pt)",
				pt.Name(), t.Name)
		}
		if layout != "" && layout != kind {
			return nil, fmt.Errorf("%s: key %s: the file mixes the policy_params and learnable_params layouts", pt.Name(), t.Name)
		}
		layout = kind
		label := t.Name
		if kind == "policy_params" {
			label += " (" + matrix + ".weight)"
		}
		if prev, dup := keyOf[matrix]; dup {
			return nil, fmt.Errorf("%s: keys %s and %s are both %s.weight", pt.Name(), prev, t.Name, matrix)
		}
		keyOf[matrix] = t.Name
		r, ok := p.Rank(matrix)
		if !ok {
			return nil, fmt.Errorf("%s: key %s: the pack does not adapt this matrix (its targets are %v; convert it with --targets mlp)", pt.Name(), label, p.Manifest.Targets)
		}
		if len(t.Shape) != 1 || t.Shape[0] != r {
			return nil, fmt.Errorf("%s: key %s: shape %v, want a vector p of the matrix's rank, [%d]", pt.Name(), label, t.Shape, r)
		}
		x, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: key %s: %w", pt.Name(), label, err)
		}
		out[matrix] = x
	}
	for i, m := range order {
		if _, ok := out[m]; !ok {
			key := m + ".weight"
			if layout != "learnable_params" {
				key = fmt.Sprintf("learnable_params_module_list.%d (%s.weight)", i, m)
			}
			return nil, fmt.Errorf("%s: %d vectors, want %d, one per mlp weight of the model in its state_dict order (gate, up, down of each layer); none for %s",
				pt.Name(), len(out), len(order), key)
		}
	}
	return out, nil
}
