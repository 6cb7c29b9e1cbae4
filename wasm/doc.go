// The wasm command is the t2web page's engine worker, engine.wasm: it runs in a dedicated
// Web Worker (web/worker.js starts it), loads a Hugging Face checkpoint folder over HTTP
// and generates with the CPU engine of package model, talking to the page by postMessage
// in the messages of package protocol.
//
// Go's wasm port runs JavaScript events only while every goroutine is blocked. So
// everything that awaits a promise (fetch, reading a response body) runs on the serving
// goroutine, never inside a js.FuncOf callback, and a generation blocks on a MessageChannel
// round trip after every token, which lets a queued "stop" message in.
//
// Build it with GOOS=js GOARCH=wasm (t2 site does); natively it only says so.
package main
