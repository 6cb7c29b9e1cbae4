// Package chat turns a conversation into the prompt string a chat model was trained on, by
// rendering the model's Hugging Face chat template (the Jinja source in the "chat_template"
// field of tokenizer_config.json).
//
// A [Template] is parsed once by [Load] or [New] and rendered many times by
// [Template.Render]. Rendering follows transformers' apply_chat_template: Jinja with
// trim_blocks and lstrip_blocks on, the variables messages, add_generation_prompt,
// bos_token, eos_token and tools (always none here), and the helper functions
// raise_exception(message) and strftime_now(format).
//
// The Jinja engine is github.com/ardanlabs/jinja. It has no dependencies: with it the
// page's engine.wasm is 2.29 MB gzipped, against 3.65 MB with gonja and what gonja pulled
// in (logrus, json-iterator, pkg/errors, go-humanize, x/exp, x/text's cases, language and
// charmap); and it does not share gonja's lexer bug, which looped for ever on {{ 0.é }}.
// Before the engine parses a template, [New] rewrites its source to do what Jinja2's
// lexer does and the engine does not (lex.go: newlines, trim_blocks and lstrip_blocks
// next to expressions, the "-" and "+" markers, "}}" inside brackets, {% raw %}, string
// escapes), and bounds what an untrusted template may cost (guard.go: length, nesting,
// macro recursion, range, stepped slices, no include or import). So rewritten, a
// template renders as Python Jinja2 renders it, whitespace included (held to Jinja2 by
// testdata/jinja2_renders.json and jinja2_whitespace.json), except in corners chat
// templates rarely reach:
//
//   - none prints as "" (Jinja2: "None"), and so does an attribute or item of an
//     undefined value (messages[9].content), where Jinja2 raises an error;
//   - a float prints in Go's shortest form: 1.0 as "1", 10 / 5 as "2";
//   - number literals are decimal: 1e3, 0x1F and 1_000 do not parse (1.5e3 does); nor
//     do adjacent strings ('a' 'b'), nor a test's argument without parentheses
//     (x is eq 1);
//   - arithmetic and comparison are loose: 'a' + 1 is "a1", strings that look like
//     numbers compare as numbers ('10' < '9' is false), comparisons do not chain
//     (3 > 2 > 1 is false), // and % round toward zero, division by zero gives 0,
//     true == 1 is false, and 'a' * -1 is an error;
//   - a string is not a sequence (is sequence, |first, |last); split ignores maxsplit,
//     startswith and endswith take no tuple, and there is no % formatting;
//   - map takes attribute= but not a filter's name (map('trim') changes nothing), and
//     some filters, tests and methods are missing (groupby, truncate, divisibleby,
//     str.join, ...: the render fails naming them);
//   - tuples print as lists; tojson(indent=n) sorts keys; tojson escapes U+2028 and
//     U+2029;
//   - lists and dicts change in place (append, update, pop), which transformers'
//     sandbox forbids, and \N{name} escapes stay as written.
//
// The render is plain text: special tokens such as <|im_start|> appear as text, and the
// caller tokenizes it without adding special tokens again (a template that wants a BOS token
// writes bos_token itself).
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// ErrNoTemplate is returned, wrapped, by [Load] when the configuration has no chat template.
var ErrNoTemplate = errors.New("chat: tokenizer_config.json has no chat_template")

// Template is a parsed chat template with the special tokens it is rendered with.
// Render may be called from several goroutines at once.
type Template struct {
	tpl      *jinja.Template
	bosToken string
	eosToken string
	now      func() time.Time // clock behind strftime_now; time.Now outside tests
	macros   macroGuard       // the names of the calls New added to every macro's body
}

// Load reads the chat template and special tokens from the contents of a Hugging Face
// tokenizer_config.json. "chat_template" is a string or a list of {"name", "template"}
// objects, of which the one named "default" is used; "bos_token" and "eos_token" are
// strings or AddedToken objects {"content": ...}, and either may be absent or null, which
// renders as "". A configuration without a chat template gives an error wrapping
// [ErrNoTemplate].
func Load(tokenizerConfigJSON []byte) (*Template, error) {
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
		BOSToken     json.RawMessage `json:"bos_token"`
		EOSToken     json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(tokenizerConfigJSON, &cfg); err != nil {
		return nil, fmt.Errorf("chat: tokenizer_config.json: %w", err)
	}
	source, err := templateSource(cfg.ChatTemplate)
	if err != nil {
		return nil, err
	}
	bos, err := tokenContent("bos_token", cfg.BOSToken)
	if err != nil {
		return nil, err
	}
	eos, err := tokenContent("eos_token", cfg.EOSToken)
	if err != nil {
		return nil, err
	}
	return New(source, bos, eos)
}

