//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hack-pad/safejs"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/shaders"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/wasm/webfs"
)

func main() {
	w, err := newWorker()
	if err != nil {
		fmt.Fprintln(os.Stderr, "engine:", err)
		os.Exit(1)
	}
	w.serve()
}

// worker holds the engine worker's state: its JavaScript scope, the queue of requests and
// the loaded model.
type worker struct {
	scope   safejs.Value // the worker's global scope: postMessage, location
	inbox   chan request // load and generate requests, in order of arrival
	onMsg   safejs.Func
	yielder *protocol.Yielder

	generates atomic.Int64 // generate, ask and adapt requests received so far
	stopUpTo  atomic.Int64 // a stop request ends the requests numbered up to this

	m       *model.Model
	engine  model.Engine // model.CPU or shaders.Engine
	dev     *gpuDevice   // the WebGPU device of a shaders.Engine, else nil
	url     string       // the model's folder as requested
	fsys    *webfs.FS    // the model's folder, to load it again on the CPU engine
	kernels string       // the CPU engine's kernels the page asked for

	pack    *svf.Pack            // the loaded pack, nil for a checkpoint folder
	experts []*expert            // the pack's experts, then adapted and imported ones
	latest  string               // the latest adapted mixture's name
	zSet    map[string][]float32 // the z on the engine, nil for the base weights
	zDirty  bool                 // the engine's z may not be zSet: set it again
	prefix  svf.PrefixCache      // the first pass's last prompt, in the engine's last sequence
}

// typGPULost is the type of the request the worker queues for itself when the GPU
// engine's device is lost: handling it moves the model to the CPU engine.
const typGPULost = "gpu-lost"

// request is one message from the page, as JSON, with the number of a generate request.
type request struct {
	data  []byte
	typ   string
	seq   int64
	files map[string]safejs.Value // a local folder's files (Load.Local)
}

// sampling defaults of a generation, as t2 generate's: only temperature and seed come
// from the page.
const (
	defaultTopK = 40
	defaultTopP = 0.95
)

func newWorker() (*worker, error) {
	w := &worker{scope: safejs.Global(), inbox: make(chan request, 64)}
	var err error
	if w.yielder, err = protocol.NewYielder(); err != nil {
		return nil, err
	}
	if w.onMsg, err = protocol.Listen(w.receive); err != nil {
		return nil, err
	}
	return w, nil
}

// receive is the worker's onmessage handler. It runs inside a JavaScript event, so it
// must not block: it queues requests for serve, and marks stop requests at once.
func (w *worker) receive(_ safejs.Value, args []safejs.Value) any {
	if len(args) == 0 {
		return nil
	}
	data, err := protocol.Data(args[0])
	if err != nil {
		w.fail(err)
		return nil
	}
	typ, err := protocol.TypeOf(data)
	if err != nil {
		w.fail(err)
		return nil
	}
	r := request{data: data, typ: typ}
	switch typ {
	case protocol.TypeLoad:
		if r.files, err = protocol.Files(args[0]); err != nil {
			w.fail(err)
			return nil
		}
	case protocol.TypeStop:
		w.stopUpTo.Store(w.generates.Load())
		return nil
	case protocol.TypeGenerate, protocol.TypeAsk, protocol.TypeAdapt:
		r.seq = w.generates.Add(1)
	}
	select {
	case w.inbox <- r:
	default:
		w.fail(fmt.Errorf("engine busy: %d requests are waiting; %s dropped", cap(w.inbox), typ))
	}
	return nil
}

// serve handles the queued requests, one at a time, for ever.
func (w *worker) serve() {
	for r := range w.inbox {
		if err := w.handle(r); err != nil {
			w.fail(err)
		}
	}
}

