//go:build js && wasm

package main

import (
	"encoding/json"
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

// defaultModel is the pack the page loads unless ?pack=URL or ?model=URL (a checkpoint
// folder) says otherwise.
const defaultModel = "models/default/"

// The engine runs on WebGPU when the browser has a hardware adapter and on the CPU
// otherwise (ARCHITECTURE §4); ?engine=gpu or ?engine=cpu forces one.

// Root is the page: a model to load, then three views — the chat (two-pass answers),
// few-shot adaptation and the experts.
type Root struct {
	State    string
	ModelURL string
	Engine   string            // the engine asked for: ?engine=, protocol.EngineAuto by default
	Kernels  string            // the CPU engine's kernels asked for: ?kernels=, protocol.KernelsBest by default
	Progress protocol.Progress // the file downloading now
	Info     *protocol.Loaded  // the loaded model, nil before

	Prompt      string
	Chat        bool
	Compare     bool   // answer with the base weights too, side by side
	Temperature string // the fields as typed; parsed by Generate
	MaxTokens   string
	Seed        string

	IDs    []int // the last generation's token ids, set when it is done
	Status string
	Err    string

	View     string // viewChat, viewFewShot or viewExperts
	Dragging bool   // a file is dragged over the page

	chatState
	fewShotState
	trainState
	examplesState
	modelState
	persistState
	Experts []protocol.ExpertCard // the worker's experts

	engine *engine
	// yielder gives the event loop a turn, so that a worker message's render runs in a
	// task of its own.
	yielder *protocol.Yielder
}

// Init starts the engine worker and loads the model named by ?model= (or the default).
func (c *Root) Init(ctx vugu.InitCtx) {
	c.State = stateLoading
	c.ModelURL = defaultModel
	c.View = viewChat
	c.Temperature, c.MaxTokens, c.Seed = "0", "64", "0"
	c.Strategy = ""
	d := protocol.DefaultAdapt
	c.TaskName, c.Score, c.Iters, c.Population = "task", d.Score, strconv.Itoa(d.Iters), strconv.Itoa(d.Population)
	c.Status = "starting the engine…"
	if q, err := locationQuery(); err == nil {
		for _, key := range []string{"pack", "model"} {
			if q.Get(key) != "" {
				c.ModelURL = q.Get(key)
			}
		}
		c.Engine = q.Get("engine")
		c.Kernels = q.Get("kernels")
	}
	ee := ctx.EventEnv()
	c.trainEE = ee
	c.TrainName, c.TrainEpochs = "new-skill", strconv.FormatFloat(protocol.DefaultTrain.Epochs, 'g', -1, 64)
	c.startStore(ee)
	c.fetchExamples(ee)
	c.watchCache()
	var err error
	if c.yielder, err = protocol.NewYielder(); err != nil {
		c.fail(fmt.Errorf("starting the page: %w", err))
		return
	}
	if err := c.listenKeys(ee); err != nil {
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
	c.Load()
}

// Load asks the engine for the model at ModelURL.
func (c *Root) Load() {
	if c.engine == nil {
		return
	}
	c.beginLoad(c.ModelURL)
	c.local = nil
	c.send(protocol.Load{Type: protocol.TypeLoad, URL: c.ModelURL, Engine: c.Engine, Kernels: c.Kernels})
}

// sampling parses the temperature, max tokens and seed fields.
func (c *Root) sampling() (temperature float32, maxTokens int, seed uint64, err error) {
	t, err := strconv.ParseFloat(strings.TrimSpace(c.Temperature), 32)
	if err != nil || t < 0 {
		return 0, 0, 0, fmt.Errorf("temperature %q: want a number ≥ 0", c.Temperature)
	}
	if maxTokens, err = strconv.Atoi(strings.TrimSpace(c.MaxTokens)); err != nil || maxTokens < 1 {
		return 0, 0, 0, fmt.Errorf("max tokens %q: want a whole number ≥ 1", c.MaxTokens)
	}
	if seed, err = strconv.ParseUint(strings.TrimSpace(c.Seed), 10, 64); err != nil {
		return 0, 0, 0, fmt.Errorf("seed %q: want a whole number ≥ 0", c.Seed)
	}
	return float32(t), maxTokens, seed, nil
}

// Stop asks the engine to end the running generation.
func (c *Root) Stop() {
	if c.State == stateGenerating || c.State == stateAdapting {
		c.send(protocol.Stop{Type: protocol.TypeStop})
	}
}

func (c *Root) canGenerate() bool {
	return c.Info != nil && !c.busy()
}

// busy tells whether the engine is loading, generating or adapting.
func (c *Root) busy() bool {
	return c.State == stateLoading || c.State == stateGenerating || c.State == stateAdapting
}

// send posts a request to the engine; a failure shows as an error.
func (c *Root) send(v any) {
	if err := c.engine.send(v); err != nil {
		c.fail(err)
	}
}

func (c *Root) fail(err error) {
	c.State, c.Err = stateError, err.Error()
	c.Status = ""
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
			c.Chat = m.Chat
		}
		c.Info, c.State = m, stateReady
		c.Status = "ready"
		c.restoreExperts()
		go c.refreshStorage()
	case *protocol.Token:
		if m.Base {
			c.appendBase(m.Text)
			c.Status = "generating with the base weights…"
			break
		}
		c.appendAnswer(m.Text)
		c.Status = fmt.Sprintf("generating… %d tokens", len(c.IDs)+1)
		c.IDs = append(c.IDs, m.ID)
	case *protocol.Done:
		if m.Base {
			c.appendBase(m.Text)
			c.finishBase(m)
			break
		}
		c.appendAnswer(m.Text)
		c.IDs, c.State = m.IDs, stateDone
		c.Status = doneText(m)
		c.finishAnswer(m)
	case *protocol.Choice:
		c.choice(m)
	case *protocol.AdaptProgress:
		c.Steps = append(c.Steps, *m)
	case *protocol.Adapted:
		c.adapted(m)
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
		c.failed(m.Message)
	case *protocol.Log:
		consoleLog(m.Level, "engine: "+m.Text)
	}
}

// progressValue is the progress bar's value in [0, 1], or nil (indeterminate).
func (c *Root) progressValue() any {
	if c.Progress.Total <= 0 {
		return nil
	}
	return float64(c.Progress.Loaded) / float64(c.Progress.Total)
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
		return s
	}
	s := "Engine: CPU (WebAssembly, " + i.Kernels + " kernels)"
	if i.EngineReason != "" {
		s += " — " + i.EngineReason
	}
	return s
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
	s := fmt.Sprintf("%d tokens · %.1f tokens/s · prompt %d tokens at %.1f tokens/s",
		len(d.IDs), d.TokensPerSecond, d.PromptTokens, d.PrefillTokensPerSecond)
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
