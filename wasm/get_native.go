//go:build !(js && wasm)

package main

import "net/http"

// httpGet is the getter of native builds (tests): net/http with client.
func httpGet(client *http.Client) getter {
	return func(url string) (*response, error) {
		resp, err := client.Get(url)
		if err != nil {
			return nil, err
		}
		return &response{Code: resp.StatusCode, Status: resp.Status, Length: resp.ContentLength, Body: resp.Body}, nil
	}
}