// handle runs one request; a panic becomes an error message (and a stack on the console).
func (w *worker) handle(r request) (err error) {
	switch r.typ {
	case typGPULost:
		_, err := w.fallBack()
		return err
	case protocol.TypeGenerate, protocol.TypeAsk, protocol.TypeAdapt:
		// The GPU device lost before this request or while it ran (the request then fails,
		// mid-answer or not): the CPU engine takes over, and the person asks again.
		defer func() {
			lost, ferr := w.fallBack()
			switch {
			case ferr != nil:
				err = ferr
			case lost != nil:
				err = fmt.Errorf("%v while the model answered; it now runs on the CPU engine: ask again", lost)
			}
		}()
	}
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "engine: panic in %s: %v\n%s", r.typ, p, debug.Stack())
			err = fmt.Errorf("engine: panic in %s: %v", r.typ, p)
		}
	}()
	switch r.typ {
	case protocol.TypeLoad:
		var req protocol.Load
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("load message: %w", err)
		}
		return w.load(req, r.files)
	case protocol.TypeGenerate:
		var req protocol.Generate
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("generate message: %w", err)
		}
		return w.generate(req, r.seq)
	case protocol.TypeBench:
		var req protocol.Bench
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("bench message: %w", err)
		}
		return w.bench(req)
	case protocol.TypeAsk:
		var req protocol.Ask
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("ask message: %w", err)
		}
		return w.ask(req, r.seq)
	case protocol.TypeAdapt:
		var req protocol.Adapt
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("adapt message: %w", err)
		}
		return w.adapt(req, r.seq)
	case protocol.TypeListExperts:
		w.postExperts()
		return nil
	case protocol.TypeExportExpert:
		var req protocol.ExportExpert
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("exportExpert message: %w", err)
		}
		return w.exportExpert(req)
	case protocol.TypeImportExpert:
		var req protocol.ImportExpert
		if err := json.Unmarshal(r.data, &req); err != nil {
			return fmt.Errorf("importExpert message: %w", err)
		}
		return w.importExpert(req)
	}
	return fmt.Errorf("unknown message type %q", r.typ)
}

// load downloads and loads the pack or checkpoint folder at req.URL on the engine
// req.Engine asks for (see openEngine), replacing the current model once the new one is
// ready. A local folder (req.Local) is read from files, its File objects by path.
func (w *worker) load(req protocol.Load, files map[string]safejs.Value) error {
	switch req.Engine {
	case protocol.EngineAuto, protocol.EngineCPU, protocol.EngineGPU:
	default:
		return fmt.Errorf("load: engine %q, want cpu, gpu or none", req.Engine)
	}
	fsys, err := webfs.OpenFolder(req.URL, req.Local, files)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	shard := map[string]int{} // a pack's shards, numbered from 1, once pack.json is read
	fsys.Progress = func(name string, loaded, total int64) {
		w.post(protocol.Progress{Type: protocol.TypeProgress, File: name, Loaded: loaded, Total: total,
			Shard: shard[name], Shards: len(shard)})
	}
	// The folder keeps no shard: the CPU engine's tensors are views of their shard's
	// bytes (webfs.FS.ReadFile hands them over without a copy), and the GPU engine reads
	// each shard once into device buffers.
	fsys.Transient = func(name string) bool { return shard[name] > 0 }
	streamed := false // set while the GPU engine loads (openEngine)
	if !req.Local {
		// sw.js streams a shard it does not hold without keeping a copy: the page hands it
		// ours (protocol.PostStore), and sw.js keeps it once its sha256 is pack.json's.
		// Storing one blocks sw.js's answers to the next shard's request (1.3 s for 64 MiB
		// in Chromium), so the shards the CPU engine holds anyway are handed over once the
		// load is done; one the GPU engine drops once it is on the device, at once.
		var later []func() // the CPU engine's shards' stores
		store := func(name string, data []byte) {
			if err := protocol.PostStore(w.scope, fsys.URL(name), data); err != nil {
				fmt.Fprintln(os.Stderr, "engine:", err)
			}
		}
		fsys.Downloaded = func(name string, data []byte) {
			switch {
			case shard[name] == 0:
			case streamed:
				store(name, data)
			default:
				later = append(later, func() { store(name, data) })
			}
		}
		defer func() {
			for _, f := range later {
				f()
			}
		}()
	}
	p, err := svf.Open(fsys)
	if err == nil {
		p.SHA256 = webfs.SHA256
		for i, s := range p.Manifest.Shards {
			shard[s.File] = i + 1
		}
		// What the load reads next, started at once rather than one file after another:
		// the tokenizer's files, the experts' index and the first shard (pack.Pack.Load
		// reads the others one after another).
		next := append(model.TextFiles(), svf.ExpertIndexFile)
		if len(p.Manifest.Shards) > 0 {
			next = append(next, p.Manifest.Shards[0].File)
		}
		fsys.Prefetch(next...)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var info *protocol.PackInfo
	var experts []*expert
	if err == nil {
		if info, err = packInfo(p); err != nil {
			return err
		}
		if experts, err = loadExperts(p, fsys.Prefetch); err != nil {
			return err
		}
	} else {
		p = nil // a checkpoint folder
	}
	o, err := openEngine(req.Engine, req.Kernels, fsys, p, &streamed)
	if p == nil && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("load: %s has no pack.json (a pack) and no config.json (a checkpoint folder): is the address right? (%w)", fsys.Display, err)
	}
	if err != nil {
		return err
	}
	w.closeEngine()
	w.m, w.engine, w.dev, w.url, w.fsys, w.kernels = o.m, o.e, o.dev, fsys.Display, fsys, req.Kernels
	w.pack, w.experts, w.latest, w.zSet, w.zDirty = p, experts, "", nil, false
	if o.dev != nil {
		o.dev.web.OnLost = w.gpuLost
	}
	w.postLoaded(o, info)
	w.postExperts()
	if o.dev == nil {
		return w.warmFirstPass()
	}
	return nil
}

