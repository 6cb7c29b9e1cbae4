package model

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// minSplit is the work, in multiply-adds, below which a loop runs on its caller alone:
// about 20 µs of Go's kernels, a few µs of AVX2's. Splitting smaller loops costs more in
// hand-offs than the second thread saves.
const minSplit = 1 << 15

// spinFor is how long an idle helper of Threads polls for the next loop before it
// sleeps. A decode step hands out a matmul every few tens of µs; waking a sleeping
// goroutine costs about as much (a futex and an idle CPU brought back, more in a VM),
// so helpers that slept between matmuls made two threads decode slower than one.
const spinFor = 200 * time.Microsecond

// Threads shares the loops of a CPU engine's matmuls among a fixed set of goroutines:
// the caller runs the first range and n−1 helpers the others. Helpers poll for the next
// loop for spinFor after each, then sleep until one comes: decode's many short matmuls
// then find them awake. A Threads is used by one goroutine at a time (an engine's);
// a loop that finds it busy runs on its caller alone. Its helpers end once it is
// unreachable.
type Threads struct{ *pool }

// pool is what the helpers share; Threads wraps it so that the helpers, which hold the
// pool, do not keep the Threads reachable.
type pool struct {
	busy    sync.Mutex
	helpers []*helper
	// The loop in hand, set before seq moves: f over [0, n) in ranges of chunk.
	f        func(lo, hi int)
	n, chunk int
	seq      atomic.Int64 // loops handed out
	pending  atomic.Int32 // helpers still running the current loop
	quit     atomic.Bool
}

type helper struct {
	sleeping atomic.Bool
	wake     chan struct{} // one buffered token: a loop came, or quit
}

// NewThreads starts n−1 helper goroutines; with n ≤ 1 every loop runs on its caller.
func NewThreads(n int) *Threads {
	p := &pool{}
	for i := 1; i < n; i++ {
		h := &helper{wake: make(chan struct{}, 1)}
		p.helpers = append(p.helpers, h)
		go p.run(i, h) // before the first loop: seq is 0
	}
	t := &Threads{p}
	runtime.AddCleanup(t, func(p *pool) {
		p.quit.Store(true)
		for _, h := range p.helpers {
			h.signal()
		}
	}, p)
	return t
}

// N is the number of threads a loop is shared among, the caller's included.
func (t *Threads) N() int {
	if t == nil {
		return 1
	}
	return len(t.helpers) + 1
}

func (h *helper) signal() {
	select {
	case h.wake <- struct{}{}:
	default: // a token is already waiting
	}
}

// run is helper i's loop: poll seq, run range i of each new loop, sleep when idle.
func (p *pool) run(i int, h *helper) {
	var last int64
	for !p.quit.Load() {
		start := time.Now()
		for spins := 0; p.seq.Load() == last; spins++ {
			if spins%256 != 255 {
				continue
			}
			if p.quit.Load() {
				return
			}
			if time.Since(start) < spinFor {
				runtime.Gosched()
				continue
			}
			// Sleep. The caller moves seq, then reads sleeping; this sets sleeping, then
			// reads seq: one of the two sees the other, so a loop is never missed.
			h.sleeping.Store(true)
			if p.seq.Load() == last {
				<-h.wake
			}
			h.sleeping.Store(false)
			start = time.Now()
		}
		if p.quit.Load() {
			return
		}
		last = p.seq.Load()
		if lo := i * p.chunk; lo < p.n {
			p.f(lo, min(lo+p.chunk, p.n))
		}
		p.pending.Add(-1)
	}
}

// parallelFor calls f on disjoint ranges covering [0, n). cost is the work per index,
// in multiply-adds: small loops, and loops while t is busy, run on the calling
// goroutine, as every loop once GOMAXPROCS is 1. Without Threads (t nil) the ranges
// run on new goroutines, up to GOMAXPROCS of them.
func (t *Threads) parallelFor(n, cost int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if n*cost < minSplit || n < 2 {
		f(0, n)
		return
	}
	if t == nil {
		goroutinesFor(n, f)
		return
	}
	// With GOMAXPROCS lowered to 1 since, the helpers would only take turns with the caller.
	if len(t.helpers) == 0 || runtime.GOMAXPROCS(0) < 2 || !t.busy.TryLock() {
		f(0, n)
		return
	}
	defer t.busy.Unlock()
	p := t.pool
	p.f, p.n, p.chunk = f, n, (n+len(p.helpers))/(len(p.helpers)+1)
	p.pending.Store(int32(len(p.helpers)))
	p.seq.Add(1)
	for _, h := range p.helpers {
		if h.sleeping.Load() {
			h.signal()
		}
	}
	f(0, min(p.chunk, n))
	for spins := 0; p.pending.Load() != 0; spins++ {
		if spins%256 == 255 {
			runtime.Gosched() // a helper may be waiting for a P
		}
	}
	p.f = nil
}

// goroutinesFor runs f's ranges on up to GOMAXPROCS goroutines, the caller's among them.
func goroutinesFor(n int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := chunk; lo < n; lo += chunk {
		wg.Go(func() { f(lo, min(lo+chunk, n)) })
	}
	f(0, chunk)
	wg.Wait()
}

// threaded are kernels whose matmuls share their loops among Threads (WithThreads).
type threaded struct {
	Kernels
	t *Threads
}

// WithThreads returns k with the loops of its matmuls (MatMulQ8, MatMulF32) and of
// attention shared among t's threads.
func WithThreads(k Kernels, t *Threads) Kernels {
	if th, ok := k.(threaded); ok {
		k = th.Kernels
	}
	return threaded{k, t}
}

// threadsOf returns the Threads of k (nil for kernels without: new goroutines then).
func threadsOf(k Kernels) *Threads {
	if th, ok := k.(threaded); ok {
		return th.t
	}
	return nil
}

// isGo reports whether k are Go's kernels, with or without threads.
func isGo(k Kernels) bool {
	if th, ok := k.(threaded); ok {
		k = th.Kernels
	}
	_, ok := k.(GoKernels)
	return ok
}
