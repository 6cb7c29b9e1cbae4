//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hack-pad/safejs"

	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/store"
)

// Shared is what the page's views share. The root makes one and hands it to each view
// (Chat, FewShot, Experts, Model) as its embedded Shared field; a view keeps the rest of
// its state to itself. It holds the engine worker and the page's state with it, the
// loaded model and its experts, the chat's strategy (the few-shot and experts views
// set it), the store, the current view and the status line.
type Shared struct {
	State    string
	Engine   string            // the engine asked for: ?engine=, protocol.EngineAuto by default
	Kernels  string            // the CPU engine's kernels asked for: ?kernels=, protocol.KernelsBest by default
	Progress protocol.Progress // the file downloading now
	Info     *protocol.Loaded  // the loaded model, nil before
	Experts  []protocol.ExpertCard

	// Strategy is the chat's: protocol.StrategyNone, …, "expert:NAME"; "" until the
	// default is known. savedStrategy is the saved chat's until the worker offers it.
	Strategy      string
	savedStrategy string

	// The sampling fields of the chat's composer, as typed (sampling parses them); an
	// adaptation scored by accuracy answers with at most MaxTokens too.
	Temperature, MaxTokens, Seed string

	IDs    []int // the last generation's token ids, set when it is done
	Status string
	Err    string
	View   string // viewChat, viewFewShot, viewExperts, viewResults or viewModel

	Examples *siteExamples // the site's examples, nil until fetched or when it has none

	// the running download's speed: when the load started and the bytes of the files
	// finished before the current one
	loadStart time.Time
	doneBytes int64
	lastFile  string
	lastBytes int64
	// local is the local folder the model came from (its files by path), nil for a
	// model loaded by URL: the trainer reads the same files.
	local map[string]safejs.Value
	// onLoad forgets what a view keeps of the model loaded before (the few-shot view's
	// adaptation); the root sets it.
	onLoad func()

	engine *engine
	// yielder gives the event loop a turn, so that a worker message's render runs in a
	// task of its own.
	yielder *protocol.Yielder

	persistState
}

// send posts a request to the engine; a failure shows as an error.
func (s *Shared) send(v any) {
	if err := s.engine.send(v); err != nil {
		s.fail(err)
	}
}

func (s *Shared) fail(err error) {
	s.State, s.Err = stateError, err.Error()
	s.Status = ""
}

// busy tells whether the engine is loading, generating or adapting.
func (s *Shared) busy() bool {
	return s.State == stateLoading || s.State == stateGenerating || s.State == stateAdapting
}

func (s *Shared) canGenerate() bool {
	return s.Info != nil && !s.busy()
}

// Stop asks the engine to end the running generation.
func (s *Shared) Stop() {
	if s.State == stateGenerating || s.State == stateAdapting {
		s.send(protocol.Stop{Type: protocol.TypeStop})
	}
}

// sampling parses the temperature, max tokens and seed fields.
func (s *Shared) sampling() (temperature float32, maxTokens int, seed uint64, err error) {
	t, err := strconv.ParseFloat(strings.TrimSpace(s.Temperature), 32)
	if err != nil || t < 0 {
		return 0, 0, 0, fmt.Errorf("temperature %q: want a number ≥ 0", s.Temperature)
	}
	if maxTokens, err = strconv.Atoi(strings.TrimSpace(s.MaxTokens)); err != nil || maxTokens < 1 {
		return 0, 0, 0, fmt.Errorf("max tokens %q: want a whole number ≥ 1", s.MaxTokens)
	}
	if seed, err = strconv.ParseUint(strings.TrimSpace(s.Seed), 10, 64); err != nil {
		return 0, 0, 0, fmt.Errorf("seed %q: want a whole number ≥ 0", s.Seed)
	}
	return float32(t), maxTokens, seed, nil
}

// beginLoad resets the page for a model load of what.
func (s *Shared) beginLoad(what string) {
	s.State, s.Err = stateLoading, ""
	s.Progress = protocol.Progress{}
	s.loadStart, s.doneBytes, s.lastFile, s.lastBytes = time.Now(), 0, "", 0
	s.Experts = nil
	s.Strategy = "" // the default, T², once the experts arrive (defaultStrategy)
	s.savedExperts = nil
	s.Status = "loading " + what
	if s.onLoad != nil {
		s.onLoad()
	}
}

