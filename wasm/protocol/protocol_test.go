package protocol

import (
	"encoding/json"
	"testing"
)

func TestTypeOf(t *testing.T) {
	for _, tc := range []struct {
		data, typ string
		ok        bool
	}{
		{`{"type":"load","url":"models/default/"}`, TypeLoad, true},
		{`{"url":"x"}`, "", false},
		{`{"type":""}`, "", false},
		{`[1,2]`, "", false},
		{`not json`, "", false},
	} {
		typ, err := TypeOf([]byte(tc.data))
		if typ != tc.typ || (err == nil) != tc.ok {
			t.Errorf("TypeOf(%s) = %q, %v; want %q, ok %v", tc.data, typ, err, tc.typ, tc.ok)
		}
	}
}

// TestEncoding pins the field names the JavaScript side (worker.js, tests) relies on,
// and that zero values (token id 0) are sent.
func TestEncoding(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{Token{Type: TypeToken, ID: 0, Text: ""}, `{"type":"token","id":0,"text":""}`},
		{Generate{Type: TypeGenerate, Prompt: "hi", Chat: true, MaxTokens: 16}, `{"type":"generate","prompt":"hi","chat":true,"maxTokens":16,"temperature":0,"seed":0}`},
		{Done{Type: TypeDone, IDs: []int{1, 2}, Stopped: true, TokensPerSecond: 2.5}, `{"type":"done","ids":[1,2],"text":"","promptTokens":0,"stopped":true,"prefillTokensPerSecond":0,"tokensPerSecond":2.5}`},
		{Progress{Type: TypeProgress, File: "config.json", Loaded: 1, Total: -1}, `{"type":"progress","file":"config.json","loaded":1,"total":-1}`},
		{Error{Type: TypeError, Message: "x: HTTP 404 Not Found"}, `{"type":"error","message":"x: HTTP 404 Not Found"}`},
		{Load{Type: TypeLoad, URL: "models/default/"}, `{"type":"load","url":"models/default/"}`},
		{Load{Type: TypeLoad, URL: "p/", Engine: EngineGPU}, `{"type":"load","url":"p/","engine":"gpu"}`},
		{Adapter{Vendor: "google", Architecture: "swiftshader", Fallback: true, MaxStorageBinding: 1 << 30},
			`{"vendor":"google","architecture":"swiftshader","device":"","description":"","fallback":true,"maxStorageBinding":1073741824}`},
		{Bench{Type: TypeBench, Seconds: 2}, `{"type":"bench","seconds":2}`},
		{KernelSpeed{Name: "copy/64MiB", Runs: 3, Seconds: 0.5, GBps: 1.5}, `{"name":"copy/64MiB","runs":3,"seconds":0.5,"gbps":1.5}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("json.Marshal(%#v) = %s, %v; want %s", tc.v, b, err, tc.want)
		}
	}
}
