//go:build js && wasm

package main

import (
	"fmt"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/simd"
	"github.com/t2web/t2web/shaders"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/wasm/webfs"
)

// gpuDevice is the browser's WebGPU device and what the browser says about it.
type gpuDevice struct {
	*shaders.Device
	web *shaders.Web
}

// opened is a model on an engine, ready to generate.
type opened struct {
	m       *model.Model // tokenizer, chat template, EOS (and the weights, on the CPU engine)
	e       model.Engine
	dev     *gpuDevice // the GPU engine's device, else nil
	kind    string     // protocol.EngineCPU or protocol.EngineGPU
	reason  string     // why the CPU engine runs, unless asked for
	kernels string     // the CPU engine's kernels, by name
	workers int        // the CPU engine's workers (simd.Workers), 1 with Go's kernels
	adapter *protocol.Adapter
	// mergedF32: the GPU engine holds an int8 pack's W' in float32
	// (shaders.PreferMergedF32).
	mergedF32 bool
}

// openEngine loads the folder fsys — pack p, or a checkpoint folder when p is nil — on
// the engine kind asks for:
//
//   - EngineAuto: WebGPU when the browser has an adapter that is not a software
//     fallback (ARCHITECTURE §4: SwiftShader is far slower than the wasm CPU engine) and
//     the folder is a pack; otherwise the CPU engine, with the reason.
//   - EngineGPU: WebGPU on whatever adapter there is; an error without one or for a
//     checkpoint folder.
//   - EngineCPU: the CPU engine.
//
// *streamed is true while the GPU engine loads, which drops each shard once it is on the
// device (the worker's Downloaded hook hands such a shard to sw.js at once).
func openEngine(kind, kernels string, fsys *webfs.FS, p *svf.Pack, streamed *bool) (o opened, err error) {
	o.kind = protocol.EngineCPU
	if kind == protocol.EngineCPU {
		o.reason = "engine=cpu asked for"
	} else {
		d, web, err := shaders.OpenWeb()
		if err != nil {
			if kind == protocol.EngineGPU {
				return o, fmt.Errorf("engine=gpu: %w", err)
			}
			o.reason = "no WebGPU adapter: " + strings.TrimPrefix(err.Error(), shaders.ErrNoAdapter.Error()+": WebGPU: ")
		} else {
			dev := &gpuDevice{Device: d, web: web}
			o.adapter = adapterOf(dev)
			switch {
			case p == nil && kind == protocol.EngineGPU:
				d.Close()
				return o, fmt.Errorf("engine=gpu: the GPU engine runs packs, and %s has no pack.json", fsys.Display)
			case p == nil:
				o.reason = "the GPU engine runs packs only; this is a checkpoint folder: CPU engine"
			case web.Adapter.Fallback && kind == protocol.EngineAuto:
				o.reason = fmt.Sprintf("WebGPU adapter is a software fallback (%s): CPU engine; ?engine=gpu uses it", web.Adapter.Name())
			default:
				*streamed = true
				err := openGPU(&o, dev, fsys, p)
				*streamed = false
				if err == nil {
					return o, nil
				}
				if kind == protocol.EngineGPU {
					d.Close()
					return o, fmt.Errorf("engine=gpu: %w", err)
				}
				o.reason = fmt.Sprintf("the WebGPU engine failed (%v): CPU engine", err)
			}
			d.Close()
		}
	}
	kern, err := simd.Pick(kernels)
	if err != nil {
		return o, err
	}
	o.kernels, o.workers = kern.Name(), 1
	if _, ok := kern.(*simd.Kernels); ok {
		o.workers = simd.Workers()
	}
	if p != nil {
		// An int8 pack stays int8: merged W' and activations quantised per block.
		o.m, err = p.LoadInt8(kern)
	} else {
		o.m, err = model.Load(fsys)
	}
	if err != nil {
		return o, err
	}
	seqs, context := engineSeqs(o.m.Config, p)
	if o.e, err = model.NewCPU(o.m, model.CPUOptions{MaxSeqs: seqs, Context: context, Kernels: kern}); err != nil {
		return o, err
	}
	return o, nil
}

// openGPU loads pack p into a GPU engine on dev, the shards streamed to the device and
// not kept in memory.
func openGPU(o *opened, dev *gpuDevice, fsys *webfs.FS, p *svf.Pack) error {
	m, err := model.LoadText(fsys, p.Config)
	if err != nil {
		return err
	}
	seqs, context := engineSeqs(p.Config, p)
	f32 := shaders.PreferMergedF32(dev.Device, p.Pack)
	e, err := shaders.NewEngine(dev.Device, p.Pack, shaders.EngineOptions{MaxSeqs: seqs, Context: context, MergedF32: f32})
	if err == nil {
		// The recomposition of the adapted matrices at z = 1 is under way: a software
		// adapter may take minutes.
		if err = dev.web.Wait(); err != nil {
			e.Close()
		}
	}
	if err != nil {
		return err
	}
	o.m, o.e, o.dev, o.kind, o.reason, o.mergedF32 = m, e, dev, protocol.EngineGPU, "", f32
	return nil
}

// adapterOf describes dev's adapter for the page.
func adapterOf(dev *gpuDevice) *protocol.Adapter {
	a := dev.web.Adapter
	return &protocol.Adapter{
		Vendor: a.Vendor, Architecture: a.Architecture, Device: a.Device, Description: a.Description,
		Fallback: a.Fallback, MaxStorageBinding: int64(dev.Limits().MaxStorageBufferBindingSize),
	}
}

// bench times the GPU kernels on the loaded engine's device, or on a device opened for
// the purpose, and posts a BenchResult.
func (w *worker) bench(req protocol.Bench) error {
	dev := w.dev
	if dev == nil {
		d, web, err := shaders.OpenWeb()
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		dev = &gpuDevice{Device: d, web: web}
		defer d.Close()
	}
	seconds := req.Seconds
	if seconds <= 0 {
		seconds = 1
	}
	ks, err := shaders.BenchKernels(dev.Device, seconds)
	if err == nil {
		err = dev.web.Err()
	}
	if err != nil {
		return err
	}
	res := protocol.BenchResult{Type: protocol.TypeBenchResult, Adapter: adapterOf(dev)}
	for _, k := range ks {
		s := protocol.KernelSpeed{Name: k.Name, Runs: k.Runs, Seconds: k.Seconds}
		if k.Bytes > 0 {
			s.GBps = k.GBps()
		}
		if k.Flops > 0 {
			s.GFLOPs = k.GFLOPs()
		}
		res.Kernels = append(res.Kernels, s)
	}
	w.post(res)
	return nil
}
