//go:build js && wasm

// The web command is the t2web page, ui.wasm: Vugu components (root.vugu) mounted into
// index.html's #vugu_mount_point. The model runs elsewhere, in the engine worker
// (wasm/, started from worker.js); the page only sends it requests and shows its answers.
//
// The *_gen.go files are generated from the .vugu files; after changing one, run
//
//	GOOS=js GOARCH=wasm go generate ./web
//
// It runs vugugen (built for the host: GOOS= GOARCH=) and puts "//go:build js && wasm"
// first in each generated file (vugu issue #330), so that native go build ./... and
// go vet ./... skip this package.
//
//go:generate sh -c "GOOS= GOARCH= go tool vugugen -skip-go-mod -skip-main . && sed -i '1i //go:build js \\&\\& wasm\\n' *_gen.go && gofmt -w *_gen.go"
package main

import (
	"fmt"
	"syscall/js"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"
)

func main() {
	renderer, err := domrender.New("#vugu_mount_point")
	if err != nil {
		panic(err)
	}
	defer renderer.Release()

	buildEnv, err := vugu.NewBuildEnv(renderer.EventEnv())
	if err != nil {
		panic(err)
	}
	root := &Root{}
	startNextTask()
	for ok := true; ok; ok = renderer.EventWait() {
		if err := renderer.Render(buildEnv.RunBuild(root)); err != nil {
			panic(fmt.Errorf("render: %w", err))
		}
	}
}

// nextTaskCh receives a value from a MessageChannel's onmessage: a new task of the
// browser's event loop. (time.Sleep does not end the task: a timer that expired while
// goroutines ran is run in the same task.)
var (
	nextTaskCh   = make(chan struct{}, 1)
	nextTaskPort js.Value
)

func startNextTask() {
	mc := js.Global().Get("MessageChannel").New()
	mc.Get("port1").Set("onmessage", js.FuncOf(func(js.Value, []js.Value) any {
		select {
		case nextTaskCh <- struct{}{}:
		default:
		}
		return nil
	}))
	nextTaskPort = mc.Get("port2")
}

// nextTask returns in a new task of the browser's event loop, after the tasks queued
// before it.
func nextTask() {
	nextTaskPort.Call("postMessage", nil)
	<-nextTaskCh
}
