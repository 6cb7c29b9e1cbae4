// The trainer command is the page's trainer worker, trainer.wasm: started by
// web/trainer.js in a Web Worker of its own only when a person trains a new expert, so
// that the first page load does not download the training code, and so that the chat
// keeps its engine while training runs on the other core.
//
// It takes one Train message at a time (package protocol): it opens the pack as the
// engine worker does (over HTTP, through the service worker's cache, or a local folder's
// files), splits the examples into training and validation ones (learn.SplitExamples), and
// trains z with the next-token objective on the examples' outputs (learn.TrainExpert) on the
// CPU, its matmuls in the page's SIMD kernel module when the browser has one. Every
// iteration answers TrainProgress, with the best expert so far as a file whenever a
// validation finds a better one; the end answers Trained. A Stop ends the run after the
// iteration under way, keeping the best iterate.
//
// Build it with GOOS=js GOARCH=wasm (t2 site does); natively it only says so.
package main