// warmFirstPass runs the default strategy's first pass (T²-cls-expert when the pack has
// a classification expert, as the page's default is, else T²-prompt) once on an empty
// question when a pack with domain experts is loaded on the CPU engine, while the person
// reads the page: the first question then copies the classification prompt's opening
// from it (svf.PrefixCache), finds the engine's code compiled and the classification
// expert's matrices merged (model.KeepsMerged). On the demo that is tens of ms. On WebGPU
// it is left to the first question (about a second more on a software adapter, mostly
// compiling pipelines): a device lost while the warm-up ran would fail the load with the
// lost device's error instead of moving the model to the CPU engine (gpuLost).
func (w *worker) warmFirstPass() error {
	if w.pack == nil {
		return nil
	}
	d, err := w.dispatch(svf.ClsExpert(w.dispatchExperts()) != nil)
	if err != nil {
		return nil // no domain experts: T²'s strategies say so when asked
	}
	if _, err := d.Choose(""); err != nil {
		return fmt.Errorf("load: running the first pass once: %w", err)
	}
	return nil
}

// postLoaded tells the page which model runs on which engine.
func (w *worker) postLoaded(o opened, info *protocol.PackInfo) {
	c := o.m.Config
	w.post(protocol.Loaded{
		Type: protocol.TypeLoaded, URL: w.url, Arch: c.Architecture,
		Layers: c.NLayers, Dim: c.Dim, Vocab: c.VocabSize, Params: c.Params(),
		Context: o.e.Context(), Chat: o.m.Chat != nil, Engine: o.kind, Pack: info,
		EngineReason: o.reason, Adapter: o.adapter, Kernels: o.kernels, Workers: o.workers, MergedF32: o.mergedF32,
	})
}

// gpuLost is the GPU device's OnLost: it runs in a JavaScript callback, so it queues the
// move to the CPU engine for serve (after the request under way, which then fails).
func (w *worker) gpuLost(error) {
	select {
	case w.inbox <- request{typ: typGPULost}:
	default: // a full queue: the next generate, ask or adapt moves it
	}
}

// fallBack moves the model to the CPU engine when the GPU engine's device was lost, and
// returns why; it does nothing (nil, nil) while the device lives or no GPU engine runs.
// The experts stay, adapted and imported ones too, and the engine starts at the base
// weights; the page learns of the move from a Loaded message whose reason says why, and
// sees the shards' download progress (they come from the browser's cache) before it.
func (w *worker) fallBack() (lost, err error) {
	if w.dev == nil {
		return nil, nil
	}
	if lost = w.dev.web.Lost(); lost == nil {
		return nil, nil
	}
	w.engine.Close()
	w.dev.Close()
	w.m, w.engine, w.dev, w.zSet, w.zDirty = nil, nil, nil, nil, false
	o, err := openEngine(protocol.EngineCPU, w.kernels, w.fsys, w.pack, new(bool))
	if err != nil {
		return lost, fmt.Errorf("%v, and the CPU engine could not load the model: %w; load it again from the Model view", lost, err)
	}
	o.reason = fmt.Sprintf("%v: CPU engine", lost)
	w.m, w.engine = o.m, o.e
	info, err := packInfo(w.pack)
	if err != nil {
		return lost, err
	}
	w.postLoaded(o, info)
	w.postExperts()
	return lost, nil
}

