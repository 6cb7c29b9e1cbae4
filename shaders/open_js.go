//go:build js && wasm

package shaders

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
	"github.com/hack-pad/safejs"
	"github.com/t2web/t2web/internal/promise"
)

// Open opens the browser's WebGPU adapter; OpenWeb also says what the browser reports
// about it. It must not run inside a js.FuncOf callback: requesting the adapter and
// device awaits promises.
func Open() (*Device, error) {
	d, _, err := OpenWeb()
	return d, err
}

// WebAdapter is the browser's description of its WebGPU adapter (GPUAdapterInfo), e.g.
// vendor "google", architecture "swiftshader", Fallback true for Chromium's software one.
type WebAdapter struct {
	Vendor       string `json:"vendor"`
	Architecture string `json:"architecture"`
	Device       string `json:"device"`
	Description  string `json:"description"`
	// Fallback is GPUAdapterInfo.isFallbackAdapter (or the older GPUAdapter
	// attribute), or a SwiftShader adapter that does not say.
	Fallback bool `json:"fallback"`
}

// Name is the most specific of the adapter's names.
func (a WebAdapter) Name() string {
	for _, s := range []string{a.Description, a.Device, a.Architecture, a.Vendor} {
		if s != "" {
			return s
		}
	}
	return "WebGPU adapter"
}

// Web is the browser's side of an open Device: its adapter's description and the
// errors WebGPU raised on it. In the browser a WebGPU error (an invalid WGSL module, a
// bad binding) is not returned by the call that caused it: it arrives later as an
// "uncapturederror" event, which Web collects.
type Web struct {
	Adapter WebAdapter

	mu     sync.Mutex
	errs   []string
	device js.Value // the GPUDevice, once made
}

// Wait blocks until the GPU has done all the work submitted so far
// (GPUQueue.onSubmittedWorkDone), however long that takes — Device.Sync gives up after
// minutes, which a software adapter may need to recompose a model's matrices — and
// returns the WebGPU errors so far. Like every wait, it must not run inside a js.FuncOf
// callback.
func (w *Web) Wait() error {
	w.mu.Lock()
	dev := w.device
	w.mu.Unlock()
	if dev.Truthy() {
		if _, err := promise.Await(safejs.Safe(dev.Get("queue").Call("onSubmittedWorkDone"))); err != nil {
			return fmt.Errorf("shaders: WebGPU: waiting for the queue: %w", err)
		}
	}
	return w.Err()
}

// Err returns the WebGPU errors raised on the device so far, nil when there are none.
func (w *Web) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) == 0 {
		return nil
	}
	return fmt.Errorf("shaders: WebGPU: %s", strings.Join(w.errs, "; "))
}

func (w *Web) add(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 8 {
		w.errs = append(w.errs, msg)
	}
}

// webHooks watch what gogpu/wgpu asks of navigator.gpu, which it does not expose: the
// adapter requestAdapter resolves to (for its GPUAdapterInfo) and the devices made from
// it (to listen for uncapturederror). Installed once; they report to the Web of the
// OpenWeb in progress.
var webHooks struct {
	once    sync.Once
	err     error
	mu      sync.Mutex
	adapter js.Value // the last adapter requestAdapter resolved to
	current *Web     // gets the errors of the devices made from here on
}

// OpenWeb opens the browser's WebGPU adapter, the one navigator.gpu.requestAdapter()
// gives by default, and a device with the adapter's limits. The Device's Info has the
// adapter's names and DeviceType CPU for a fallback adapter, whose matvec layout is the
// CPU one.
func OpenWeb() (*Device, *Web, error) {
	inst, err := wgpu.CreateInstance(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: WebGPU: %v", ErrNoAdapter, err)
	}
	if err := installWebHooks(); err != nil {
		return nil, nil, fmt.Errorf("%w: WebGPU: %v", ErrNoAdapter, err)
	}
	web := &Web{}
	webHooks.mu.Lock()
	webHooks.adapter, webHooks.current = js.Null(), web
	webHooks.mu.Unlock()
	adapter, err := inst.RequestAdapter(nil)
	if err != nil {
		inst.Release()
		return nil, nil, fmt.Errorf("%w: WebGPU: %v", ErrNoAdapter, err)
	}
	webHooks.mu.Lock()
	web.Adapter = describeAdapter(webHooks.adapter)
	webHooks.mu.Unlock()
	d, err := open(inst, adapter)
	if err != nil {
		adapter.Release()
		inst.Release()
		return nil, nil, fmt.Errorf("%w (adapter %s)", err, web.Adapter.Name())
	}
	d.info = wgpu.AdapterInfo{
		Name: web.Adapter.Name(), Vendor: web.Adapter.Vendor,
		Driver: web.Adapter.Architecture, DriverInfo: web.Adapter.Description,
		DeviceType: gputypes.DeviceTypeOther, Backend: gputypes.BackendBrowserWebGPU,
	}
	if web.Adapter.Fallback {
		d.info.DeviceType = gputypes.DeviceTypeCPU
	}
	d.matvec = matvecTuning(web.Adapter.Fallback)
	return d, web, nil
}