// progress records a Progress message: the bytes of the files finished before.
func (s *Shared) progress(m *protocol.Progress) {
	if m.File != s.lastFile {
		s.doneBytes += s.lastBytes
		s.lastFile = m.File
	}
	s.lastBytes = m.Loaded
	s.State, s.Status = stateLoading, "downloading "+m.File
}

// progressText describes the download in progress: file, shard k/n, bytes, percent and
// speed.
func (s *Shared) progressText() string {
	p := s.Progress
	if p.File == "" {
		return "starting…"
	}
	t := p.File
	if p.Shard > 0 {
		t = fmt.Sprintf("shard %d of %d (%s)", p.Shard, p.Shards, p.File)
	}
	if p.Total <= 0 {
		t += ": " + bytesText(p.Loaded)
	} else {
		t += fmt.Sprintf(": %s of %s (%.0f %%)", bytesText(p.Loaded), bytesText(p.Total), 100*float64(p.Loaded)/float64(p.Total))
	}
	if d := time.Since(s.loadStart).Seconds(); d > 0.2 && !s.loadStart.IsZero() {
		t += fmt.Sprintf(" · %s/s", bytesText(int64(float64(s.doneBytes+p.Loaded)/d)))
	}
	return t
}

// strategies are the strategy selector's options, value and label: the first passes
// the model allows, and each adapted or imported expert.
func (s *Shared) strategies() [][2]string {
	out := [][2]string{{protocol.StrategyNone, "none (base weights)"}}
	if s.Info == nil || s.Info.Pack == nil || !s.Info.Chat {
		return out
	}
	hasDomain, hasCls := false, false
	for _, x := range s.Experts {
		if x.Source != "pack" {
			continue
		}
		switch x.Domain {
		case "cls":
			hasCls = true
		case "", "other":
		default:
			hasDomain = true
		}
	}
	if hasDomain {
		out = append(out, [2]string{protocol.StrategyPrompt, "prompt (the model picks an expert)"})
		if hasCls {
			out = append(out, [2]string{protocol.StrategyClsExpert, "classification expert"})
		}
	}
	for _, x := range s.Experts {
		switch {
		case x.Source == "adapted" || len(x.MixOf) > 0: // a mixture, also once saved and restored
			out = append(out, [2]string{protocol.StrategyExpert + x.Name, "few-shot task: " + x.Name})
		case x.Source == "imported":
			out = append(out, [2]string{protocol.StrategyExpert + x.Name, "imported expert: " + x.Name})
		default:
			out = append(out, [2]string{protocol.StrategyExpert + x.Name, "expert: " + x.Name})
		}
	}
	return out
}

// defaultStrategy is the strategy a newcomer meets: Transformer²'s first pass with the
// classification expert when the pack has one, else with the prompt alone, else the base
// weights.
func (s *Shared) defaultStrategy() string {
	best := protocol.StrategyNone
	for _, o := range s.strategies() {
		switch o[0] {
		case protocol.StrategyClsExpert:
			return o[0]
		case protocol.StrategyPrompt:
			best = o[0]
		}
	}
	return best
}

// restoreStrategy picks the saved chat's strategy once the worker offers it (a saved
// expert arrives after the pack's). The caller holds the lock.
func (s *Shared) restoreStrategy() {
	if s.savedStrategy == "" {
		return
	}
	for _, o := range s.strategies() {
		if o[0] == s.savedStrategy {
			s.Strategy, s.savedStrategy = o[0], ""
			return
		}
	}
}

// UseExpert makes the chat answer with expert name, and shows the chat.
func (s *Shared) UseExpert(name string) {
	s.Strategy, s.savedStrategy = protocol.StrategyExpert+name, ""
	s.View = viewChat
	s.persist(store.Chats)
}

// Download asks the worker for expert name as a file; it arrives as an ExpertFile.
func (s *Shared) Download(name string) {
	s.send(protocol.ExportExpert{Type: protocol.TypeExportExpert, Name: name})
}

// persist marks kind as changed; the saver writes it soon: a few-shot set after a
// pause in typing, a conversation at once (the page may close right after an answer).
// The caller holds the lock.
func (s *Shared) persist(kind store.Kind) {
	if s.dirty == nil {
		return
	}
	s.dirty[kind] = true
	if kind != store.FewShot {
		s.urgent = true
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// unlock releases the event environment's lock, with a render when render is set:
// background work renders only what people see.
func (s *Shared) unlock(render bool) {
	if render {
		s.ee.UnlockRender()
	} else {
		s.ee.UnlockOnly()
	}
}
