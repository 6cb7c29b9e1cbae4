package model

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestThreadsCover holds parallelFor to running every index exactly once, on the pool,
// on new goroutines (no Threads) and on the caller alone (small loops).
func TestThreadsCover(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 3, 8} {
		var th *Threads
		if threads > 0 {
			th = NewThreads(threads)
		}
		for _, tc := range []struct{ n, cost int }{
			{0, 1 << 20}, {1, 1 << 20}, {2, 1 << 20}, {3, 1 << 20}, {7, 1 << 20}, {1000, 1 << 10}, {1000, 1}, {49152, 576},
		} {
			for range 3 { // the same pool, loop after loop
				hits := make([]atomic.Int32, tc.n)
				th.parallelFor(tc.n, tc.cost, func(lo, hi int) {
					if lo < 0 || hi > tc.n || lo >= hi {
						t.Errorf("threads %d, n %d: range [%d, %d)", threads, tc.n, lo, hi)
						return
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads %d, n %d, cost %d: index %d ran %d times", threads, tc.n, tc.cost, i, h)
					}
				}
			}
		}
	}
}

// TestThreadsBusy runs loops on one Threads from several goroutines at once: a loop
// that finds it busy runs on its caller, and every loop still covers its range once.
func TestThreadsBusy(t *testing.T) {
	th := NewThreads(3)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 200 {
				const n = 97
				var hits [n]atomic.Int32
				th.parallelFor(n, 1<<12, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Errorf("goroutine %d: index %d ran %d times", g, i, h)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestThreadsEnd checks that an engine's helpers end once its Threads is unreachable:
// evaluations make engine after engine.
func TestThreadsEnd(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		th := NewThreads(4)
		th.parallelFor(100, 1<<20, func(lo, hi int) {})
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines, %d before: the helpers of unreachable Threads did not end", n, before)
	}
}

// TestCPUThreads holds an engine's logits on several threads to its logits on one, bit
// for bit: the threads split the output rows and the attention rows, not the sums.
func TestCPUThreads(t *testing.T) {
	// Large enough that every matmul of the batch is split (minSplit).
	cfg, err := ParseConfig([]byte(`{
  "architectures": ["LlamaForCausalLM"], "vocab_size": 300, "hidden_size": 128,
  "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
  "rope_theta": 10000
}`))
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Config: cfg, Weights: RandomWeights(cfg, 3)}
	prompt := []int{1, 2, 3, 50, 60, 70, 296, 0, 9, 11}
	var want [][]float32
	for _, threads := range []int{1, 2, 3} {
		e, err := NewCPU(m, CPUOptions{Threads: threads, Kernels: BestKernels()})
		if err != nil {
			t.Fatal(err)
		}
		// Count the matmuls in flight at once: one thread is one at a time.
		counted := &overlap{Kernels: BestKernels()}
		e.k = WithThreads(counted, threadsOf(e.k))
		if got := e.Threads(); got != threads {
			t.Fatalf("Threads %d: the engine runs %d", threads, got)
		}
		var batch Batch
		for i, id := range prompt {
			batch.Add(id, i, 0, true)
		}
		if err := e.Forward(&batch); err != nil {
			t.Fatal(err)
		}
		got := outputs(t, e, len(prompt))
		if most := counted.most.Load(); threads == 1 && most != 1 {
			t.Errorf("Threads 1: %d matmul ranges ran at once", most)
		} else if threads > 1 && runtime.GOMAXPROCS(0) > 1 && most < 2 {
			t.Errorf("Threads %d: the matmul ranges ran one at a time", threads)
		}
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("threads %d: the logits of row %d differ from one thread's", threads, i)
			}
		}
	}
}

// overlap are kernels that record how many matmul ranges run at once; each lasts at
// least 50 µs, so that two goroutines running ranges overlap.
type overlap struct {
	Kernels
	now, most atomic.Int32
}

func (o *overlap) enter() {
	n := o.now.Add(1)
	for m := o.most.Load(); n > m && !o.most.CompareAndSwap(m, n); m = o.most.Load() {
	}
	time.Sleep(50 * time.Microsecond)
}

func (o *overlap) MatMulQ8(y []float32, x, w *Q8, bias []float32, lo, hi int) {
	o.enter()
	defer o.now.Add(-1)
	o.Kernels.MatMulQ8(y, x, w, bias, lo, hi)
}

func (o *overlap) MatMulF32(y, x, w, b []float32, T, in, out, lo, hi int) {
	o.enter()
	defer o.now.Add(-1)
	o.Kernels.MatMulF32(y, x, w, b, T, in, out, lo, hi)
}
