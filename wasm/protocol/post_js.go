//go:build js && wasm

package protocol

import (
	"encoding/json"
	"fmt"

	"github.com/hack-pad/safejs"
)

// Post sends v, one of this package's messages, to target (a Worker, or a worker's global
// scope) as a plain JavaScript object.
func Post(target safejs.Value, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	obj, err := jsonCall("parse", string(b))
	if err != nil {
		return err
	}
	if _, err := target.Call("postMessage", obj); err != nil {
		return fmt.Errorf("protocol: postMessage: %w", err)
	}
	return nil
}

// Data returns the JSON encoding of a MessageEvent's data.
func Data(event safejs.Value) ([]byte, error) {
	data, err := event.Get("data")
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	s, err := jsonCall("stringify", data)
	if err != nil {
		return nil, err
	}
	if s.Type() != safejs.TypeString {
		return nil, fmt.Errorf("protocol: message data is %s, not an object", data.Type())
	}
	str, err := s.String()
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	return []byte(str), nil
}

func jsonCall(method string, arg any) (safejs.Value, error) {
	j, err := safejs.Global().Get("JSON")
	if err != nil {
		return safejs.Value{}, fmt.Errorf("protocol: %w", err)
	}
	v, err := j.Call(method, arg)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("protocol: JSON.%s: %w", method, err)
	}
	return v, nil
}

// PostFiles is Post with files, JavaScript File or Blob objects by name, set as the
// message's "files" object (a Load of a local folder). They are cloned to the worker,
// not read.
func PostFiles(target safejs.Value, v any, files map[string]safejs.Value) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	obj, err := jsonCall("parse", string(b))
	if err != nil {
		return err
	}
	fs, err := safejs.MustGetGlobal("Object").New()
	if err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	for name, f := range files {
		if err := fs.Set(name, f); err != nil {
			return fmt.Errorf("protocol: files[%q]: %w", name, err)
		}
	}
	if err := obj.Set("files", fs); err != nil {
		return fmt.Errorf("protocol: %w", err)
	}
	if _, err := target.Call("postMessage", obj); err != nil {
		return fmt.Errorf("protocol: postMessage: %w", err)
	}
	return nil
}

// Files returns the "files" object of a MessageEvent's data (see PostFiles), by name;
// nil when it has none.
func Files(event safejs.Value) (map[string]safejs.Value, error) {
	data, err := event.Get("data")
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	fs, err := data.Get("files")
	if err != nil || fs.IsUndefined() || fs.IsNull() {
		return nil, err
	}
	keys, err := safejs.MustGetGlobal("Object").Call("keys", fs)
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	n, err := keys.Length()
	if err != nil {
		return nil, err
	}
	out := make(map[string]safejs.Value, n)
	for i := range n {
		k, err := keys.Index(i)
		if err != nil {
			return nil, err
		}
		name, err := k.String()
		if err != nil {
			return nil, err
		}
		if out[name], err = fs.Get(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PostStore sends target {type: "store", href, body}: a copy of data, a file downloaded
// from href, as an ArrayBuffer transferred (not cloned) with the message. The engine
// worker sends each pack shard it fetched from the network so that the page hands it to
// sw.js to keep for offline use (t2cache.store): sw.js streams a shard to the worker
// without keeping a copy, since a copy made while streaming slows the download several
// times (a JavaScript-fed stream in 64 KiB chunks).
func PostStore(target safejs.Value, href string, data []byte) error {
	u8, err := safejs.MustGetGlobal("Uint8Array").New(len(data))
	if err != nil {
		return fmt.Errorf("protocol: store %s: %w", href, err)
	}
	if _, err := safejs.CopyBytesToJS(u8, data); err != nil {
		return fmt.Errorf("protocol: store %s: %w", href, err)
	}
	buf, err := u8.Get("buffer")
	if err != nil {
		return fmt.Errorf("protocol: store %s: %w", href, err)
	}
	obj, err := safejs.MustGetGlobal("Object").New()
	if err != nil {
		return fmt.Errorf("protocol: store %s: %w", href, err)
	}
	for k, v := range map[string]any{"type": TypeStore, "href": href, "body": buf} {
		if err := obj.Set(k, v); err != nil {
			return fmt.Errorf("protocol: store %s: %w", href, err)
		}
	}
	arr, err := safejs.MustGetGlobal("Array").New()
	if err != nil {
		return fmt.Errorf("protocol: store %s: %w", href, err)
	}
	if _, err := arr.Call("push", buf); err != nil {
		return fmt.Errorf("protocol: store %s: %w", href, err)
	}
	if _, err := target.Call("postMessage", obj, arr); err != nil {
		return fmt.Errorf("protocol: store %s: postMessage: %w", href, err)
	}
	return nil
}

// Store returns the href and body of a MessageEvent's data when it is a PostStore
// message (ok false otherwise); body stays a JavaScript ArrayBuffer.
func Store(event safejs.Value) (href string, body safejs.Value, ok bool) {
	data, err := event.Get("data")
	if err != nil || data.Type() != safejs.TypeObject {
		return "", safejs.Value{}, false
	}
	field := func(name string) string {
		v, err := data.Get(name)
		if err != nil || v.Type() != safejs.TypeString {
			return ""
		}
		s, _ := v.String()
		return s
	}
	if field("type") != TypeStore {
		return "", safejs.Value{}, false
	}
	if body, err = data.Get("body"); err != nil {
		return "", safejs.Value{}, false
	}
	return field("href"), body, true
}
