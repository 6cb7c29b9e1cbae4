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
// The Jinja engine is gonja, which differs from Python Jinja2 in corners chat templates
// rarely reach: it cannot tell none from undefined (tools is defined is false, where
// transformers says true), and tojson writes compact JSON with sorted keys.
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

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// ErrNoTemplate is returned, wrapped, by [Load] when the configuration has no chat template.
var ErrNoTemplate = errors.New("chat: tokenizer_config.json has no chat_template")

// Template is a parsed chat template with the special tokens it is rendered with.
// Render may be called from several goroutines at once.
type Template struct {
	tpl      *exec.Template
	bosToken string
	eosToken string
	now      func() time.Time // clock behind strftime_now; time.Now outside tests
}

// templateName is the path of the one template in a Template's private loader.
const templateName = "/chat_template"

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
// template variables bos_token and eos_token.
func New(source, bosToken, eosToken string) (*Template, error) {
	t := &Template{bosToken: bosToken, eosToken: eosToken, now: time.Now}

	cfg := config.New()
	cfg.TrimBlocks = true
	cfg.LeftStripBlocks = true

	// The template sees gonja's builtins and strftime_now (Render adds raise_exception). The
	// context is this Template's own; include and import reach nothing but the template.
	globals := exec.EmptyContext().
		Update(builtins.GlobalFunctions).
		Update(builtins.GlobalVariables).
		Update(exec.NewContext(map[string]any{"strftime_now": t.strftimeNow}))
	env := &exec.Environment{
		Context:           globals,
		Filters:           builtins.Filters,
		Tests:             builtins.Tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
	if err := checkLexable(source); err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	tpl, err := parse(source, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	t.tpl = tpl
	return t, nil
}

// parse parses source as the one template of a loader that holds nothing else.
func parse(source string, cfg *config.Config, env *exec.Environment) (tpl *exec.Template, err error) {
	// The template comes from a downloaded checkpoint: a panic inside the Jinja engine is
	// bad input to us, not a bug of the caller.
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("%v", r)
		}
	}()
	loader, err := loaders.NewMemoryLoader(map[string]string{templateName: source})
	if err != nil {
		return nil, err
	}
	tpl, err = exec.NewTemplate(templateName, cfg, loader, env)
	if err != nil {
		// gonja wraps the parser's error in a message that quotes the whole source.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return nil, err
	}
	return tpl, nil
}

// Render renders the conversation. With addGenerationPrompt the template ends the prompt
// with the header of an assistant turn, so that the model writes the reply next (some
// templates, such as Llama 3's, always do). An error raised by the template, for example by
// raise_exception on a role order it does not accept, is returned with its message.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	// raise_exception(message) stops the render; gonja buries the error it returns in its
	// own messages, so keep the template's message here.
	var (
		raised  bool
		message string
	)
	raiseException := func(_ *exec.Evaluator, args *exec.VarArgs) (*exec.Value, error) {
		var parts []string
		for _, a := range args.Args {
			parts = append(parts, a.String())
		}
		raised, message = true, strings.Join(parts, " ")
		return nil, errors.New(message)
	}
	vars := exec.NewContext(map[string]any{
		"messages":              msgs,
		"add_generation_prompt": addGenerationPrompt,
		"bos_token":             t.bosToken,
		"eos_token":             t.eosToken,
		"tools":                 nil,
		"raise_exception":       raiseException,
	})
	out, err := execute(t.tpl, vars)
	switch {
	case raised:
		return "", fmt.Errorf("chat: template raised an exception: %s", message)
	case err != nil:
		return "", fmt.Errorf("chat: render template: %w", err)
	}
	return out, nil
}

// strftimeNow is the template function strftime_now(format): the current local time
// formatted as Python's time.strftime does.
func (t *Template) strftimeNow(_ *exec.Evaluator, args *exec.VarArgs) (*exec.Value, error) {
	if len(args.Args) != 1 || len(args.KwArgs) != 0 || !args.Args[0].IsString() {
		return nil, errors.New("strftime_now wants one argument, a format string")
	}
	return exec.AsValue(strftime(t.now(), args.Args[0].String())), nil
}

// execute renders tpl with vars, turning a panic inside the Jinja engine into an error.
func execute(tpl *exec.Template, vars *exec.Context) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("%v", r)
		}
	}()
	return tpl.ExecuteToString(vars)
}
