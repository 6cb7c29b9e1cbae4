// The wasm command is the t2web page's engine worker, engine.wasm: it runs in a dedicated
// Web Worker (web/worker.js starts it), loads a pack or a Hugging Face checkpoint folder
// over HTTP and generates with one of the two engines, talking to the page by postMessage
// in the messages of package protocol:
//
//   - the GPU engine of package shaders, on the browser's WebGPU (the worker's
//     navigator.gpu), when the browser has an adapter that is not a software fallback
//     and the folder is a pack — the shards go straight to device buffers;
//   - otherwise the CPU engine of package model, compiled to wasm, and the page is told
//     why (no adapter, a fallback adapter such as SwiftShader, a checkpoint folder).
//
// The page's ?engine=gpu or ?engine=cpu (Load.Engine) forces one. Loaded names the
// engine and the WebGPU adapter; a Bench request times the GPU kernels on the adapter.
// When the GPU device is lost (a crashed GPU process, a driver reset), the model moves to
// the CPU engine with its experts, and a second Loaded says why; a generate, ask or adapt
// that the loss cut off fails saying to ask again.
//
// Go's wasm port runs JavaScript events only while every goroutine is blocked. So
// everything that awaits a promise (fetch, reading a Response body, requesting the
// WebGPU adapter and device, mapping a buffer to read it back) runs on the serving
// goroutine, never inside a js.FuncOf callback, and a generation blocks on a
// MessageChannel round trip after every token, which lets a queued "stop" message in.
//
// Build it with GOOS=js GOARCH=wasm (t2 site does); natively it only says so.
package main
