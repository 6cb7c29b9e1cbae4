//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main explains itself: the trainer runs in a browser's Web Worker only.
func main() {
	fmt.Fprintln(os.Stderr, "trainer: this is the page's trainer worker; build it with GOOS=js GOARCH=wasm (t2 site)")
	os.Exit(2)
}
