//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/hack-pad/safejs"
	vjs "github.com/vugu/vugu/js"

	"github.com/t2web/t2web/internal/promise"
)

// file is a File of a drop or a file field.
type file struct {
	name string
	v    safejs.Value
}

// fromVugu turns a value of a Vugu event (syscall/js underneath) into a safejs one: the
// one place the page crosses from Vugu's JavaScript values to safejs.
func fromVugu(v vjs.Value) safejs.Value { return safejs.Safe(js.Value(v)) }

// filesOf returns the files of v's "files" (a DataTransfer or an <input type=file>).
func filesOf(v safejs.Value) ([]file, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	list, err := v.Get("files")
	if err != nil || list.IsUndefined() || list.IsNull() {
		return nil, err
	}
	n, err := list.Length()
	if err != nil {
		return nil, err
	}
	out := make([]file, n)
	for i := range out {
		f, err := list.Index(i)
		if err != nil {
			return nil, err
		}
		name, err := getString(f, "name")
		if err != nil {
			return nil, err
		}
		out[i] = file{name: name, v: f}
	}
	return out, nil
}

// size is the file's size in bytes.
func (f file) size() (int64, error) {
	s, err := f.v.Get("size")
	if err != nil {
		return 0, err
	}
	n, err := s.Float()
	return int64(n), err
}

// bytes reads the file. It waits for a promise: call it from a goroutine, never from an
// event handler.
func (f file) bytes() ([]byte, error) {
	p, err := f.v.Call("arrayBuffer")
	if err != nil {
		return nil, err
	}
	buf, err := promise.Await(p)
	if err != nil {
		return nil, err
	}
	return bytesOf(buf)
}

// bytesOf copies an ArrayBuffer into Go.
func bytesOf(buf safejs.Value) ([]byte, error) {
	u8, err := safejs.MustGetGlobal("Uint8Array").New(buf)
	if err != nil {
		return nil, err
	}
	n, err := u8.Length()
	if err != nil {
		return nil, err
	}
	data := make([]byte, n)
	_, err = safejs.CopyBytesToGo(data, u8)
	return data, err
}

// download offers data to the user as a file called name.
func download(name string, data []byte) error {
	u8, err := safejs.MustGetGlobal("Uint8Array").New(len(data))
	if err != nil {
		return err
	}
	if _, err := safejs.CopyBytesToJS(u8, data); err != nil {
		return err
	}
	blob, err := safejs.MustGetGlobal("Blob").New([]any{u8}, map[string]any{"type": "application/octet-stream"})
	if err != nil {
		return err
	}
	urls := safejs.MustGetGlobal("URL")
	url, err := urls.Call("createObjectURL", blob)
	if err != nil || url.Type() != safejs.TypeString {
		return fmt.Errorf("download %s: no object URL (%v)", name, err)
	}
	doc := safejs.MustGetGlobal("document")
	a, err := doc.Call("createElement", "a")
	if err != nil {
		return err
	}
	for k, v := range map[string]any{"href": url, "download": name, "hidden": true} {
		if err := a.Set(k, v); err != nil {
			return err
		}
	}
	body, err := doc.Get("body")
	if err != nil {
		return err
	}
	if _, err := body.Call("appendChild", a); err != nil {
		return err
	}
	if _, err := a.Call("click"); err != nil {
		return err
	}
	a.Call("remove")
	// The download has its own copy once it started; free the URL a little later.
	revoke, err := urls.Get("revokeObjectURL")
	if err != nil {
		return err
	}
	later, err := revoke.Call("bind", urls, url)
	if err != nil {
		return err
	}
	_, err = safejs.MustGetGlobal("setTimeout").Invoke(later, 60000)
	return err
}

// copyText puts text on the clipboard when the browser allows it; a refusal is dropped
// (not worth an error on the console).
func copyText(text string) {
	nav := safejs.MustGetGlobal("navigator")
	clip, err := nav.Get("clipboard")
	if err != nil || clip.IsUndefined() {
		return
	}
	p, err := clip.Call("writeText", text)
	if err != nil {
		return
	}
	go promise.Await(p) // settles the promise, so that a refusal is handled
}

// getString returns v[name] as a string.
func getString(v safejs.Value, name string) (string, error) {
	f, err := v.Get(name)
	if err != nil {
		return "", err
	}
	return f.String()
}
