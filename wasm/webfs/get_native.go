//go:build !(js && wasm)

package webfs

import "net/http"

// HTTPGet is the Getter of native builds (tests): net/http with client.
func HTTPGet(client *http.Client) Getter {
	return func(url string) (*Response, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		return &Response{Code: resp.StatusCode, Status: resp.Status, Length: resp.ContentLength, Body: resp.Body}, nil
	}
}
