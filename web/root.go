//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"

	"github.com/t2web/t2web/wasm/protocol"
)

// The page's states, its root element's data-state (tests wait on them).
const (
	stateLoading    = "loading"    // the engine starts or a model downloads
	stateReady      = "ready"      // a model is loaded, nothing generated yet
	stateGenerating = "generating" // tokens are streaming
	stateDone       = "done"       // a generation ended
	stateError      = "error"      // the last request failed; Err says why
	stateAdapting   = "adapting"   // few-shot CEM runs
)

// The views of the page, the root's data-view; one shows at a time.
const (
	viewChat    = "chat"
	viewFewShot = "fewshot"
	viewExperts = "experts"
	viewResults = "results"
	viewModel   = "model" // the pack picker, the download's progress, the engine, and what the browser stores
)

// defaultModel is the pack the page loads unless ?pack=URL or ?model=URL (a checkpoint
// folder) says otherwise.
const defaultModel = "models/default/"

// The engine runs on WebGPU when the browser has a hardware adapter and on the CPU
// otherwise (ARCHITECTURE §4); ?engine=gpu or ?engine=cpu forces one.

// Root is the page: a header with the loaded model, the tabs, one view at a time —
// Chat, FewShot, Experts, Results or Model, each a component of its own — and the status
// line. It holds what the views share (Shared), routes between them, takes the engine's
// messages to the view they concern, and keeps the store (persist.go).
type Root struct {
	*Shared
	Dragging bool // a file is dragged over the page

	chat    *Chat
	fewShot *FewShot
	experts *Experts
	model   *Model
}

// Init starts the engine worker and loads the model named by ?model= (or the default).
func (c *Root) Init(ctx vugu.InitCtx) {
	s := &Shared{State: stateLoading, View: viewChat, Status: "starting the engine…"}
	s.Temperature, s.MaxTokens, s.Seed = "0", "64", "0"
	c.Shared = s
	c.chat = &Chat{Shared: s}
	c.fewShot = newFewShot(s)
	c.experts = &Experts{Shared: s}
	c.model = &Model{Shared: s, ModelURL: defaultModel}
	s.onLoad = c.fewShot.forget
	if q, err := locationQuery(); err == nil {
		for _, key := range []string{"pack", "model"} {
			if q.Get(key) != "" {
				c.model.ModelURL = q.Get(key)
			}
		}
		c.Engine = q.Get("engine")
		c.Kernels = q.Get("kernels")
	}
	ee := ctx.EventEnv()
	c.startStore(ee)
	c.fetchExamples(ee)
	c.model.watchCache()
	var err error
	if c.yielder, err = protocol.NewYielder(); err != nil {
		c.fail(fmt.Errorf("starting the page: %w", err))
		return
	}
	if err := c.chat.listenKeys(ee); err != nil {
		consoleLog("error", "the page's keys (Enter, Esc): "+err.Error())
	}
	c.engine, err = startEngine("worker.js", "engine", func(msgs [][]byte) {
		ee.Lock()
		for _, m := range msgs {
			c.receive(m)
		}
		// Render in a task of its own: the messages' task and the render's stay short
		// (the main thread never runs a task over 100 ms while the engine works).
		ee.UnlockOnly()
		c.yielder.Yield()
		ee.Lock()
		ee.UnlockRender()
	})
	if err != nil {
		c.fail(fmt.Errorf("starting the engine worker: %w", err))
		return
	}
	c.model.Load()
}

// Show switches to view v.
func (c *Root) Show(v string) {
	c.View = v
	if v == viewModel {
		go c.model.refreshStorage()
	}
}

// DragOver lets the page take a dropped file.
func (c *Root) DragOver(event vugu.DOMEvent) {
	event.PreventDefault()
	c.Dragging = true
}

// Drop takes a file dropped anywhere on the page: a pack folder goes to the model view,
// an expert (.safetensors) or a few-shot set to the few-shot view.
func (c *Root) Drop(event vugu.DOMEvent) {
	event.PreventDefault()
	c.Dragging = false
	dt := fromVugu(event.JSEvent().Get("dataTransfer"))
	if c.model.dropFolder(event.EventEnv(), dt) {
		return
	}
	c.fewShot.readFiles(event.EventEnv(), dt)
}

