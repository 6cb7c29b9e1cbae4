//go:build js && wasm

package shaders

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

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

// ErrDeviceLost says that the browser's GPU device went away under a running engine: its
// GPU process crashed or its driver was reset. The engine cannot be used again.
var ErrDeviceLost = errors.New("the WebGPU device was lost")

// Web is the browser's side of an open Device: its adapter's description and the
// errors WebGPU raised on it. In the browser a WebGPU error (an invalid WGSL module, a
// bad binding) is not returned by the call that caused it: it arrives later as an
// "uncapturederror" event, which Web collects.
type Web struct {
	Adapter WebAdapter
	// OnLost, when set, is called once if the device is lost (GPUDevice.lost resolves for
	// a reason other than this package destroying it), with the error Lost returns. It
	// runs inside a JavaScript callback: it must not block.
	OnLost func(error)

	mu     sync.Mutex
	errs   []string
	device safejs.Value // the GPUDevice, once made
	lost   error        // why the device was lost, nil while it lives
}

// Lost returns why the device was lost, wrapping ErrDeviceLost, or nil while it lives.
func (w *Web) Lost() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// setLost records the GPUDeviceLostInfo info and calls OnLost. A device this package
// destroyed (reason "destroyed", from Device.Close) is not lost to anyone.
func (w *Web) setLost(info safejs.Value) {
	reason, message := "unknown", ""
	if v, err := info.Get("reason"); err == nil && v.Type() == safejs.TypeString {
		reason, _ = v.String()
	}
	if v, err := info.Get("message"); err == nil && v.Type() == safejs.TypeString {
		message, _ = v.String()
	}
	if reason == "destroyed" {
		return
	}
	err := fmt.Errorf("%w (%s: %s)", ErrDeviceLost, reason, message)
	w.mu.Lock()
	first := w.lost == nil
	if first {
		w.lost = err
	}
	onLost := w.OnLost
	w.mu.Unlock()
	if first && onLost != nil {
		onLost(err)
	}
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
	if ok, _ := dev.Truthy(); ok {
		if err := waitQueue(dev); err != nil {
			return fmt.Errorf("shaders: WebGPU: waiting for the queue: %w", err)
		}
	}
	return w.Err()
}

// waitQueue waits for the work submitted to the GPUDevice dev so far.
func waitQueue(dev safejs.Value) error {
	q, err := dev.Get("queue")
	if err != nil {
		return err
	}
	p, err := q.Call("onSubmittedWorkDone")
	if err != nil {
		return err
	}
	_, err = promise.Await(p)
	return err
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
	adapter safejs.Value // the last adapter requestAdapter resolved to
	current *Web         // gets the errors of the devices made from here on
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
	webHooks.adapter, webHooks.current = safejs.Null(), web
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
	d.rowsWide = web.Adapter.Fallback // Chromium's is SwiftShader (rows.wgsl's wide entry)
	return d, web, nil
}

// installWebHooks wraps navigator.gpu.requestAdapter, once.
func installWebHooks() error {
	webHooks.once.Do(func() { webHooks.err = hookRequestAdapter() })
	return webHooks.err
}

