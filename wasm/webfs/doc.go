// Package webfs is how the page's workers read a model folder: FS, an fs.FS over HTTP
// (the browser's fetch, or net/http natively) or over the File objects of a folder the
// user chose, downloading each file once and reporting progress; and SHA256, the
// browser's SubtleCrypto digest. The engine worker (package wasm) and the trainer worker
// (wasm/trainer) both open packs with it.
package webfs
