//go:build js && wasm

// Package promise waits for JavaScript promises from Go: the one way the page, its
// workers and the WebGPU engine block on a promise (fetch, file reads, the Cache API,
// WebGPU's queue).
package promise

import (
	"github.com/hack-pad/safejs"
)

// Error is a rejected promise's reason, or a DOM request's error: its name (e.g.
// "QuotaExceededError", "TypeError") and message, as JavaScript's Error has them.
type Error struct {
	Name, Message string
}

// Error is the message ("Failed to fetch"), or the name when there is none.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Message
}

// Reason turns a JavaScript value given as a rejection reason into an *Error: an
// Error's name and message, or any other value as text ("rejected" for undefined).
func Reason(v safejs.Value) *Error {
	if v.IsUndefined() || v.IsNull() {
		return &Error{Message: "rejected"}
	}
	e := &Error{}
	if n, err := v.Get("name"); err == nil && n.Type() == safejs.TypeString {
		e.Name, _ = n.String()
	}
	if m, err := v.Get("message"); err == nil && m.Type() == safejs.TypeString {
		e.Message, _ = m.String()
	}
	if e.Name == "" && e.Message == "" {
		s, err := safejs.Global().Call("String", v)
		if err == nil {
			e.Message, _ = s.String()
		}
	}
	return e
}

// Await blocks until the promise p settles and returns its value, or its rejection as
// an *Error. The calling goroutine must not be a js.FuncOf callback (the callbacks that
// settle p run on the event loop, which such a goroutine holds).
func Await(p safejs.Value) (safejs.Value, error) {
	type result struct {
		v   safejs.Value
		err error
	}
	ch := make(chan result, 1)
	onValue, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		ch <- result{v: arg0(args)}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer onValue.Release()
	onError, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		ch <- result{err: Reason(arg0(args))}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer onError.Release()
	if _, err := p.Call("then", onValue.Value(), onError.Value()); err != nil {
		return safejs.Value{}, err
	}
	r := <-ch
	return r.v, r.err
}

func arg0(args []safejs.Value) safejs.Value {
	if len(args) == 0 {
		return safejs.Undefined()
	}
	return args[0]
}
