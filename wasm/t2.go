//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/chat"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
)

// Transformer²'s two passes in the worker (ARCHITECTURE §1): Ask picks z with a first-pass
// strategy and answers with it; Adapt fits a few-shot mixture and keeps it by name.

// expert is an expert the worker holds: one of the pack's, an adapted mixture, or one
// the page imported.
type expert struct {
	x      *svf.Expert
	source string // "pack", "adapted" or "imported"
}

const (
	sourcePack     = "pack"
	sourceAdapted  = "adapted"
	sourceImported = "imported"
)

// errAdaptStopped is adapt's error when a stop request cancelled the search.
var errAdaptStopped = errors.New("adaptation stopped: nothing was kept, and the chat answers as before")

// engineSeqs returns the sequences and the context of the engine for pack p: enough
// sequences to score every classification label in one batch and to decode several
// few-shot answers together, with the context shortened where their KV caches would
// pass kvBudget bytes.
func engineSeqs(c *model.Config, p *svf.Pack) (seqs, context int) {
	const kvBudget = 256 << 20
	seqs = 1
	if p != nil {
		seqs = 8
		if infos, err := p.Experts(); err == nil {
			seqs = max(seqs, len(infos)+1)
		}
	}
	context = min(c.MaxPositions, 4096)
	if context <= 0 {
		context = 4096
	}
	perPos := c.NLayers * c.NKVHeads * c.HeadDim * 2 * 4 // K and V, float32
	if seqs > 1 && seqs*context*perPos > kvBudget {
		context = min(context, max(kvBudget/(seqs*perPos), 512))
	}
	return seqs, context
}

// loadExperts reads every expert of pack p, their files started at once with prefetch
// (webfs.FS.Prefetch).
func loadExperts(p *svf.Pack, prefetch func(names ...string)) ([]*expert, error) {
	infos, err := p.Experts()
	if err != nil {
		return nil, err
	}
	files := make([]string, len(infos))
	for i, info := range infos {
		files[i] = svf.ExpertFile(info)
	}
	prefetch(files...)
	var out []*expert
	for _, info := range infos {
		x, err := p.Expert(info.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, &expert{x: x, source: sourcePack})
	}
	return out, nil
}

// find returns the expert called name, nil when there is none.
func (w *worker) find(name string) *expert {
	for _, x := range w.experts {
		if x.x.Name == name {
			return x
		}
	}
	return nil
}

// packExperts returns the pack's own experts, in its index's order.
func (w *worker) packExperts() []*svf.Expert {
	var out []*svf.Expert
	for _, x := range w.experts {
		if x.source == sourcePack {
			out = append(out, x.x)
		}
	}
	return out
}

// dispatchExperts are the experts the first pass dispatches to: the pack's, then any
// other with a domain of its own (an expert trained in the page for a new kind of
// question). The pack's come first, so they keep their domains (svf.NewDispatch takes
// the first expert of each).
func (w *worker) dispatchExperts() []*svf.Expert {
	out := w.packExperts()
	for _, x := range w.experts {
		if x.source != sourcePack && x.x.Domain != "" {
			out = append(out, x.x)
		}
	}
	return out
}

// dispatch returns the first pass of T²-prompt, or with cls of T²-cls-expert, over the
// experts of dispatchExperts. It keeps its prompt for the next one (svf.PrefixCache),
// where the labels leave the engine a sequence, and runs as a population of one: the
// engine's z (w.zSet) stays as it was for the second pass.
func (w *worker) dispatch(cls bool) (*svf.Dispatch, error) {
	strategy := protocol.StrategyPrompt
	if cls {
		strategy = protocol.StrategyClsExpert
	}
	if w.pack == nil {
		return nil, fmt.Errorf("strategy %s needs a pack with experts; this is a checkpoint folder", strategy)
	}
	experts := w.dispatchExperts()
	var x *svf.Expert
	if cls {
		if x = svf.ClsExpert(experts); x == nil {
			return nil, errors.New("strategy cls-expert: the pack has no expert of domain cls")
		}
	}
	d, err := svf.NewDispatch(w.m, w.engine, experts, x)
	if err != nil {
		return nil, err
	}
	d.KeepPrefix(&w.prefix)
	return d, nil
}

