//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"

	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/store"
)

// Chat is the chat view: the conversation, answered in two passes (Transformer²), and
// the composer. The strategy and the sampling fields are Shared: the few-shot and experts
// views set the one, an adaptation reads the other.
type Chat struct {
	*Shared
	Turns   []turn
	Prompt  string
	Chat    bool // the chat template: on by default when the model has one
	Compare bool // answer with the base weights too, side by side
	asking  bool // the running generation answers the last turn
	// sent is the composer's text that the running answer answers, given back to the
	// composer when it fails; "" for a regeneration.
	sent string
}

// turn is one message of the conversation.
type turn struct {
	Role  string // "user" or "assistant"
	Text  string
	Why   string // an answer's expert line: which expert or mixture answered, and why
	Times string // an answer's first and second pass times
	Note  string // said in place of an answer without text
	// A compared answer (the composer's "compare" box) also holds the answer of the base
	// weights, shown beside Text, which is Expert's.
	Compared  bool
	Expert    string // the expert or mixture that wrote Text
	Base      string
	BaseTimes string
}

// SetStrategy picks the chat's strategy.
func (c *Chat) SetStrategy(s string) {
	c.Strategy, c.savedStrategy = s, ""
	c.persist(store.Chats)
}

// listenKeys handles the keyboard on the whole document (so that it works wherever the
// focus is, also on no element after a re-render), without a render per key:
//
//   - Esc stops a generation or an adaptation;
//   - in the message box (#prompt), Enter sends the message and Shift+Enter is a new
//     line; what is typed updates Prompt without a render (the box shows it already).
//
// The listener decides about the default at once and hands the rest to a goroutine.
func (c *Chat) listenKeys(ee vugu.EventEnv) error {
	// inPrompt tells whether the event's target is the message box, and gives its text.
	inPrompt := func(e safejs.Value) (string, bool) {
		t, err := e.Get("target")
		if err != nil || t.IsUndefined() || t.IsNull() {
			return "", false
		}
		if id, _ := getString(t, "id"); id != "prompt" {
			return "", false
		}
		text, err := getString(t, "value")
		return text, err == nil
	}
	sends := func(e safejs.Value) bool {
		key, _ := getString(e, "key")
		shift, _ := getBool(e, "shiftKey")
		composing, _ := getBool(e, "isComposing")
		return key == "Enter" && !shift && !composing
	}
	listen := func(event string, f func(e safejs.Value)) error {
		fn, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			if len(args) > 0 {
				f(args[0])
			}
			return nil
		})
		if err != nil {
			return err
		}
		_, err = safejs.MustGetGlobal("document").Call("addEventListener", event, fn.Value())
		return err
	}
	keydown := func(e safejs.Value) {
		if key, _ := getString(e, "key"); key == "Escape" {
			go func() {
				ee.Lock()
				c.Stop()
				ee.UnlockRender()
			}()
			return
		}
		if text, ok := inPrompt(e); ok && sends(e) {
			e.Call("preventDefault")
			go func() {
				ee.Lock()
				c.Prompt = text
				c.Generate()
				ee.UnlockRender()
			}()
		}
	}
	// Browsers send no keypress after a keydown whose default was prevented; synthetic
	// input (CDP's char events) does, and it would leave a new line in the emptied box.
	keypress := func(e safejs.Value) {
		if _, ok := inPrompt(e); ok && sends(e) {
			e.Call("preventDefault")
		}
	}
	input := func(e safejs.Value) {
		if text, ok := inPrompt(e); ok {
			go func() {
				ee.Lock()
				c.Prompt = text
				ee.UnlockOnly()
			}()
		}
	}
	return errors.Join(listen("keydown", keydown), listen("keypress", keypress), listen("input", input))
}

