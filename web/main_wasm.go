//go:build js && wasm

// The web command is the t2web page, ui.wasm: Vugu components mounted into index.html's
// #vugu_mount_point. The root (root.vugu, root.go) routes between the views, each a
// component in its own .vugu and .go pair — Chat (chat), FewShot (few-shot, with Train,
// train, inside it), Experts (experts), Results (results) and Model (model) — and holds
// what they share (Shared, shared.go) and the store (persist.go). The model runs elsewhere, in the
// engine worker (wasm/, started from worker.js); the page only sends it requests and
// shows its answers.
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
	gc := newIdleGC()
	for ok := true; ok; ok = renderer.EventWait() {
		if err := renderer.Render(buildEnv.RunBuild(root)); err != nil {
			panic(fmt.Errorf("render: %w", err))
		}
		gc.rendered()
	}
}