// choose runs the first pass of strategy on question.
func (w *worker) choose(strategy, question string) (*svf.Choice, error) {
	switch {
	case strategy == protocol.StrategyNone || strategy == "":
		return svf.NoStrategy{}.Choose(question)
	case strategy == protocol.StrategyPrompt || strategy == protocol.StrategyClsExpert:
		d, err := w.dispatch(strategy == protocol.StrategyClsExpert)
		if err != nil {
			return nil, fmt.Errorf("ask: %w", err)
		}
		return d.Choose(question)
	case strategy == protocol.StrategyMixture || strings.HasPrefix(strategy, protocol.StrategyExpert):
		name := strings.TrimPrefix(strategy, protocol.StrategyExpert)
		if strategy == protocol.StrategyMixture {
			if name = w.latest; name == "" {
				return nil, errors.New("ask: strategy mixture: nothing adapted yet (few-shot: Adapt)")
			}
		}
		x := w.find(name)
		if x == nil {
			return nil, fmt.Errorf("ask: no expert %q", name)
		}
		return &svf.Choice{Strategy: strategy, Expert: name, Z: x.x.Z, Experts: x.x.MixOf, Alpha: x.x.Alpha}, nil
	}
	return nil, fmt.Errorf("ask: strategy %q, want none, prompt, cls-expert, mixture or expert:NAME", strategy)
}

// ask answers req in two passes: a Choice, then Token messages and Done.
func (w *worker) ask(req protocol.Ask, seq int64) error {
	if w.engine == nil {
		return errors.New("ask: no model loaded")
	}
	if req.MaxTokens <= 0 {
		return fmt.Errorf("ask: maxTokens is %d, want > 0", req.MaxTokens)
	}
	if req.Temperature < 0 {
		return fmt.Errorf("ask: temperature is %g, want ≥ 0", req.Temperature)
	}
	c, err := w.choose(req.Strategy, req.Question)
	if err != nil {
		return err
	}
	msg := protocol.Choice{Type: protocol.TypeChoice, Strategy: c.Strategy, Expert: c.Expert,
		Experts: c.Experts, Alpha: c.Alpha, FirstMs: ms(c.Elapsed)}
	for _, l := range c.Labels {
		msg.Labels = append(msg.Labels, protocol.LabelScore{Label: l.Label, Expert: l.Expert, LogP: l.LogP})
	}
	w.post(msg)

	prompt, err := w.askPrompt(req)
	if err != nil {
		return err
	}
	if req.Compare && c.Z != nil {
		// The base weights' answer first, with the same sampling, to read beside the
		// adapted one.
		start := time.Now()
		switched, err := w.setZ(nil)
		if err != nil {
			return err
		}
		if err := w.stream(prompt, req.MaxTokens, req.Temperature, req.Seed, seq, start, switched, true); err != nil {
			return err
		}
		if w.stopUpTo.Load() >= seq {
			return nil
		}
	}
	start := time.Now()
	switched, err := w.setZ(c.Z)
	if err != nil {
		return err
	}
	return w.stream(prompt, req.MaxTokens, req.Temperature, req.Seed, seq, start, switched, false)
}

// askPrompt is the second pass's prompt: the conversation so far and the question, in
// the chat template (the question alone without one, as svf.Prompt).
func (w *worker) askPrompt(req protocol.Ask) ([]int, error) {
	if len(req.History) == 0 || w.m.Chat == nil {
		return svf.Prompt(w.m, req.Question)
	}
	msgs := make([]chat.Message, 0, len(req.History)+1)
	for _, h := range req.History {
		if h.Role != "user" && h.Role != "assistant" {
			return nil, fmt.Errorf("ask: history role %q, want user or assistant", h.Role)
		}
		msgs = append(msgs, chat.Message{Role: h.Role, Content: h.Content})
	}
	msgs = append(msgs, chat.Message{Role: "user", Content: req.Question})
	s, err := w.m.Chat.Render(msgs, true)
	if err != nil {
		return nil, err
	}
	return w.m.Tokenizer.Encode(s, false), nil
}