// receive applies one message of the engine to the page. The caller holds the event
// environment's lock.
func (c *Root) receive(data []byte) {
	typ, err := protocol.TypeOf(data)
	if err != nil {
		c.fail(fmt.Errorf("engine message: %w", err))
		return
	}
	var v any
	switch typ {
	case protocol.TypeProgress:
		v = &c.Progress
	case protocol.TypeLoaded:
		v = new(protocol.Loaded)
	case protocol.TypeToken:
		v = new(protocol.Token)
	case protocol.TypeDone:
		v = new(protocol.Done)
	case protocol.TypeError:
		v = new(protocol.Error)
	case protocol.TypeLog:
		v = new(protocol.Log)
	case protocol.TypeChoice:
		v = new(protocol.Choice)
	case protocol.TypeAdaptProgress:
		v = new(protocol.AdaptProgress)
	case protocol.TypeAdapted:
		v = new(protocol.Adapted)
	case protocol.TypeExpertList:
		v = new(protocol.ExpertList)
	case protocol.TypeExpertFile:
		v = new(protocol.ExpertFile)
	default:
		c.fail(fmt.Errorf("engine message of unknown type %q", typ))
		return
	}
	if err := json.Unmarshal(data, v); err != nil {
		c.fail(fmt.Errorf("engine message %s: %w", typ, err))
		return
	}
	switch m := v.(type) {
	case *protocol.Progress:
		c.progress(m)
	case *protocol.Loaded:
		// The same model again (moved to the CPU engine when the GPU was lost) keeps the
		// person's choice of chat template; a new one starts with its own.
		if c.Info == nil || c.Info.URL != m.URL || !m.Chat {
			c.chat.Chat = m.Chat
		}
		c.Info, c.State = m, stateReady
		c.Status = "ready"
		c.restoreExperts()
		go c.model.refreshStorage()
		warmOffline()
	case *protocol.Token:
		if m.Base {
			c.chat.appendBase(m.Text)
			c.Status = "generating with the base weights…"
			break
		}
		c.chat.appendAnswer(m.Text)
		c.Status = fmt.Sprintf("generating… %d tokens", len(c.IDs)+1)
		c.IDs = append(c.IDs, m.ID)
	case *protocol.Done:
		if m.Base {
			c.chat.appendBase(m.Text)
			c.chat.finishBase(m)
			break
		}
		c.chat.appendAnswer(m.Text)
		c.IDs, c.State = m.IDs, stateDone
		c.Status = doneText(m)
		c.chat.finishAnswer(m)
	case *protocol.Choice:
		c.chat.choice(m)
	case *protocol.AdaptProgress:
		c.fewShot.Steps = append(c.fewShot.Steps, *m)
	case *protocol.Adapted:
		c.fewShot.adapted(m)
	case *protocol.ExpertList:
		c.Experts = m.Experts
		c.saveExperts()
		c.restoreStrategy()
		if c.Strategy == "" && c.savedStrategy == "" {
			c.Strategy = c.defaultStrategy()
		}
		if name, ok := strings.CutPrefix(c.Status, "importing "); ok {
			c.Status = "imported " + name + ": it is in the experts view and the chat's strategies"
		}
	case *protocol.ExpertFile:
		if m.Save {
			c.saveExpertFile(m)
		} else if err := download(m.Name+".safetensors", m.Data); err != nil {
			c.fail(err)
		}
	case *protocol.Error:
		if m.Stopped {
			// Stopped at the person's asking: said in the status line, not as an error.
			c.State, c.Err, c.Status = stateDone, "", m.Message
			break
		}
		c.fail(errors.New(c.chat.failed(m.Message)))
	case *protocol.Log:
		consoleLog(m.Level, "engine: "+m.Text)
	}
}

func (c *Root) summaryText() string {
	i := c.Info
	chat := "no chat template"
	if i.Chat {
		chat = "chat template"
	}
	kind := "checkpoint"
	if p := i.Pack; p != nil {
		kind = fmt.Sprintf("%s pack, %d adapted matrices (%s), %d experts", p.Quant, p.Adapted, strings.Join(p.Targets, ", "), len(p.Experts))
	}
	return fmt.Sprintf("%s — %s %s, %d layers, hidden %d, vocab %d, %s params, context %d, %s, %s engine",
		i.URL, i.Arch, kind, i.Layers, i.Dim, i.Vocab, countText(i.Params), i.Context, chat, i.Engine)
}