// templateSource returns the Jinja source held by a "chat_template" field.
func templateSource(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", fmt.Errorf("%w (newer checkpoints keep it in chat_template.jinja: pass that file's text to chat.New)", ErrNoTemplate)
	}
	var source string
	if err := json.Unmarshal(raw, &source); err == nil {
		if source == "" {
			return "", fmt.Errorf("%w (chat_template is empty)", ErrNoTemplate)
		}
		return source, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", errors.New(`chat: tokenizer_config.json: chat_template: want a string or a list of {"name", "template"} objects`)
	}
	var names []string
	for _, n := range named {
		if n.Name == "default" {
			if n.Template == "" {
				return "", fmt.Errorf(`%w (the "default" chat_template is empty)`, ErrNoTemplate)
			}
			return n.Template, nil
		}
		names = append(names, fmt.Sprintf("%q", n.Name))
	}
	return "", fmt.Errorf(`%w named "default" (it has [%s])`, ErrNoTemplate, strings.Join(names, ", "))
}

// tokenContent returns the text of a special-token field: a string, an AddedToken object
// {"content": ...}, or "" when the field is absent or null.
func tokenContent(field string, raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var added struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &added); err != nil || added.Content == nil {
		return "", fmt.Errorf(`chat: tokenizer_config.json: %s: want a string or an object {"content": string}`, field)
	}
	return *added.Content, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// New parses a chat template's Jinja source; bosToken and eosToken are the values of the
// template variables bos_token and eos_token. A template that the guards of guard.go
// refuse (include, import, from or extends; longer than 64 KiB; brackets nested more than
// 100 deep; a slice with a step and a start or stop) is an error, as is one that Jinja2's
// lexer or the engine's parser cannot read.
func New(source, bosToken, eosToken string) (*Template, error) {
	t := &Template{bosToken: bosToken, eosToken: eosToken, now: time.Now, macros: newMacroGuard()}
	prepared, err := prepare(source, t.macros)
	if err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	if t.tpl, err = compile(prepared); err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	return t, nil
}

// compile parses source, turning a panic inside the Jinja engine into an error: the
// template comes from a downloaded checkpoint, so a panic is bad input to us, not a bug of
// the caller.
func compile(source string) (tpl *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return jinja.Compile(source)
}

// Render renders the conversation. With addGenerationPrompt the template ends the prompt
// with the header of an assistant turn, so that the model writes the reply next (some
// templates, such as Llama 3's, always do). An error raised by the template, for example by
// raise_exception on a role order it does not accept, is returned with its message.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	vars := map[string]jinja.Value{
		"messages":              messagesValue(messages),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		"bos_token":             jinja.NewString(t.bosToken),
		"eos_token":             jinja.NewString(t.eosToken),
		"tools":                 jinja.None(),
		// The engine has its own raise_exception, strftime_now and range; these shadow them
		// to keep the template's message, format as Python does and cap range.
		"raise_exception": jinja.NewCallable("raise_exception", raiseException),
		"strftime_now":    jinja.NewCallable("strftime_now", t.strftimeNow),
		"range":           jinja.NewCallable("range", boundedRange),
	}
	t.macros.bind(vars) // each render counts its own macro depth
	out, err := execute(t.tpl, vars)
	var raised *raisedError
	switch {
	case errors.As(err, &raised):
		return "", fmt.Errorf("chat: template raised an exception: %s", raised.message)
	case err != nil:
		return "", fmt.Errorf("chat: render template: %w", err)
	}
	return out, nil
}

// messagesValue is the template's messages: a list of {"role", "content"} dicts, keys in
// that order as transformers passes them (tojson writes them in it).
func messagesValue(messages []Message) jinja.Value {
	items := make([]jinja.Value, len(messages))
	for i, m := range messages {
		d := jinja.NewDict()
		d.AsDict().Set("role", jinja.NewString(m.Role))
		d.AsDict().Set("content", jinja.NewString(m.Content))
		items[i] = d
	}
	return jinja.NewList(items)
}

// raisedError is the error of raise_exception(message), which stops the render.
type raisedError struct{ message string }

func (e *raisedError) Error() string { return e.message }

// raiseException is the template function raise_exception(message).
func raiseException(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = str(a)
	}
	return jinja.Undefined(), &raisedError{strings.Join(parts, " ")}
}

// str is Python's str(v): a string's text, other values as the engine writes them.
func str(v jinja.Value) string {
	switch {
	case v.IsString():
		return v.AsString()
	case v.IsUndefined():
		return ""
	}
	return v.String()
}

// strftimeNow is the template function strftime_now(format): the current local time
// formatted as Python's time.strftime does.
func (t *Template) strftimeNow(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 || len(kwargs) != 0 || !args[0].IsString() {
		return jinja.Undefined(), errors.New("strftime_now wants one argument, a format string")
	}
	return jinja.NewString(strftime(t.now(), args[0].AsString())), nil
}

// execute renders tpl with vars, turning a panic inside the Jinja engine into an error
// (strings.Repeat's on 'ab' * -1, for one).
func execute(tpl *jinja.Template, vars map[string]jinja.Value) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("%v", r)
		}
	}()
	return tpl.RenderValues(vars)
}
