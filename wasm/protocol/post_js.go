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