// closeEngine releases the loaded engine and its device.
func (w *worker) closeEngine() {
	if w.engine != nil {
		w.engine.Close()
	}
	if w.dev != nil {
		w.dev.Close()
	}
	w.m, w.engine, w.dev = nil, nil, nil
	w.pack, w.experts, w.latest, w.zSet = nil, nil, "", nil
}

// packInfo describes pack p for the page.
func packInfo(p *svf.Pack) (*protocol.PackInfo, error) {
	experts, err := p.Experts()
	if err != nil {
		return nil, err
	}
	info := &protocol.PackInfo{Quant: p.Manifest.Quant, Targets: p.Manifest.Targets,
		Adapted: len(p.Manifest.Matrices), Experts: []string{}}
	for _, e := range experts {
		info.Experts = append(info.Experts, e.Name)
	}
	return info, nil
}

// generate streams the continuation of req.Prompt, a Token message per token, then Done.
func (w *worker) generate(req protocol.Generate, seq int64) error {
	if w.engine == nil {
		return errors.New("generate: no model loaded")
	}
	if req.MaxTokens <= 0 {
		return fmt.Errorf("generate: maxTokens is %d, want > 0", req.MaxTokens)
	}
	if req.Temperature < 0 {
		return fmt.Errorf("generate: temperature is %g, want ≥ 0", req.Temperature)
	}
	prompt, err := w.m.Prompt(req.Prompt, req.Chat)
	if err != nil {
		return err
	}
	switched, err := w.setZ(nil)
	if err != nil {
		return err
	}
	return w.stream(prompt, req.MaxTokens, req.Temperature, req.Seed, seq, time.Time{}, switched, false)
}

// stream generates the continuation of prompt, a Token message per token, then Done; a
// non-zero since is when an ask's second pass began (Done.SecondMs), switched how long
// putting its z on the weights took (Done.SwitchMs); base marks the messages of a
// compared ask's answer with the base weights.
func (w *worker) stream(prompt []int, maxTokens int, temperature float32, seed uint64, seq int64, since time.Time, switched time.Duration, base bool) error {
	s := model.NewSampler(model.SamplerParams{
		Temperature: temperature, TopK: defaultTopK, TopP: defaultTopP, Seed: seed,
	})
	if n := w.engine.Context(); len(prompt) >= n {
		return fmt.Errorf("the prompt is %d tokens, longer than the model's context of %d tokens: shorten it (or clear the conversation)", len(prompt), n)
	}
	dec := w.m.Tokenizer.NewDecoder(true)
	stopped := func() bool { return w.stopUpTo.Load() >= seq }

	var n int
	var first, last time.Time
	start := time.Now()
	// A stop request, let in after each token, cancels the generation.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, err := shaders.Generate(ctx, w.engine, prompt, s, maxTokens, w.m.EOS, func(id int) {
		last = time.Now()
		if n == 0 {
			first = last
		}
		n++
		w.post(protocol.Token{Type: protocol.TypeToken, ID: id, Text: dec.Add(id), Base: base})
		w.yielder.Yield()
		if stopped() {
			cancel()
		}
	})
	if errors.Is(err, context.Canceled) {
		err = nil // stopped: Done says so
	}
	if err == nil && w.dev != nil {
		err = w.dev.web.Err()
	}
	if err != nil {
		return err
	}
	done := protocol.Done{
		Type: protocol.TypeDone, IDs: out, Text: dec.Flush(),
		PromptTokens: len(prompt), Stopped: stopped(), Base: base,
	}
	if done.IDs == nil {
		done.IDs = []int{}
	}
	if n > 0 {
		done.PrefillTokensPerSecond = float64(len(prompt)) / first.Sub(start).Seconds()
	}
	if n > 1 {
		done.TokensPerSecond = float64(n-1) / last.Sub(first).Seconds()
	}
	if !since.IsZero() {
		done.SecondMs = ms(time.Since(since))
	}
	if switched > 0 {
		done.SwitchMs = ms(switched)
	}
	w.post(done)
	return nil
}

// post sends a message to the page; a failure can only be logged.
func (w *worker) post(v any) {
	if err := protocol.Post(w.scope, v); err != nil {
		fmt.Fprintln(os.Stderr, "engine:", err)
	}
}

// fail reports err to the page.
func (w *worker) fail(err error) {
	w.post(protocol.Error{Type: protocol.TypeError, Message: err.Error(), Stopped: errors.Is(err, errAdaptStopped)})
}