// setZ puts z on the engine unless it is there already, and returns how long that
// took (0 when it was there): a change recomposes every adapted matrix on WebGPU and
// every merged one of an int8 pack on the CPU.
func (w *worker) setZ(z map[string][]float32) (time.Duration, error) {
	if !w.zDirty && model.SameZ(w.zSet, z) {
		return 0, nil
	}
	start := time.Now()
	w.zDirty = true
	if err := w.engine.SetZ(z); err != nil {
		return 0, err
	}
	w.zSet, w.zDirty = z, false
	return time.Since(start), nil
}

// adapt fits a mixture of the pack's experts to req.Examples and keeps it as req.Name.
func (w *worker) adapt(req protocol.Adapt, seq int64) (err error) {
	if w.engine == nil || w.pack == nil {
		return errors.New("adapt: load a pack with experts first")
	}
	name := req.Name
	if name == "" {
		name = "task"
	}
	if err := svf.CheckName(name); err != nil {
		return fmt.Errorf("adapt: %w", err)
	}
	if x := w.find(name); x != nil && x.source == sourcePack {
		return fmt.Errorf("adapt: %q is one of the pack's experts; pick another name", name)
	}
	var experts []*svf.Expert
	for _, x := range w.packExperts() {
		if x.Domain != tasks.Cls {
			experts = append(experts, x)
		}
	}
	if len(experts) == 0 {
		return errors.New("adapt: the pack has no experts to mix")
	}
	exs := make([]tasks.Example, len(req.Examples))
	for i, e := range req.Examples {
		if strings.TrimSpace(e.Input) == "" || strings.TrimSpace(e.Output) == "" {
			return fmt.Errorf("adapt: example %d has an empty input or output", i+1)
		}
		exs[i] = tasks.Example{Input: e.Input, Output: e.Output}
	}
	opt := svf.DefaultFewShot()
	opt.PerLayer = req.PerLayer
	if req.Score != "" {
		opt.Score = req.Score
	}
	if req.MaxTokens > 0 {
		opt.MaxTokens = req.MaxTokens
	}
	if req.Iters > 0 {
		opt.CEM.Iters = req.Iters
	}
	if req.Population > 0 {
		opt.CEM.Population = req.Population
		opt.CEM.Elites = min(opt.CEM.Elites, max(req.Population/4, 1))
	}
	if req.Elites > 0 {
		opt.CEM.Elites = req.Elites
	}
	opt.CEM.Seed = req.Seed
	start := time.Now()
	// A stop request, let in after each iteration, cancels the search before the next.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt.CEM.Progress = func(s svf.CEMStep) {
		w.post(protocol.AdaptProgress{Type: protocol.TypeAdaptProgress, Iter: s.Iter, Iters: opt.CEM.Iters,
			Best: s.Best.Value, Mean: s.Mean, Spread: s.Spread, Alpha: s.Alpha, Ms: ms(time.Since(start))})
		w.yielder.Yield()
		if w.stopUpTo.Load() >= seq {
			cancel()
		}
	}
	w.zDirty = true  // scoring may change the engine's z
	w.prefix.Reset() // and writes every sequence
	f, err := svf.Adapt(ctx, w.m, w.engine, experts, w.pack.Manifest.Matrices, exs, opt)
	if errors.Is(err, context.Canceled) {
		_, err := w.setZ(nil)
		return errors.Join(errAdaptStopped, w.engine.SetPopulation(nil), err)
	}
	if err != nil {
		return fmt.Errorf("adapt: %w", err)
	}
	if _, err := w.setZ(nil); err != nil {
		return err
	}
	c := f.Result()
	score := c.CEM.Best.Value
	x := &svf.Expert{Name: name, Z: c.Z, Score: &score, MixOf: c.Experts, Alpha: c.Alpha,
		Description: fmt.Sprintf("few-shot mixture fitted to %d examples in the page", len(exs)),
		Trained:     f.Trained(opt.Score)}
	w.keep(&expert{x: x, source: sourceAdapted})
	w.latest = name
	res := protocol.Adapted{Type: protocol.TypeAdapted, Name: name, Experts: c.Experts, Alpha: c.Alpha,
		Score: opt.Score, Best: score, Stopped: c.CEM.Stopped, Scored: c.CEM.Scored, Picked: c.Picked, Ms: ms(time.Since(start))}
	if a := c.OnExamples; a != nil {
		res.OnExamples = &protocol.ExampleAccuracy{N: a.N, Base: a.Base, Mixture: a.Mixture, Adapted: a.Adapted}
	}
	for _, s := range c.CEM.History {
		res.History = append(res.History, protocol.IterScore{Best: s.Best.Value, Mean: s.Mean})
	}
	w.post(res)
	w.postExperts()
	return nil
}

