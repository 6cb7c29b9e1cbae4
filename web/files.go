//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/hack-pad/safejs"
	"github.com/t2web/t2web/internal/promise"
	vjs "github.com/vugu/vugu/js"
)

// file is a File of a drop or a file field.
type file struct {
	name string
	v    js.Value
}

// filesOf returns the files of v's "files" (a DataTransfer or an <input type=file>).
func filesOf(v vjs.Value) []file {
	jv := js.Value(v)
	if jv.IsUndefined() || jv.IsNull() {
		return nil
	}
	list := jv.Get("files")
	if list.IsUndefined() || list.IsNull() {
		return nil
	}
	out := make([]file, list.Length())
	for i := range out {
		f := list.Index(i)
		out[i] = file{name: f.Get("name").String(), v: f}
	}
	return out
}

// size is the file's size in bytes.
func (f file) size() int64 { return int64(f.v.Get("size").Float()) }

// bytes reads the file. It waits for a promise: call it from a goroutine, never from an
// event handler.
func (f file) bytes() ([]byte, error) {
	buf, err := await(f.v.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	u8 := js.Global().Get("Uint8Array").New(buf)
	data := make([]byte, u8.Length())
	js.CopyBytesToGo(data, u8)
	return data, nil
}

// await waits for the promise p (see promise.Await) and returns its value, for the
// page's code that still holds syscall/js values.
func await(p js.Value) (js.Value, error) {
	v, err := promise.Await(safejs.Safe(p))
	return safejs.Unsafe(v), err
}

// download offers data to the user as a file called name.
func download(name string, data []byte) error {
	u8 := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	blob := js.Global().Get("Blob").New([]any{u8}, map[string]any{"type": "application/octet-stream"})
	url := js.Global().Get("URL").Call("createObjectURL", blob)
	doc := js.Global().Get("document")
	a := doc.Call("createElement", "a")
	a.Set("href", url)
	a.Set("download", name)
	a.Set("hidden", true)
	doc.Get("body").Call("appendChild", a)
	a.Call("click")
	a.Call("remove")
	// The download has its own copy once it started; free the URL a little later.
	js.Global().Call("setTimeout", js.Global().Get("URL").Get("revokeObjectURL").Call("bind", js.Global().Get("URL"), url), 60000)
	if url.Type() != js.TypeString {
		return fmt.Errorf("download %s: no object URL", name)
	}
	return nil
}

// ignore is a rejection handler that drops the reason (a clipboard write the browser
// refuses is not worth an error on the console).
var ignore = js.FuncOf(func(js.Value, []js.Value) any { return nil })

// copyText puts text on the clipboard when the browser allows it.
func copyText(text string) {
	clip := js.Global().Get("navigator").Get("clipboard")
	if clip.IsUndefined() {
		return
	}
	clip.Call("writeText", text).Call("catch", ignore)
}
