//go:build js && wasm

package shaders

import (
	"fmt"

	"github.com/gogpu/wgpu"
)

// Open opens the browser's WebGPU adapter. It must not run inside a js.FuncOf
// callback: requesting the adapter and device awaits promises.
func Open() (*Device, error) {
	inst, err := wgpu.CreateInstance(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: WebGPU: %v", ErrNoAdapter, err)
	}
	adapter, err := inst.RequestAdapter(nil)
	if err != nil {
		inst.Release()
		return nil, fmt.Errorf("%w: WebGPU: %v", ErrNoAdapter, err)
	}
	d, err := open(inst, adapter)
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, err
	}
	return d, nil
}
