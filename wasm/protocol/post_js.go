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
