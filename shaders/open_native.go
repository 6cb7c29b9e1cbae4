//go:build !(js && wasm)

package shaders

import (
	"context"
	"fmt"
	"time"

	"github.com/gogpu/wgpu"

	// The Vulkan HAL only: never the pure-Go software backend, which silently
	// miscomputes workgroup memory, barriers and the pack/unpack built-ins.
	_ "github.com/gogpu/wgpu/hal/vulkan"
)

// Open opens the first Vulkan adapter (a real GPU before a CPU one such as Mesa's
// lavapipe). It fails when there is none, and fails loudly if wgpu hands back an
// adapter of another backend.
func Open() (*Device, error) {
	inst, err := wgpu.CreateInstance(&wgpu.InstanceDescriptor{Backends: wgpu.BackendsVulkan})
	if err != nil {
		return nil, fmt.Errorf("shaders: Vulkan instance: %w", err)
	}
	adapter, err := inst.RequestAdapter(nil)
	if err != nil {
		inst.Release()
		return nil, fmt.Errorf("%w: Vulkan: %v (%s)", ErrNoAdapter, err, VulkanHint())
	}
	if b := adapter.Info().Backend; b != wgpu.BackendVulkan {
		info := adapter.Info()
		adapter.Release()
		inst.Release()
		return nil, fmt.Errorf("shaders: asked for Vulkan, got adapter %q on backend %s: refusing it", info.Name, b)
	}
	d, err := open(inst, adapter)
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, err
	}
	return d, nil
}

// waitMap waits for a pending map by polling the device's fence: it resolves when the
// submission before it is done, while later work may still run (wgpu's PollWait would
// wait for the whole queue).
func (d *Device) waitMap(mp *wgpu.MapPending) error {
	deadline := time.Now().Add(5 * time.Minute)
	sleep := 20 * time.Microsecond
	for {
		d.dev.Poll(wgpu.PollPoll)
		if done, err := mp.Status(); done {
			return err
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return mp.Wait(ctx)
		}
		time.Sleep(sleep)
		sleep = min(2*sleep, 500*time.Microsecond)
	}
}
