//go:build js && wasm

package protocol

import (
	"fmt"
	"sync"

	"github.com/hack-pad/safejs"
)

// Listen installs handle as the worker's message handler and returns it (to keep): the
// worker script (goworker.js) holds the messages that arrived before the Go program
// started and hands them over with t2Ready; without it (another host), onmessage.
func Listen(handle func(this safejs.Value, args []safejs.Value) any) (safejs.Func, error) {
	fn, err := safejs.FuncOf(handle)
	if err != nil {
		return fn, err
	}
	scope := safejs.Global()
	ready, err := scope.Get("t2Ready")
	if err == nil && ready.Type() == safejs.TypeFunction {
		_, err = ready.Invoke(fn.Value())
	} else {
		err = scope.Set("onmessage", fn.Value())
	}
	if err != nil {
		return fn, fmt.Errorf("installing the message handler: %w", err)
	}
	return fn, nil
}

// Yielder gives the JavaScript event loop a turn: it posts a message to itself over a
// MessageChannel and blocks until it arrives. Every task queued before it (a "stop" from
// the page) runs first: how a worker busy in Go hears a stop, and how the page renders in
// a task of its own. Unlike setTimeout(0), a message is not clamped to 4 ms. Yield may be
// called from several goroutines: one message is in flight at a time.
type Yielder struct {
	mu      sync.Mutex   // held while a message is in flight
	port    safejs.Value // the sending end
	arrived chan struct{}
	fn      safejs.Func
}

func NewYielder() (*Yielder, error) {
	ctor, err := safejs.Global().Get("MessageChannel")
	if err != nil {
		return nil, err
	}
	mc, err := ctor.New()
	if err != nil {
		return nil, fmt.Errorf("new MessageChannel: %w", err)
	}
	y := &Yielder{arrived: make(chan struct{}, 1)}
	if y.fn, err = safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		select {
		case y.arrived <- struct{}{}:
		default:
		}
		return nil
	}); err != nil {
		return nil, err
	}
	recv, err := mc.Get("port1")
	if err != nil {
		return nil, err
	}
	if err := recv.Set("onmessage", y.fn.Value()); err != nil {
		return nil, err
	}
	if y.port, err = mc.Get("port2"); err != nil {
		return nil, err
	}
	return y, nil
}

// Yield returns after the JavaScript event loop has run the tasks queued so far.
func (y *Yielder) Yield() {
	y.mu.Lock()
	defer y.mu.Unlock()
	if _, err := y.port.Call("postMessage", nil); err != nil {
		return
	}
	<-y.arrived
}
