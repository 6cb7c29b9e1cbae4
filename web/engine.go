//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/hack-pad/safejs"

	"github.com/t2web/t2web/wasm/protocol"
)

// engine is the page's end of a Go worker: the engine (wasm/, started by worker.js) or
// the trainer (wasm/trainer, started by trainer.js).
//
// The worker's messages arrive in JavaScript callbacks, which must not block; they are
// queued, and one goroutine hands them to deliver in order, in batches (one render per
// batch, however fast tokens stream).
type engine struct {
	worker       safejs.Value
	onMsg, onErr safejs.Func

	mu      sync.Mutex
	pending [][]byte      // messages not yet delivered, JSON
	wake    chan struct{} // has a value when pending may be non-empty
}

// startEngine starts the worker script (what names it in errors: "engine", "trainer")
// and calls deliver, from a goroutine, with the messages it sends. A failure of the
// worker itself (its script does not load) arrives as an error message.
func startEngine(script, what string, deliver func(msgs [][]byte)) (*engine, error) {
	e := &engine{wake: make(chan struct{}, 1)}
	ctor, err := safejs.Global().Get("Worker")
	if err != nil {
		return nil, err
	}
	if e.worker, err = ctor.New(script); err != nil {
		return nil, fmt.Errorf("new Worker(%q): %w", script, err)
	}
	if e.onMsg, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		data, err := protocol.Data(args[0])
		if err != nil {
			data = errorMessage(err.Error())
		}
		e.queue(data)
		return nil
	}); err != nil {
		return nil, err
	}
	if e.onErr, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		msg := "the " + what + " worker failed (see the console)"
		if m, err := args[0].Get("message"); err == nil && m.Type() == safejs.TypeString {
			s, _ := m.String()
			msg = what + " worker: " + s
		}
		e.queue(errorMessage(msg))
		return nil
	}); err != nil {
		return nil, err
	}
	if err := e.worker.Set("onmessage", e.onMsg.Value()); err != nil {
		return nil, err
	}
	if err := e.worker.Set("onerror", e.onErr.Value()); err != nil {
		return nil, err
	}
	go func() {
		for {
			<-e.wake
			e.mu.Lock()
			msgs := e.pending
			e.pending = nil
			e.mu.Unlock()
			if len(msgs) > 0 {
				deliver(msgs)
			}
		}
	}()
	return e, nil
}

// send posts a request, one of package protocol's messages, to the worker.
func (e *engine) send(v any) error {
	return protocol.Post(e.worker, v)
}

func (e *engine) queue(data []byte) {
	e.mu.Lock()
	e.pending = append(e.pending, data)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func errorMessage(msg string) []byte {
	b, _ := json.Marshal(protocol.Error{Type: protocol.TypeError, Message: msg})
	return b
}
