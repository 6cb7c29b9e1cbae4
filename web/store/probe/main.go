//go:build js && wasm

// The probe command is a test page's handle on package store (build/e2e_offline_test.go):
// it sets the global t2probe, whose methods return promises of JSON text:
//
//	t2probe.put(kind, key, text)  t2probe.get(kind, key)  t2probe.list(kind)
//	t2probe.del(kind, key)        t2probe.packs()         t2probe.estimate()
//	t2probe.remove(url)
//
// and then t2probeReady(). A failure rejects the promise with the error's text.
package main

import (
	"encoding/json"
	"errors"

	"github.com/hack-pad/safejs"

	"github.com/t2web/t2web/web/store"
)

func main() {
	db, err := store.Open("t2web-probe")
	if err != nil {
		panic(err)
	}
	str := func(args []safejs.Value, i int) string {
		s, _ := args[i].String()
		return s
	}
	methods := map[string]func(args []safejs.Value) (any, error){
		"put": func(a []safejs.Value) (any, error) {
			return true, db.Put(store.Kind(str(a, 0)), str(a, 1), []byte(str(a, 2)))
		},
		"get": func(a []safejs.Value) (any, error) {
			b, err := db.Get(store.Kind(str(a, 0)), str(a, 1))
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return string(b), err
		},
		"list": func(a []safejs.Value) (any, error) { return db.List(store.Kind(str(a, 0))) },
		"del": func(a []safejs.Value) (any, error) {
			return true, db.Delete(store.Kind(str(a, 0)), str(a, 1))
		},
		"packs":    func([]safejs.Value) (any, error) { return store.Packs() },
		"estimate": func([]safejs.Value) (any, error) { return store.Estimate() },
		"remove":   func(a []safejs.Value) (any, error) { return store.RemovePack(str(a, 0)) },
	}
	probe := map[string]any{}
	for name, m := range methods {
		fn, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			return promise(func() (any, error) { return m(args) })
		})
		if err != nil {
			panic(err)
		}
		probe[name] = fn
	}
	if err := safejs.Global().Set("t2probe", probe); err != nil {
		panic(err)
	}
	if _, err := safejs.Global().Call("t2probeReady"); err != nil {
		panic(err)
	}
	select {}
}

// promise returns a Promise of f's result as JSON text, run on its own goroutine (store
// waits for promises: never in the callback itself).
func promise(f func() (any, error)) any {
	var executor safejs.Func
	executor, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		executor.Release() // the Promise constructor calls it once, at once
		resolve, reject := args[0], args[1]
		go func() {
			v, err := f()
			if err != nil {
				reject.Invoke(err.Error())
				return
			}
			b, _ := json.Marshal(v)
			resolve.Invoke(string(b))
		}()
		return nil
	})
	if err != nil {
		panic(err)
	}
	p, err := safejs.MustGetGlobal("Promise").New(executor.Value())
	if err != nil {
		panic(err)
	}
	return p
}
