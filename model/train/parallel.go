package train

import (
	"runtime"
	"sync"
)

// ranger is a piece of parallel work over an index range: run(lo, hi) does indices
// [lo, hi). Layer tasks are structs kept in a Model, so handing one to the pool costs no
// allocation.
type ranger interface{ run(lo, hi int) }

// pool runs rangers on a fixed set of goroutines started once, llm.c's OpenMP in Go:
// nothing is allocated per call, and every index is computed the same way whichever
// goroutine takes it, so results do not depend on scheduling.
type pool struct {
	workers int
	chunks  chan chunk
	wg      sync.WaitGroup
	stop    sync.Once
}

type chunk struct {
	r      ranger
	lo, hi int
}

// newPool starts workers-1 helper goroutines (the caller of For is the last worker);
// workers ≤ 0 means GOMAXPROCS.
func newPool(workers int) *pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	p := &pool{workers: workers, chunks: make(chan chunk, 8*workers)}
	for range workers - 1 {
		go p.work()
	}
	return p
}

func (p *pool) work() {
	for c := range p.chunks {
		c.r.run(c.lo, c.hi)
		p.wg.Done()
	}
}

// close stops the helpers; closing again does nothing.
func (p *pool) close() { p.stop.Do(func() { close(p.chunks) }) }

// For runs r over [0, n). cost is the work per index in multiply-adds: small jobs run
// on the calling goroutine, where handing them out would cost more than it saves. The
// range is cut into a few pieces per worker, so a worker slowed by other processes
// holds up the rest less.
func (p *pool) For(n, cost int, r ranger) {
	if p.workers <= 1 || n <= 1 || n*cost < 1<<15 {
		r.run(0, n)
		return
	}
	pieces := min(n, 4*p.workers)
	step := (n + pieces - 1) / pieces
	pieces = (n + step - 1) / step
	p.wg.Add(pieces)
	for lo := step; lo < n; lo += step {
		p.chunks <- chunk{r, lo, min(lo+step, n)}
	}
	r.run(0, step)
	p.wg.Done()
	for {
		select {
		case c := <-p.chunks:
			c.r.run(c.lo, c.hi)
			p.wg.Done()
		default:
			p.wg.Wait()
			return
		}
	}
}