// keep adds x, replacing an adapted or imported expert of the same name.
func (w *worker) keep(x *expert) {
	for i, y := range w.experts {
		if y.x.Name == x.x.Name {
			w.experts[i] = x
			return
		}
	}
	w.experts = append(w.experts, x)
}

// postExperts sends the experts' cards and z maps.
func (w *worker) postExperts() {
	list := protocol.ExpertList{Type: protocol.TypeExpertList, Experts: []protocol.ExpertCard{}}
	for _, x := range w.experts {
		kinds, heat := heatMap(x.x.Z)
		list.Experts = append(list.Experts, protocol.ExpertCard{Name: x.x.Name, Source: x.source,
			Domain: x.x.Domain, Description: x.x.Description, Trained: x.x.Trained, Score: x.x.Score, MixOf: x.x.MixOf, Alpha: x.x.Alpha,
			Kinds: kinds, Heat: heat})
	}
	w.post(list)
}

// exportExpert sends expert req.Name as a .safetensors file.
func (w *worker) exportExpert(req protocol.ExportExpert) error {
	x := w.find(req.Name)
	if x == nil {
		return fmt.Errorf("export: no expert %q", req.Name)
	}
	data, err := x.x.Encode()
	if err != nil {
		return err
	}
	w.post(protocol.ExpertFile{Type: protocol.TypeExpertFile, Name: req.Name, Data: data, Save: req.Save})
	return nil
}

// importExpert keeps the expert file req.Data, after checking it fits the pack.
func (w *worker) importExpert(req protocol.ImportExpert) error {
	if w.pack == nil {
		return errors.New("import: load a pack first")
	}
	x, err := svf.DecodeExpert(req.Data, req.File)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if req.Name != "" {
		x.Name = req.Name
	}
	if x.Name == "" {
		x.Name = strings.TrimSuffix(req.File, ".safetensors")
	}
	if err := svf.CheckName(x.Name); err != nil {
		return fmt.Errorf("import %s: %w", req.File, err)
	}
	if err := w.pack.Check(x); err != nil {
		return fmt.Errorf("import %s: %w", req.File, err)
	}
	if y := w.find(x.Name); y != nil && y.source == sourcePack {
		return fmt.Errorf("import %s: %q is one of the pack's experts; rename the file's expert", req.File, x.Name)
	}
	w.keep(&expert{x: x, source: sourceImported})
	w.postExperts()
	return nil
}

// heatMap summarises z as mean |z−1| per layer (rows) and matrix kind (columns), −1
// where a layer has no matrix of a kind.
func heatMap(z map[string][]float32) (kinds []string, heat [][]float64) {
	type cell struct {
		layer int
		kind  string
	}
	cells := map[cell]float64{}
	layers := 0
	for name, v := range z {
		layer, kind := splitMatrix(name)
		var sum float64
		for _, x := range v {
			sum += math.Abs(float64(x) - 1)
		}
		if len(v) > 0 {
			sum /= float64(len(v))
		}
		cells[cell{layer, kind}] = sum
		layers = max(layers, layer+1)
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	heat = make([][]float64, layers)
	for l := range heat {
		heat[l] = make([]float64, len(kinds))
		for k, kind := range kinds {
			v, ok := cells[cell{l, kind}]
			if !ok {
				v = -1
			}
			heat[l][k] = v
		}
	}
	return kinds, heat
}

// splitMatrix splits an adapted matrix's name, "model.layers.3.mlp.gate_proj", into its
// layer (3) and kind ("mlp.gate_proj"); a name without a layer number is layer 0.
func splitMatrix(name string) (layer int, kind string) {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		if n, err := strconv.Atoi(p); err == nil && i > 0 && i+1 < len(parts) {
			return n, strings.Join(parts[i+1:], ".")
		}
	}
	return 0, name
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