// hookRequestAdapter replaces navigator.gpu.requestAdapter with a function that records
// the adapter it resolves to and makes that adapter's requestDevice add an
// uncapturederror listener to each device. The callbacks live as long as the page.
func hookRequestAdapter() error {
	nav, err := safejs.Global().Get("navigator")
	if err != nil {
		return err
	}
	gpu, err := nav.Get("gpu")
	if err != nil || gpu.IsUndefined() || gpu.IsNull() {
		return errors.New("navigator.gpu is undefined")
	}
	current := func() *Web {
		webHooks.mu.Lock()
		defer webHooks.mu.Unlock()
		return webHooks.current
	}
	onError, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		msg := "uncaptured WebGPU error"
		if len(args) > 0 {
			if e, err := args[0].Get("error"); err == nil && !e.IsUndefined() && !e.IsNull() {
				if m, err := e.Get("message"); err == nil && m.Type() == safejs.TypeString {
					msg, _ = m.String()
				}
			}
		}
		if console, err := safejs.Global().Get("console"); err == nil {
			console.Call("error", "WebGPU: "+msg)
		}
		if w := current(); w != nil {
			w.add(msg)
		}
		return nil
	})
	if err != nil {
		return err
	}
	onDevice, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) == 0 {
			return nil
		}
		if ok, _ := args[0].Truthy(); !ok {
			return nil
		}
		dev := args[0]
		if _, err := dev.Call("addEventListener", "uncapturederror", onError.Value()); err != nil {
			fmt.Fprintln(os.Stderr, "shaders: WebGPU: listening for the device's errors:", err)
		}
		w := current()
		if w == nil {
			return nil
		}
		w.mu.Lock()
		w.device = dev
		w.mu.Unlock()
		// GPUDevice.lost resolves once, when the device goes away (a crashed GPU process,
		// a driver reset, or Device.Close's destroy); the function lives as long as the
		// page, like the device's other listeners.
		onLost, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			if len(args) > 0 {
				w.setLost(args[0])
			}
			return nil
		})
		if err == nil {
			var lost safejs.Value
			if lost, err = dev.Get("lost"); err == nil {
				_, err = lost.Call("then", onLost.Value())
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "shaders: WebGPU: listening for the device's loss:", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ignore, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any { return nil })
	if err != nil {
		return err
	}
	// wrap returns a function that calls orig with the same this and arguments, passes
	// its promise's value to then (rejections ignored: the caller sees them) and returns
	// the promise.
	wrap := func(orig safejs.Value, then safejs.Func) (safejs.Func, error) {
		return safejs.FuncOf(func(this safejs.Value, args []safejs.Value) any {
			list := make([]any, len(args))
			for i, a := range args {
				list[i] = a
			}
			p, err := orig.Call("apply", this, list)
			if err != nil {
				return nil
			}
			p.Call("then", then.Value(), ignore.Value())
			return p
		})
	}
	proto, err := safejs.Global().Get("GPUAdapter")
	if err == nil {
		proto, err = proto.Get("prototype")
	}
	if err != nil {
		return err
	}
	requestDevice, err := proto.Get("requestDevice")
	if err != nil {
		return err
	}
	onAdapter, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) == 0 {
			return nil
		}
		if ok, _ := args[0].Truthy(); !ok {
			return nil
		}
		a := args[0]
		webHooks.mu.Lock()
		webHooks.adapter = a
		webHooks.mu.Unlock()
		// This adapter's devices get the error listener before anyone else sees them:
		// our then runs first, being registered first.
		if f, err := wrap(requestDevice, onDevice); err == nil {
			a.Set("requestDevice", f.Value())
		}
		return nil
	})
	if err != nil {
		return err
	}
	requestAdapter, err := gpu.Get("requestAdapter")
	if err != nil {
		return err
	}
	f, err := wrap(requestAdapter, onAdapter)
	if err != nil {
		return err
	}
	return gpu.Set("requestAdapter", f.Value())
}

// describeAdapter reads a GPUAdapter's GPUAdapterInfo.
func describeAdapter(a safejs.Value) WebAdapter {
	var w WebAdapter
	if ok, _ := a.Truthy(); !ok {
		return w
	}
	str := func(v safejs.Value, key string) string {
		if s, err := v.Get(key); err == nil && s.Type() == safejs.TypeString {
			t, _ := s.String()
			return t
		}
		return ""
	}
	truthy := func(v safejs.Value, key string) bool {
		x, err := v.Get(key)
		if err != nil {
			return false
		}
		ok, _ := x.Truthy()
		return ok
	}
	if info, err := a.Get("info"); err == nil {
		if ok, _ := info.Truthy(); ok {
			w.Vendor, w.Architecture = str(info, "vendor"), str(info, "architecture")
			w.Device, w.Description = str(info, "device"), str(info, "description")
			w.Fallback = truthy(info, "isFallbackAdapter")
		}
	}
	w.Fallback = w.Fallback || truthy(a, "isFallbackAdapter")
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
