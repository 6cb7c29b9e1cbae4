package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gogpu/gputypes"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/shaders"
	"github.com/t2web/t2web/svf"
)

// Engines a command can run on (--engine).
const (
	engineAuto = ""
	engineCPU  = "cpu"
	engineGPU  = "gpu"
)

// addEngineFlag registers --engine.
func addEngineFlag(fs *flag.FlagSet) *string {
	return fs.String("engine", engineAuto, "`cpu` or gpu (a Vulkan adapter, packs only); default gpu when a hardware Vulkan adapter opens and the model is a pack, else cpu")
}

// engineOptions size the engine of a command.
type engineOptions struct {
	MaxSeqs, Context int // 0: the engine's defaults
	// MergedF32 holds the GPU engine's recomposed W' in float32 (shaders.EngineOptions),
	// the exact reference, instead of Q8. Without it the GPU engine still does where
	// shaders.PreferMergedF32 says so (a small model on a CPU adapter), as the page does.
	MergedF32 bool
}

// openEngine loads src's model and opens the engine kind ("", "cpu" or "gpu") over it,
// saying on stderr which engine runs and why. The GPU engine runs packs, merged, with the
// expert or mixture set by SetZ; the model it returns then has no weights (the tokenizer,
// chat template and EOS only). close releases the engine and its device.
func openEngine(kind string, src *source, opt engineOptions, stderr io.Writer) (e model.Engine, m *model.Model, close func(), err error) {
	switch kind {
	case engineAuto, engineCPU, engineGPU:
	default:
		return nil, nil, nil, fmt.Errorf("--engine %q, want cpu or gpu", kind)
	}
	why := ""
	switch {
	case kind == engineCPU:
		why = "--engine cpu"
	case src.pack == "" || src.factored:
		if kind == engineGPU {
			return nil, nil, nil, errors.New("--engine gpu runs packs (--pack), recomposed: not --model or --factored")
		}
		why = "the GPU engine runs packs only, without --factored"
	default:
		d, derr := shaders.Open()
		if derr == nil && kind == engineAuto && d.Info().DeviceType == gputypes.DeviceTypeCPU {
			// A software rasterizer (lavapipe) is slower than the CPU engine
			// (ARCHITECTURE §4): take it only when asked for.
			why = fmt.Sprintf("the Vulkan adapter %s is a software one; --engine gpu uses it", d.Info().Name)
			d.Close()
			break
		}
		if derr == nil {
			e, m, err := openGPU(d, src, opt)
			if err != nil {
				d.Close()
				return nil, nil, nil, err
			}
			info := d.Info()
			fmt.Fprintf(stderr, "t2: engine gpu (%s, %s)\n", info.Name, info.Backend)
			return e, m, func() { e.Close(); d.Close() }, nil
		}
		if kind == engineGPU {
			return nil, nil, nil, fmt.Errorf("--engine gpu: %w", derr)
		}
		why = fmt.Sprintf("no GPU: %v", derr)
	}
	if m, err = src.load(); err != nil {
		return nil, nil, nil, err
	}
	cpu, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: opt.MaxSeqs, Context: opt.Context, Kernels: cpuKernels()})
	if err != nil {
		return nil, nil, nil, err
	}
	threads := fmt.Sprintf("%d threads", cpu.Threads())
	if cpu.Threads() == 1 {
		threads = "1 thread"
	}
	fmt.Fprintf(stderr, "t2: engine cpu (%s; %s kernels, %s)\n", why, cpu.Kernels().Name(), threads)
	return cpu, m, func() { cpu.Close() }, nil
}

// cpuKernels are the kernels of the native CPU engine: AVX2's on an amd64 CPU with AVX2,
// else Go's. A plain batch gives the same bits either way; a population of an int8 pack
// runs its int8 factored form with AVX2's, as the page's engine does, and the f32 one
// with Go's (model.CPU.Forward).
func cpuKernels() model.Kernels { return model.BestKernels() }

// openGPU loads src's pack into a GPU engine on d and applies its expert or mixture.
func openGPU(d *shaders.Device, src *source, opt engineOptions) (*shaders.Engine, *model.Model, error) {
	if src.expert != "" && src.mix != "" {
		return nil, nil, errors.New("give --expert or --mix, not both")
	}
	p, err := svf.OpenDir(src.pack)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.LoadText(os.DirFS(src.pack), p.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src.pack, err)
	}
	z, err := src.z(p)
	if err != nil {
		return nil, nil, err
	}
	e, err := shaders.NewEngine(d, p.Pack, shaders.EngineOptions{MaxSeqs: opt.MaxSeqs, Context: opt.Context, MergedF32: opt.MergedF32 || shaders.PreferMergedF32(d, p.Pack)})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src.pack, err)
	}
	if err := e.SetZ(z); err != nil {
		e.Close()
		return nil, nil, err
	}
	return e, m, nil
}