// Generate sends the message in the composer: as a chat turn answered in two passes
// (ask), or, with the chat template off, as a plain continuation of the text.
func (c *Chat) Generate() {
	if !c.canGenerate() {
		return
	}
	text := c.Prompt
	if strings.TrimSpace(text) == "" {
		return
	}
	history := c.history()
	c.Turns = append(c.Turns, turn{Role: "user", Text: text})
	c.Prompt = ""
	if !c.ask(text, history) {
		c.Turns = c.Turns[:len(c.Turns)-1] // nothing sent: the text goes back to the composer
		c.Prompt = text
		return
	}
	c.sent = text
	c.persist(store.Chats)
}

// Regenerate answers the last question again.
func (c *Chat) Regenerate() {
	if !c.canRegenerate() {
		return
	}
	q := c.Turns[len(c.Turns)-2].Text
	c.Turns = c.Turns[:len(c.Turns)-1]
	history := c.history()
	c.ask(q, history[:len(history)-1])
	c.sent = ""
}

func (c *Chat) canRegenerate() bool {
	n := len(c.Turns)
	return c.canGenerate() && n >= 2 && c.Turns[n-1].Role == "assistant" && c.Turns[n-2].Role == "user"
}

// ClearChat forgets the conversation.
func (c *Chat) ClearChat() {
	if !c.busy() {
		c.Turns = nil
		c.persist(store.Chats)
	}
}

// history is the conversation so far, for the second pass's chat template.
func (c *Chat) history() []protocol.Message {
	var out []protocol.Message
	for _, t := range c.Turns {
		out = append(out, protocol.Message{Role: t.Role, Content: t.Text})
	}
	return out
}

// ask sends question (after history) with the chosen strategy and adds the answer's
// turn; it returns false when nothing was sent.
func (c *Chat) ask(question string, history []protocol.Message) bool {
	temperature, maxTokens, seed, err := c.sampling()
	if err != nil {
		c.fail(err)
		return false
	}
	var req any
	why := ""
	if c.Chat && c.Info.Chat {
		req = protocol.Ask{Type: protocol.TypeAsk, Question: question, History: history, Strategy: c.Strategy,
			MaxTokens: maxTokens, Temperature: temperature, Seed: seed, Compare: c.Compare && c.Strategy != protocol.StrategyNone && c.Strategy != ""}
		why = "choosing an expert…"
	} else {
		req = protocol.Generate{Type: protocol.TypeGenerate, Prompt: question, MaxTokens: maxTokens,
			Temperature: temperature, Seed: seed}
		why = "plain continuation of the text, without the chat template or an expert"
	}
	c.Turns = append(c.Turns, turn{Role: "assistant", Why: why})
	c.asking = true
	c.State, c.Err, c.IDs = stateGenerating, "", nil
	c.Status = "generating…"
	c.send(req)
	return true
}

// appendAnswer adds streamed text to the answer being written.
func (c *Chat) appendAnswer(text string) {
	if n := len(c.Turns); c.asking && n > 0 {
		c.Turns[n-1].Text += text
	}
}

// appendBase adds streamed text to the base weights' answer of a compared ask.
func (c *Chat) appendBase(text string) {
	if n := len(c.Turns); c.asking && n > 0 {
		c.Turns[n-1].Base += text
	}
}

// finishBase ends the base weights' answer of a compared ask; the adapted one follows.
func (c *Chat) finishBase(d *protocol.Done) {
	n := len(c.Turns)
	if !c.asking || n == 0 {
		return
	}
	t := &c.Turns[n-1]
	t.BaseTimes = fmt.Sprintf("%s%s · %d tokens", msText(d.SecondMs), switchNote(d), len(d.IDs))
	if d.Stopped {
		t.BaseTimes += " · stopped"
	}
}

// choice records the first pass of the answer being written.
func (c *Chat) choice(m *protocol.Choice) {
	n := len(c.Turns)
	if !c.asking || n == 0 {
		return
	}
	t := &c.Turns[n-1]
	t.Why = choiceText(m)
	t.Times = fmt.Sprintf("first pass %s", msText(m.FirstMs))
	t.Expert = m.Expert
	t.Compared = c.Compare && m.Expert != "base"
	if c.Compare && m.Expert == "base" {
		t.Note = "The first pass chose the base weights, so there is nothing to compare: this is the base model's answer."
	}
}

