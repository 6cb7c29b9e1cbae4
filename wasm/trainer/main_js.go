//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hack-pad/safejs"

	"github.com/t2web/t2web/model/simd"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/learn"
	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/wasm/webfs"
)

func main() {
	t, err := newTrainer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "trainer:", err)
		os.Exit(1)
	}
	for r := range t.inbox {
		if err := t.handle(r); err != nil {
			t.post(protocol.Error{Type: protocol.TypeError, Message: err.Error()})
		}
	}
}

// trainer is the worker's state: its scope, the queue of train requests, and the
// cancel of the run under way.
type trainer struct {
	scope   safejs.Value
	inbox   chan request
	onMsg   safejs.Func
	yielder *protocol.Yielder

	mu     sync.Mutex
	cancel context.CancelFunc // of the run under way; nil between runs
}

// request is a Train message with a local folder's files.
type request struct {
	data  []byte
	files map[string]safejs.Value
}

func newTrainer() (*trainer, error) {
	t := &trainer{scope: safejs.Global(), inbox: make(chan request, 4)}
	var err error
	if t.yielder, err = protocol.NewYielder(); err != nil {
		return nil, err
	}
	if t.onMsg, err = protocol.Listen(t.receive); err != nil {
		return nil, err
	}
	return t, nil
}

// receive is the onmessage handler: it runs inside a JavaScript event and must not
// block. A stop cancels the run under way at once.
func (t *trainer) receive(_ safejs.Value, args []safejs.Value) any {
	if len(args) == 0 {
		return nil
	}
	fail := func(err error) any {
		t.post(protocol.Error{Type: protocol.TypeError, Message: err.Error()})
		return nil
	}
	data, err := protocol.Data(args[0])
	if err != nil {
		return fail(err)
	}
	typ, err := protocol.TypeOf(data)
	if err != nil {
		return fail(err)
	}
	switch typ {
	case protocol.TypeStop:
		t.mu.Lock()
		if t.cancel != nil {
			t.cancel()
		}
		t.mu.Unlock()
		return nil
	case protocol.TypeTrain:
		r := request{data: data}
		if r.files, err = protocol.Files(args[0]); err != nil {
			return fail(err)
		}
		select {
		case t.inbox <- r:
		default:
			return fail(fmt.Errorf("trainer busy: %d runs are waiting", cap(t.inbox)))
		}
		return nil
	}
	return fail(fmt.Errorf("trainer: unknown message type %q", typ))
}

func (t *trainer) post(v any) {
	if err := protocol.Post(t.scope, v); err != nil {
		fmt.Fprintln(os.Stderr, "trainer: posting a message:", err)
	}
}

// handle runs one training request; a panic becomes an error (and a stack on the console).
func (t *trainer) handle(r request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "trainer: panic: %v\n%s", p, debug.Stack())
			err = fmt.Errorf("trainer: panic: %v", p)
		}
	}()
	var req protocol.Train
	if err := json.Unmarshal(r.data, &req); err != nil {
		return fmt.Errorf("train message: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.mu.Lock()
	t.cancel = cancel
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.cancel = nil
		t.mu.Unlock()
		cancel()
	}()
	return t.train(ctx, req, r.files)
}

// train runs req: opens the pack, then trains and reports.
func (t *trainer) train(ctx context.Context, req protocol.Train, files map[string]safejs.Value) error {
	opt, err := learn.RequestOptions(req)
	if err != nil {
		return err
	}
	p, err := t.open(req, files)
	if err != nil {
		return err
	}
	if opt.Kernels, err = simd.Pick(req.Kernels); err != nil {
		return err
	}
	if !req.FromBase {
		if opt.Starts, err = p.DomainExperts(); err != nil {
			return err
		}
	}
	start := time.Now()
	base := 0.0 // the base model's validation accuracy, as the steps report it
	opt.Progress = func(s learn.ReinforceStep) {
		base = s.Base
		msg := protocol.TrainProgress{Type: protocol.TypeTrainProgress, Iter: s.Iter, Iters: opt.Iters,
			Epoch: float64(s.Iter*opt.Batch) / float64(len(opt.Examples)), Loss: s.Loss,
			Validation: s.Validation, Best: s.Best, Base: s.Base,
			Train: len(opt.Examples), Val: len(opt.Validation), Ms: ms(time.Since(start))}
		if s.BestZ != nil {
			best := &svf.Expert{Name: opt.Name, Domain: opt.Domain, Z: s.BestZ, Score: &s.Best,
				Description: "next-token loss on " + opt.Source + " (training)",
				Trained: fmt.Sprintf("best iterate so far of a run in progress (iteration %d of %d); validation accuracy on %d held-out examples (base model %.1f %%)",
					s.Iter, opt.Iters, len(opt.Validation), 100*s.Base)}
			if msg.Expert, err = best.Encode(); err != nil {
				fmt.Fprintln(os.Stderr, "trainer: encoding the best iterate:", err)
			}
		}
		t.post(msg)
		t.yielder.Yield() // lets a stop in
	}
	e, err := learn.TrainExpert(ctx, p, opt)
	if err != nil {
		return err
	}
	data, err := e.Encode()
	if err != nil {
		return err
	}
	t.post(protocol.Trained{Type: protocol.TypeTrained, Name: e.Name, Expert: data, Best: *e.Score, Base: base,
		Trained: e.Trained, Stopped: ctx.Err() != nil, Ms: ms(time.Since(start))})
	return nil
}

// open opens the pack of req as the engine worker does, reporting the download.
func (t *trainer) open(req protocol.Train, files map[string]safejs.Value) (*svf.Pack, error) {
	fsys, err := webfs.OpenFolder(req.URL, req.Local, files)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	fsys.Progress = func(name string, loaded, total int64) {
		t.post(protocol.Progress{Type: protocol.TypeProgress, File: name, Loaded: loaded, Total: total})
	}
	p, err := svf.Open(fsys)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w (a new expert is trained on a pack)", fsys.Display, err)
	}
	p.SHA256 = webfs.SHA256
	return p, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
