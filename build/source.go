package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf"
)

// source is where a command's model comes from: a Hugging Face checkpoint folder
// (--model) or a pack (--pack), optionally with an expert or a mixture of experts.
type source struct {
	model, pack, expert, mix string
	factored                 bool
	// dequantize runs an int8 pack in f32 (Pack.Load) instead of the int8 path
	// (Pack.LoadInt8) that the page's CPU engine runs.
	dequantize bool
}

// addSourceFlags registers --model, --pack, --expert, --mix, --factored and --dequantize.
func addSourceFlags(fs *flag.FlagSet) *source {
	s := &source{}
	fs.StringVar(&s.model, "model", "", "Hugging Face checkpoint `folder`")
	fs.StringVar(&s.pack, "pack", "", "pack `folder` (t2 convert), instead of --model")
	fs.StringVar(&s.expert, "expert", "", "with --pack: apply the pack's expert `name`")
	fs.StringVar(&s.mix, "mix", "", "with --pack: apply a mixture of the pack's experts, e.g. `a:0.3,b:0.7`")
	fs.BoolVar(&s.factored, "factored", false, "with --pack: apply adapted matrices factored, c·U(s⊙(Vᵀx)), instead of recomposing them")
	fs.BoolVar(&s.dequantize, "dequantize", false, "with an int8 --pack: run its matrices dequantised to f32 (the reference the GPU engine is held to), not int8 as the page does")
	return s
}

// given tells whether exactly one of --model and --pack was set.
func (s *source) given() bool { return (s.model == "") != (s.pack == "") }

// load loads the model with the expert or mixture applied to its weights.
func (s *source) load() (*model.Model, error) {
	if s.pack == "" {
		if s.expert != "" || s.mix != "" || s.factored || s.dequantize {
			return nil, errors.New("--expert, --mix, --factored and --dequantize need --pack")
		}
		return loadModel(s.model)
	}
	if s.expert != "" && s.mix != "" {
		return nil, errors.New("give --expert or --mix, not both")
	}
	p, err := svf.OpenDir(s.pack)
	if err != nil {
		return nil, err
	}
	var m *model.Model
	switch {
	case s.factored:
		m, err = p.Load(svf.FactoredPath)
	case s.dequantize:
		m, err = p.Load(svf.MergedPath)
	default:
		// The int8 path, with the kernels the CPU engine runs.
		m, err = p.LoadInt8(cpuKernels())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.pack, err)
	}
	z, err := s.z(p)
	if err != nil {
		return nil, err
	}
	if err := m.Weights.SetZ(z); err != nil {
		return nil, err
	}
	return m, nil
}

// z is the expert's or mixture's z, nil for the base model.
func (s *source) z(p *svf.Pack) (map[string][]float32, error) {
	switch {
	case s.expert != "":
		e, err := p.Expert(s.expert)
		if err != nil {
			return nil, err
		}
		return e.Z, nil
	case s.mix != "":
		experts, alpha, err := parseMix(p, s.mix)
		if err != nil {
			return nil, err
		}
		return svf.Mix(experts, alpha, p.Manifest.Matrices)
	}
	return nil, nil
}

// parseMix reads "a:0.3,b:0.7" into the pack's experts and their α.
func parseMix(p *svf.Pack, spec string) ([]*svf.Expert, [][]float64, error) {
	var experts []*svf.Expert
	var alpha [][]float64
	for _, item := range strings.Split(spec, ",") {
		name, a, ok := strings.Cut(strings.TrimSpace(item), ":")
		v, err := strconv.ParseFloat(a, 64)
		if !ok || err != nil {
			return nil, nil, fmt.Errorf("--mix: %q is not name:α (e.g. math:0.5)", item)
		}
		e, err := p.Expert(name)
		if err != nil {
			return nil, nil, err
		}
		experts = append(experts, e)
		alpha = append(alpha, []float64{v})
	}
	return experts, alpha, nil
}

// loadModel loads a checkpoint folder, naming the folder in errors.
func loadModel(dir string) (*model.Model, error) {
	m, err := model.Load(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}