// columnTitle heads the adapted answer of a compared turn.
func columnTitle(t turn) string {
	if t.Expert == "" {
		return "adapted"
	}
	return "with " + t.Expert
}

// finishAnswer ends the answer being written.
func (c *Chat) finishAnswer(d *protocol.Done) {
	n := len(c.Turns)
	if !c.asking || n == 0 {
		return
	}
	c.asking, c.sent = false, ""
	c.persist(store.Chats)
	t := &c.Turns[n-1]
	if d.SecondMs > 0 {
		t.Times += fmt.Sprintf(" · second pass %s%s", msText(d.SecondMs), switchNote(d))
	}
	if t.Times != "" {
		t.Times += " · "
	}
	t.Times += d.Tokens()
	if d.Stopped {
		t.Times += " · stopped"
	}
	switch {
	case t.Text != "":
	case d.Stopped:
		t.Note = "Stopped before the first token."
	default:
		t.Note = "The model ended its answer at once: its first token ends the turn."
	}
}

// failed ends the answer being written after an error of the engine, msg, and returns
// the message to show.
func (c *Chat) failed(msg string) string {
	if c.asking {
		c.asking = false
		n := len(c.Turns)
		switch {
		case c.sent != "" && n >= 2 && c.Turns[n-1].Text == "" && c.Prompt == "":
			// Nothing was answered: the question goes back to the composer, to edit.
			c.Turns = c.Turns[:n-2]
			c.Prompt = c.sent
			msg += " — your message is back in the box"
		case n > 0 && c.Turns[n-1].Role == "assistant" && c.Turns[n-1].Text == "":
			c.Turns[n-1].Why = "no answer: " + msg
		}
		c.sent = ""
		c.persist(store.Chats)
	}
	return msg
}

// choiceText says which expert or mixture answers, and why.
func choiceText(m *protocol.Choice) string {
	switch {
	case len(m.Labels) > 0:
		parts := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			parts[i] = fmt.Sprintf("%s %.2f", l.Label, l.LogP)
		}
		return fmt.Sprintf("Expert: %s — strategy %s; label log-likelihoods: %s", m.Expert, m.Strategy, strings.Join(parts, ", "))
	case len(m.Experts) > 0:
		return fmt.Sprintf("Mixture: %s — α %s", m.Expert, alphaList(m.Experts, m.Alpha))
	case m.Expert == "base":
		return "Expert: none — the base weights (strategy none)"
	}
	return fmt.Sprintf("Expert: %s — chosen by hand", m.Expert)
}

// alphaList writes α per expert: "math 0.41, code 0.90"; per-layer α as their mean.
func alphaList(experts []string, alpha [][]float64) string {
	parts := make([]string, len(experts))
	for k, name := range experts {
		if k < len(alpha) {
			parts[k] = fmt.Sprintf("%s %.2f", name, mean(alpha[k]))
			if len(alpha[k]) > 1 {
				parts[k] += " (mean over layers)"
			}
		}
	}
	return strings.Join(parts, ", ")
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// msText writes milliseconds for people.
// switchText says how much of a pass went to putting its z on the weights, when a
// millisecond or more did (going back to the base weights, which the engine keeps, takes
// less): "165 ms switching the weights", else "".
func switchText(d *protocol.Done) string {
	if d.SwitchMs < 1 {
		return ""
	}
	return msText(d.SwitchMs) + " switching the weights"
}

// switchNote is switchText in parentheses after a pass's time, or "".
func switchNote(d *protocol.Done) string {
	if s := switchText(d); s != "" {
		return " (" + s + ")"
	}
	return ""
}

func msText(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// TryQuestion asks an example question.
func (c *Chat) TryQuestion(text string) {
	if !c.canGenerate() {
		return
	}
	c.Prompt = text
	c.Generate()
}

// Copy puts turn i's text on the clipboard.
func (c *Chat) Copy(i int) {
	if i >= 0 && i < len(c.Turns) {
		copyText(c.Turns[i].Text)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

// boolText is "true" or "false", for ARIA attributes.
func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