// installWebHooks wraps navigator.gpu.requestAdapter, once.
func installWebHooks() error {
	webHooks.once.Do(func() {
		webHooks.err = func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("hooking navigator.gpu: %v", p)
				}
			}()
			gpu := js.Global().Get("navigator").Get("gpu")
			if gpu.IsUndefined() || gpu.IsNull() {
				return errors.New("navigator.gpu is undefined")
			}
			onError := js.FuncOf(func(_ js.Value, args []js.Value) any {
				msg := "uncaptured WebGPU error"
				if len(args) > 0 {
					if e := args[0].Get("error"); !e.IsUndefined() && !e.IsNull() {
						msg = e.Get("message").String()
					}
				}
				js.Global().Get("console").Call("error", "WebGPU: "+msg)
				webHooks.mu.Lock()
				w := webHooks.current
				webHooks.mu.Unlock()
				if w != nil {
					w.add(msg)
				}
				return nil
			})
			onDevice := js.FuncOf(func(_ js.Value, args []js.Value) any {
				if len(args) > 0 && args[0].Truthy() {
					args[0].Call("addEventListener", "uncapturederror", onError)
					webHooks.mu.Lock()
					w := webHooks.current
					webHooks.mu.Unlock()
					if w != nil {
						w.mu.Lock()
						w.device = args[0]
						w.mu.Unlock()
					}
				}
				return nil
			})
			ignore := js.FuncOf(func(js.Value, []js.Value) any { return nil })
			requestDevice := js.Global().Get("GPUAdapter").Get("prototype").Get("requestDevice")
			onAdapter := js.FuncOf(func(_ js.Value, args []js.Value) any {
				if len(args) == 0 || !args[0].Truthy() {
					return nil
				}
				a := args[0]
				webHooks.mu.Lock()
				webHooks.adapter = a
				webHooks.mu.Unlock()
				// This adapter's devices get the error listener before anyone else
				// sees them: our then runs first, being registered first.
				a.Set("requestDevice", js.FuncOf(func(this js.Value, args []js.Value) any {
					p := requestDevice.Call("apply", this, jsArray(args))
					p.Call("then", onDevice, ignore)
					return p
				}))
				return nil
			})
			requestAdapter := gpu.Get("requestAdapter")
			gpu.Set("requestAdapter", js.FuncOf(func(this js.Value, args []js.Value) any {
				p := requestAdapter.Call("apply", this, jsArray(args))
				p.Call("then", onAdapter, ignore)
				return p
			}))
			return nil
		}()
	})
	return webHooks.err
}

func jsArray(args []js.Value) js.Value {
	a := js.Global().Get("Array").New()
	for _, v := range args {
		a.Call("push", v)
	}
	return a
}

// describeAdapter reads a GPUAdapter's GPUAdapterInfo.
func describeAdapter(a js.Value) WebAdapter {
	var w WebAdapter
	if !a.Truthy() {
		return w
	}
	str := func(v js.Value, key string) string {
		if s := v.Get(key); s.Type() == js.TypeString {
			return s.String()
		}
		return ""
	}
	if info := a.Get("info"); info.Truthy() {
		w.Vendor, w.Architecture = str(info, "vendor"), str(info, "architecture")
		w.Device, w.Description = str(info, "device"), str(info, "description")
		w.Fallback = info.Get("isFallbackAdapter").Truthy()
	}
	w.Fallback = w.Fallback || a.Get("isFallbackAdapter").Truthy()
	for _, s := range []string{w.Vendor, w.Architecture, w.Device, w.Description} {
		if strings.Contains(strings.ToLower(s), "swiftshader") {
			w.Fallback = true
		}
	}
	return w
}

// waitMap waits for a pending map: the browser resolves mapAsync's promise when the work
// submitted before it is done.
func (d *Device) waitMap(mp *wgpu.MapPending) error {
	return mp.Wait(context.Background())
}
