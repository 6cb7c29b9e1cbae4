//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"strings"
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
//
// A worker whose scripts fail to load (a network error on one of its importScripts while
// the page starts) fails before it has sent anything: it is started once more, and the
// requests sent to the first one are sent again, so that a passing hiccup does not end
// the page. A second failure, or any failure after the worker has spoken, is reported.
type engine struct {
	script, what string
	worker       safejs.Value
	onMsg, onErr safejs.Func

	mu        sync.Mutex
	pending   [][]byte      // messages not yet delivered, JSON
	wake      chan struct{} // has a value when pending may be non-empty
	heard     bool          // the worker has sent a message
	restarted bool          // the worker was started again after failing to start
	early     []request     // requests sent before the worker was heard, in order
}

// request is a message posted to the worker, with the files it carries (a Load or Train
// of a local folder; nil otherwise).
type request struct {
	v     any
	files map[string]safejs.Value
}

// startEngine starts the worker script (what names it in errors: "engine", "trainer")
// and calls deliver, from a goroutine, with the messages it sends. A failure of the
// worker itself (its script does not load) arrives as an error message.
func startEngine(script, what string, deliver func(msgs [][]byte)) (*engine, error) {
	e := &engine{script: script, what: what, wake: make(chan struct{}, 1)}
	var err error
	if e.onMsg, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if href, body, ok := protocol.Store(args[0]); ok {
			storeOffline(href, body)
			return nil
		}
		data, err := protocol.Data(args[0])
		if err != nil {
			data = errorMessage(err.Error())
		}
		e.mu.Lock()
		e.heard, e.early = true, nil
		e.mu.Unlock()
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
		if e.retry(msg) {
			// Handled: the page's console does not report it as uncaught.
			if _, err := args[0].Call("preventDefault"); err != nil {
				consoleLog("warn", err.Error())
			}
			return nil
		}
		e.queue(errorMessage(msg))
		return nil
	}); err != nil {
		return nil, err
	}
	if err := e.start(); err != nil {
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

// start creates the worker and listens to it. The first time, it takes the worker
// index.html started while ui.wasm loaded, when there is one, and handles the events
// that worker sent before, in order.
func (e *engine) start() error {
	worker, early := safejs.Undefined(), []safejs.Value(nil)
	if !e.restarted {
		var err error
		if worker, early, err = takeWorker(e.script); err != nil {
			return err
		}
	}
	if worker.IsUndefined() {
		ctor, err := safejs.Global().Get("Worker")
		if err != nil {
			return err
		}
		if worker, err = ctor.New(e.script, workerOptions()); err != nil {
			return fmt.Errorf("new Worker(%q): %w", e.script, err)
		}
	}
	e.worker = worker
	if err := e.worker.Set("onmessage", e.onMsg.Value()); err != nil {
		return err
	}
	if err := e.worker.Set("onerror", e.onErr.Value()); err != nil {
		return err
	}
	for _, ev := range early {
		handler := e.onMsg
		if isErr, err := ev.Get("error"); err == nil {
			if b, _ := isErr.Bool(); b {
				handler = e.onErr
			}
		}
		event, err := ev.Get("event")
		if err != nil {
			return err
		}
		if _, err := handler.Value().Invoke(event); err != nil {
			return fmt.Errorf("the %s worker's early event: %w", e.what, err)
		}
	}
	return nil
}

// workerOptions are the options of a new Worker the page asks for (t2cache.workerOptions:
// ?workers=1 names it so that it runs on one worker), or none.
func workerOptions() any {
	opts, err := global("t2cache", "workerOptions")
	if err != nil || opts.Type() != safejs.TypeObject {
		return safejs.Undefined()
	}
	return opts
}

// global is the value at the path of property names from the global object.
func global(names ...string) (safejs.Value, error) {
	v := safejs.Global()
	for _, n := range names {
		if v.Type() != safejs.TypeObject && v.Type() != safejs.TypeFunction {
			return safejs.Undefined(), fmt.Errorf("%s: not an object", strings.Join(names, "."))
		}
		var err error
		if v, err = v.Get(n); err != nil {
			return safejs.Undefined(), err
		}
	}
	return v, nil
}

// takeWorker returns the worker of script index.html started (window.t2TakeWorker) and
// the events it has sent since, {error, event} each; an undefined worker when there is
// none.
func takeWorker(script string) (safejs.Value, []safejs.Value, error) {
	take, err := safejs.Global().Get("t2TakeWorker")
	if err != nil || take.Type() != safejs.TypeFunction {
		return safejs.Undefined(), nil, err
	}
	w, err := take.Invoke(script)
	if err != nil || w.Type() != safejs.TypeObject {
		return safejs.Undefined(), nil, err
	}
	worker, err := w.Get("worker")
	if err != nil {
		return safejs.Undefined(), nil, err
	}
	events, err := w.Get("events")
	if err != nil {
		return safejs.Undefined(), nil, err
	}
	n, err := events.Length()
	if err != nil {
		return safejs.Undefined(), nil, err
	}
	out := make([]safejs.Value, n)
	for i := range out {
		if out[i], err = events.Index(i); err != nil {
			return safejs.Undefined(), nil, err
		}
	}
	return worker, out, nil
}

// retry starts the worker again, once, when it failed (msg) before sending anything,
// and sends it the requests the first one got. It reports whether it did.
func (e *engine) retry(msg string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.heard || e.restarted {
		return false
	}
	e.restarted = true
	consoleLog("warn", "the "+e.what+" worker failed to start; starting it again. "+msg)
	if _, err := e.worker.Call("terminate"); err != nil {
		consoleLog("warn", "terminating the "+e.what+" worker: "+err.Error())
	}
	if err := e.start(); err != nil {
		consoleLog("error", "starting the "+e.what+" worker again: "+err.Error())
		return false
	}
	for _, r := range e.early {
		if err := e.postLocked(r); err != nil {
			consoleLog("error", "sending to the "+e.what+" worker again: "+err.Error())
			return false
		}
	}
	return true
}

// send posts a request, one of package protocol's messages, to the worker.
func (e *engine) send(v any) error {
	return e.post(request{v: v})
}

// sendFiles posts a request with files (protocol.PostFiles).
func (e *engine) sendFiles(v any, files map[string]safejs.Value) error {
	return e.post(request{v: v, files: files})
}

func (e *engine) post(r request) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.heard {
		e.early = append(e.early, r)
	}
	return e.postLocked(r)
}

func (e *engine) postLocked(r request) error {
	if r.files != nil {
		return protocol.PostFiles(e.worker, r.v, r.files)
	}
	return protocol.Post(e.worker, r.v)
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

// storeOffline hands a shard the engine worker downloaded (protocol.PostStore) to sw.js
// through t2cache.store, which keeps it for offline use.
func storeOffline(href string, body safejs.Value) {
	callCache("keeping "+href+" for offline use", "store", href, body)
}

// warmOffline tells sw.js, through t2cache.warm, that the page has loaded, so it caches
// the shell files the first page did not need.
func warmOffline() {
	callCache("keeping the trainer for offline use", "warm")
}

// callCache calls t2cache's method (t2cache.js) with args; without a service worker it
// does nothing, and a failure is a warning on the console, naming what it was for.
func callCache(what, method string, args ...any) {
	c, err := safejs.Global().Get("t2cache")
	if err == nil && c.Type() == safejs.TypeObject {
		_, err = c.Call(method, args...)
	}
	if err != nil {
		consoleLog("warn", "t2web: "+what+": "+err.Error())
	}
}

func errorMessage(msg string) []byte {
	b, _ := json.Marshal(protocol.Error{Type: protocol.TypeError, Message: msg})
	return b
}