// engineText says which engine runs: WebGPU and its adapter, or the CPU engine and why.
func (c *Root) engineText() string {
	i := c.Info
	a := i.Adapter
	if i.Engine == protocol.EngineGPU && a != nil {
		s := "Engine: WebGPU on " + adapterName(a)
		if a.Fallback {
			s += " (a software fallback adapter)"
		}
		if i.MergedF32 {
			s += "; W′ in float32, quicker than int8 for a model this small on a CPU adapter"
		}
		return s
	}
	s := "Engine: CPU (WebAssembly, " + i.Kernels + " kernels)"
	switch {
	case i.Workers > 1:
		s += fmt.Sprintf(" on %d workers", i.Workers)
	case i.Workers == 1:
		s += " on 1 worker"
		if why := oneWorkerWhy(i.Kernels); why != "" {
			s += " (" + why + ")"
		}
	}
	if i.EngineReason != "" {
		s += " — " + i.EngineReason
	}
	return s
}

// oneWorkerWhy says why the CPU engine's matmuls run on one worker: a second shares
// them only with a SIMD kernel module, in a cross-origin isolated page (where memory can
// be shared between workers; t2cache.isolation says why a page is not), on two cores or
// more, unless the address asks for one.
func oneWorkerWhy(kernels string) string {
	if kernels == protocol.KernelsGo {
		return "Go's kernels"
	}
	if why, err := global("t2cache", "isolation", "why"); err == nil && why.Type() == safejs.TypeString {
		if s, err := why.String(); err == nil && s != "" {
			return s
		}
	}
	isolated, err := safejs.Global().Get("crossOriginIsolated")
	if ok, _ := isolated.Truthy(); err == nil && !ok {
		return "the page is not cross-origin isolated"
	}
	nav, err := safejs.Global().Get("navigator")
	if err != nil {
		return ""
	}
	if cores, err := nav.Get("hardwareConcurrency"); err == nil && cores.Type() == safejs.TypeNumber {
		if n, err := cores.Int(); err == nil && n < 2 {
			return "one CPU core"
		}
	}
	return ""
}

// adapterName names the adapter by its most specific name, the others after it:
// "swiftshader (google)".
func adapterName(a *protocol.Adapter) string {
	var name string
	var more []string
	for _, p := range []string{a.Description, a.Device, a.Architecture, a.Vendor} {
		switch {
		case p == "":
		case name == "":
			name = p
		case !strings.Contains(name, p):
			more = append(more, p)
		}
	}
	if name == "" {
		return "an unnamed adapter"
	}
	if len(more) > 0 {
		name += " (" + strings.Join(more, ", ") + ")"
	}
	return name
}

// adapterJSON is the WebGPU adapter as JSON, "" without one (tests read it).
func (c *Root) adapterJSON() string {
	if c.Info == nil || c.Info.Adapter == nil {
		return ""
	}
	b, _ := json.Marshal(c.Info.Adapter)
	return string(b)
}

// idsText is the last generation's ids as a JSON array, empty until it is done.
func (c *Root) idsText() string {
	if c.State != stateDone {
		return ""
	}
	b, _ := json.Marshal(c.IDs)
	return string(b)
}

func doneText(d *protocol.Done) string {
	s := fmt.Sprintf("%s · prompt %d tokens at %.1f tokens/s", d.Tokens(), d.PromptTokens, d.PrefillTokensPerSecond)
	if sw := switchText(d); sw != "" {
		s += " · " + sw
	}
	if d.Stopped {
		s += " · stopped"
	}
	return s
}

// bytesText writes n bytes with a binary unit.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// countText writes a count with a decimal unit: 134.5 M.
func countText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f G", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f k", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

// locationQuery returns the page's query parameters.
func locationQuery() (url.Values, error) {
	loc, err := safejs.Global().Get("location")
	if err != nil {
		return nil, err
	}
	search, err := loc.Get("search")
	if err != nil {
		return nil, err
	}
	s, err := search.String()
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(strings.TrimPrefix(s, "?"))
}

// consoleLog writes text to the page's console at level ("log", "warn", "error").
func consoleLog(level, text string) {
	console, err := safejs.Global().Get("console")
	if err != nil {
		return
	}
	switch level {
	case "warn", "error":
	default:
		level = "log"
	}
	console.Call(level, text)
}
