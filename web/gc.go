//go:build js && wasm

package main

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// idleGC moves the page's garbage collection to the moments it is idle. Go's collector
// in WebAssembly has no thread of its own: a cycle marks the heap on the page's one
// thread in a single stretch, 50–150 ms in Chromium here (measured: with the collector
// off, an adaptation's renders took 5–40 ms; with it on, the task that ran a cycle took
// 83–147 ms), which stalls an answer's tokens or the adaptation's plot mid-stream. So the
// heap may grow to gcPercent of what survived the last collection before a cycle is
// forced on the page, and after every render a timer collects once no render has
// followed for gcIdle, if gcGrowth bytes were allocated since the last collection.
type idleGC struct {
	mu    sync.Mutex
	timer *time.Timer
	last  uint64 // total bytes allocated when the last collection ran
}

const (
	gcPercent = 800 // GOGC: the automatic cycle, now the backstop, at 9× the live heap
	gcIdle    = 1500 * time.Millisecond
	gcGrowth  = 1 << 20
)

func newIdleGC() *idleGC {
	debug.SetGCPercent(gcPercent)
	return &idleGC{}
}

// rendered restarts the idle timer; the render loop calls it after each render.
func (g *idleGC) rendered() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer == nil {
		g.timer = time.AfterFunc(gcIdle, g.collect)
		return
	}
	g.timer.Reset(gcIdle)
}

// collect runs a cycle if enough was allocated since the last one.
func (g *idleGC) collect() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.TotalAlloc-g.last < gcGrowth {
		return
	}
	runtime.GC()
	g.last = m.TotalAlloc
}
