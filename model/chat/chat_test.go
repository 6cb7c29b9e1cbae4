package chat

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatML is a ChatML template written over several lines, with indented tags: it renders
// as intended only with trim_blocks and lstrip_blocks, as transformers sets them.
const chatML = `{% for message in messages %}
    {% if message.role == 'system' %}
<|im_start|>system
{{ message.content }}<|im_end|>
    {% else %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
    {% endif %}
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}`

// llama2 is the Llama 2 chat template (meta-llama/Llama-2-7b-chat-hf), which raises an
// exception when user and assistant turns do not alternate.
const llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}" +
	"{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}" +
	"{% set system_message = false %}{% endif %}{% for message in loop_messages %}" +
	"{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
	"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
	"{% if loop.index0 == 0 and system_message != false %}" +
	"{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
	"{% else %}{% set content = message['content'] %}{% endif %}" +
	"{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
	"{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"

const llama2Raised = "Conversation roles must alternate user/assistant/user/assistant/..."

func TestRenderChatML(t *testing.T) {
	tmpl, err := New(chatML, "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		messages []Message
		prompt   bool
		want     string
	}{
		{"one user turn", []Message{{"user", "Hi"}}, false,
			"<|im_start|>user\nHi<|im_end|>\n"},
		{"generation prompt", []Message{{"user", "Hi"}}, true,
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
		{"system, user, assistant", []Message{{"system", "Be brief."}, {"user", "2+2?"}, {"assistant", "4"}}, false,
			"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"},
		{"content kept verbatim", []Message{{"user", "  a\n\tb  {{ x }} {% if %}\n"}}, false,
			"<|im_start|>user\n  a\n\tb  {{ x }} {% if %}\n<|im_end|>\n"},
		{"unicode", []Message{{"user", "こんにちは 🙂"}}, false,
			"<|im_start|>user\nこんにちは 🙂<|im_end|>\n"},
		{"no messages", nil, true, "<|im_start|>assistant\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tmpl.Render(tc.messages, tc.prompt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRenderRaiseException(t *testing.T) {
	tmpl, err := New(llama2, "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		messages []Message
		want     string // "" when the template raises
	}{
		{"system folded into first user turn", []Message{{"system", "Be brief."}, {"user", "Hi"}},
			"<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST]"},
		{"alternating", []Message{{"user", " Hi "}, {"assistant", "Hello"}, {"user", "Bye"}},
			"<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]"},
		{"assistant first", []Message{{"assistant", "Hello"}, {"user", "Hi"}}, ""},
		{"two user turns", []Message{{"user", "a"}, {"user", "b"}}, ""},
		{"system then assistant", []Message{{"system", "s"}, {"assistant", "a"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tmpl.Render(tc.messages, true)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				if !strings.Contains(err.Error(), llama2Raised) {
					t.Errorf("error %q does not contain %q", err, llama2Raised)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name, source string
		messages     []Message
		want         string // in the error
	}{
		{"raise with an empty message", `{{ raise_exception('') }}`, nil, "template raised an exception"},
		{"call of an undefined value", `{{ messages[0].content() }}`, nil, "is not callable"},
		{"items of a string", `{{ 'ab' | items }}`, nil, "Can only get item pairs from a mapping"},
		{"strftime_now without format", `{{ strftime_now() }}`, nil, "strftime_now wants one argument"},
		// The engine panics in strings.Repeat; Render returns the panic as an error.
		{"negative string repeat", `{{ 'ab' * -1 }}`, nil, "negative Repeat count"},
		{"range past the sandbox's bound", `{% for i in range(100001) %}{% endfor %}`, nil, "more than the 100000 allowed"},
		{"macro that calls itself for ever", `{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}`, nil, "macro calls nest more than 200 deep"},
		{"macros that call each other for ever",
			`{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n + 1) }}{% endmacro %}{{ a(0) }}`, nil,
			"macro calls nest more than 200 deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := New(tc.source, "", "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(tc.messages, false)
			if err == nil {
				t.Fatalf("got %q, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestNewParseError(t *testing.T) {
	tests := []struct {
		name, source string
		want         string // in the error, after "chat: parse template: "
	}{
		{"for without a target", `{% for %}{% endfor %}`, "line 1: for loop missing 'in'"},
		{"stray closing brace", `{{ x }`, `unexpected '}'`},
		{"unclosed expression", "a\n{{ x ", "line 2: unclosed expression {{"},
		{"unclosed if", `{% if a %}`, "unclosed if block"},
		{"endfor alone", `{% endfor %}`, "unknown statement"},
		{"error on its own line", "a\n{%- if true -%}\n\n\n{{ 1 + }}\n{% endif %}", "line 5:"},
		{"unclosed string", "{{ 'a }}", "line 1: unclosed string"},
		{"unbalanced bracket", "{{ (1 }}", `unexpected '}', expected ')'`},
		{"raw without endraw", "a\n{% raw %}{{ x }}", "line 2: {% raw %} without {% endraw %}"},
		{"endraw alone", "{% endraw %}", "{% endraw %} out of place"},
		{"raw with a plus", "{% raw +%}x{% endraw %}", "{% raw %} out of place"},
		{"include", `{% include "/etc/passwd" %}`, "{% include %} is not allowed: a chat template must be self-contained"},
		{"import", `{% import 'macros.j2' as m %}`, "{% import %} is not allowed"},
		{"from import", `{% from 'macros.j2' import f %}`, "{% from %} is not allowed"},
		{"extends", `{%- extends 'base.j2' -%}`, "{% extends %} is not allowed"},
		{"brackets 101 deep", "{{ " + strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101) + " }}", "brackets nest more than 100 deep"},
		{"stepped slice with a stop", `{{ messages[:1000000000000:2] }}`, "a slice with a step cannot have a start or stop"},
		{"stepped slice with a start", `{% set s = 'é'[-100000000000::-2] %}`, "a slice with a step cannot have a start or stop"},
		{"too long", strings.Repeat("x", maxSource+1), "more than the 65536 allowed"},
		// A number, ".", a non-ASCII character sent gonja's lexer astray (it backed up too
		// far, then panicked or lexed the same text for ever); FuzzLoad found them. They
		// stay here so that no engine hangs on them again.
		{"gonja hang 1", "{{ 0.\u00e9 }}", "expected attribute name"},
		{"gonja hang 2", "{{ 1.5.\u00e9 }}", "expected attribute name"},
		{"gonja hang 3", "{{ 1e5.\ufffd }}", "jinja parse"},
		{"gonja hang 4", "{{ x | f(2.\u4e2d) }}", "jinja parse"},
		{"gonja hang 5", "{%set n = a\ufffdA\ufffd0.\ufffda(a=1) %}{{ s[::-1] | h }}", "jinja parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := New(tc.source, "", "")
			if err == nil {
				t.Fatalf("New = %v, want an error", tmpl)
			}
			const prefix = "chat: parse template: "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not start %q and contain %q", err, prefix, tc.want)
			}
		})
	}
}

// TestNewAccepts holds the guards to what they must not refuse: tags inside raw blocks,
// comments and strings, unstepped and unbounded slices, brackets 100 deep.
func TestNewAccepts(t *testing.T) {
	for _, source := range []string{
		"version 3.\u00e9 {{ bos_token }}",
		"{{ '0.\u00e9' }}{{ \"1.\u00e9\" }}{# 0.\u00e9 #}",
		"{% set a0 = namespace(b=1) %}{{ a0.b }}{{ 2.5 }}{{ 1.5e3 }}",
		"{% raw %}{% include 'x' %}{% endraw %}{# {% import 'x' as y %} #}{{ '{% extends x %}' }}",
		"{{ messages[::-1] }}{{ messages[1:] }}{{ messages[-2:] }}{{ 'abc'[::2] }}{{ messages[:-1][::-1] }}",
		"{{ " + strings.Repeat("[", 100) + "1" + strings.Repeat("]", 100) + " }}",
		"{% macro include(x) %}{{ x }}{% endmacro %}{{ include(1) }}",
		strings.Repeat("x", maxSource),
	} {
		if _, err := New(source, "", ""); err != nil {
			t.Errorf("New(%.60q): %v", source, err)
		}
	}
}

// TestRange holds range to Python's: the same items for integer arguments, an error for
// others and for more than Jinja2's sandbox allows.
func TestRange(t *testing.T) {
	tests := []struct{ call, want string }{
		{"range(3)", "[0, 1, 2]"},
		{"range(1, 10, 3)", "[1, 4, 7]"},
		{"range(3, 0, -1)", "[3, 2, 1]"},
		{"range(-7, -1, 2)", "[-7, -5, -3]"},
		{"range(0)", "[]"},
		{"range(-3)", "[]"},
		{"range(5, 1)", "[]"},
		{"range(true)", "[0]"},
		{"range(100000) | length", "100000"},
		{"range(-9223372036854775807, -9223372036854675807) | length", "100000"},
		{"range(100001)", "error: more than the 100000 allowed"},
		{"range(-9223372036854775807, 9223372036854775807)", "error: more than the 100000 allowed"},
		{"range(0, 10000000, -1) | length", "0"},
		{"range(1, 2, 0)", "error: step is zero"},
		{"range(2.5)", "error: 2.5 is not an integer"},
		{"range('3')", "error: '3' is not an integer"},
		{"range()", "error: range wants 1 to 3 integer arguments"},
	}
	for _, tc := range tests {
		tmpl, err := New("{{ "+tc.call+" }}", "", "")
		if err != nil {
			t.Fatalf("%s: %v", tc.call, err)
		}
		got, err := tmpl.Render(nil, false)
		if err != nil {
			got = "error: " + err.Error()
		}
		if want, ok := strings.CutPrefix(tc.want, "error: "); ok && !strings.Contains(got, want) || !ok && got != tc.want {
			t.Errorf("%s = %q, want %q", tc.call, got, tc.want)
		}
	}
}

// TestMacroDepth renders a macro that recurses as deep as Jinja2 allows (it gives up
// between 100 and 200 levels), and one just past the guard.
func TestMacroDepth(t *testing.T) {
	const source = "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}bottom{% endif %}{% endmacro %}{{ f(depth) }}"
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{100, true}, {maxMacroDepth - 1, true}, {maxMacroDepth, false}} {
		tmpl, err := New(strings.Replace(source, "depth", strconv.Itoa(tc.depth), 1), "", "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(nil, false)
		if tc.ok && (err != nil || got != "bottom") || !tc.ok && err == nil {
			t.Errorf("depth %d: got %q, %v", tc.depth, got, err)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   string // render of one user turn "Hi" with a generation prompt
		err    error  // errors.Is target, when Load fails with a sentinel
		errMsg string // in the error, when Load fails
	}{
		{"string template and string tokens",
			`{"chat_template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}", "bos_token": "<s>", "eos_token": "</s>"}`,
			"<s>Hi</s>", nil, ""},
		{"AddedToken objects",
			`{"chat_template": "{{ bos_token }}|{{ eos_token }}", "bos_token": {"content": "<s>", "lstrip": false, "__type": "AddedToken"}, "eos_token": {"content": "</s>"}}`,
			"<s>|</s>", nil, ""},
		{"null and absent tokens",
			`{"chat_template": "[{{ bos_token }}|{{ eos_token }}]", "bos_token": null}`,
			"[|]", nil, ""},
		{"list picks default",
			`{"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "default {{ messages[0].role }}"}, {"name": "rag", "template": "rag"}]}`,
			"default user", nil, ""},
		{"no chat_template", `{"bos_token": "<s>", "eos_token": "</s>"}`, "", ErrNoTemplate, "tokenizer_config.json"},
		{"null chat_template", `{"chat_template": null}`, "", ErrNoTemplate, "chat_template"},
		{"empty chat_template", `{"chat_template": ""}`, "", ErrNoTemplate, "empty"},
		{"list without default", `{"chat_template": [{"name": "tool_use", "template": "x"}]}`, "", ErrNoTemplate, `"tool_use"`},
		{"chat_template a number", `{"chat_template": 3}`, "", nil, "chat_template: want a string"},
		{"bos_token a number", `{"chat_template": "x", "bos_token": 1}`, "", nil, "bos_token"},
		{"eos_token without content", `{"chat_template": "x", "eos_token": {"lstrip": true}}`, "", nil, "eos_token"},
		{"not JSON", `{"chat_template": `, "", nil, "tokenizer_config.json"},
		{"bad template", `{"chat_template": "{% for %}"}`, "", nil, "parse template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Load([]byte(tc.config))
			if tc.errMsg != "" {
				if err == nil {
					t.Fatalf("Load succeeded, want an error containing %q", tc.errMsg)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Errorf("error %q is not %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errMsg) {
					t.Errorf("error %q does not contain %q", err, tc.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render([]Message{{"user", "Hi"}}, true)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStrftimeNow(t *testing.T) {
	tmpl, err := New(`Today Date: {{ strftime_now("%d %b %Y") }}`, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tmpl.now = func() time.Time { return time.Date(2024, time.July, 5, 0, 0, 0, 0, time.UTC) }
	got, err := tmpl.Render(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Today Date: 05 Jul 2024"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2025, time.February, 3, 14, 5, 9, 0, time.UTC) // a Monday
	tests := []struct{ format, want string }{
		{"%d %b %Y", "03 Feb 2025"},
		{"%A, %B %e", "Monday, February  3"},
		{"%a %y-%m-%d %H:%M:%S", "Mon 25-02-03 14:05:09"},
		{"%I%p %j %w %u", "02PM 034 1 1"},
		{"%F %T %Z %z", "2025-02-03 14:05:09 UTC +0000"},
		{"100%% %q %", "100% %q %"},
	}
	for _, tc := range tests {
		if got := strftime(tm, tc.format); got != tc.want {
			t.Errorf("strftime(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

// TestRenderConcurrent renders one Template from several goroutines; run with -race.
func TestRenderConcurrent(t *testing.T) {
	tmpl, err := New(llama2, "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	good := []Message{{"user", "Hi"}, {"assistant", "Hello"}}
	bad := []Message{{"assistant", "Hello"}}
	const want = "<s>[INST] Hi [/INST] Hello </s>"
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if i%2 == 0 {
					if got, err := tmpl.Render(good, false); err != nil || got != want {
						t.Errorf("got %q, %v; want %q", got, err, want)
					}
				} else if _, err := tmpl.Render(bad, false); err == nil {
					t.Error("bad role order rendered without error")
				}
			}
		})
	}
	wg.Wait()
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content }}{% endfor %}", "bos_token": "<s>"}`))
	f.Add([]byte(`{"chat_template": [{"name": "default", "template": "{{ raise_exception('x') }}"}]}`))
	f.Add([]byte(`{"chat_template": "{% set ns = namespace(a=1) %}{{ messages[::-1] | length }}", "eos_token": {"content": "</s>"}}`))
	f.Add([]byte(`{"chat_template": "{{ strftime_now('%Y') }}{% if x %}"}`))
	f.Add([]byte(`{"chat_template": "{%- for m in messages -%}\n  {{- m.role }}: {{ m.content }}\n{%+ if loop.last %}{% raw %}{{x}}{% endraw %}{% endif +%}{% endfor %}"}`))
	f.Add([]byte(`{"chat_template": "{% macro f(n) %}{{ f(n - 1) if n else '\\x41\\r' }}{% endmacro %}{{ f(3) }}{{ range(2) | list }}{{ {'a': {'b': 1}} }}"}`))
	f.Fuzz(func(t *testing.T, config []byte) {
		tmpl, err := Load(config)
		if (tmpl == nil) == (err == nil) {
			t.Fatalf("Load = %v, %v: want exactly one of template and error", tmpl, err)
		}
		if tmpl == nil {
			return
		}
		out, err := tmpl.Render([]Message{{"system", "s"}, {"user", "u"}}, true)
		if err != nil && out != "" {
			t.Fatalf("Render returned both %q and %v", out, err)
		}
	})
}

// FuzzNew feeds template sources straight to New, past Load's JSON, to reach prepare's
// lexer and the guards sooner.
func FuzzNew(f *testing.F) {
	for _, source := range []string{chatML, llama2,
		"{%- if true -%}\n  a {{ 'x' }}  {%- endif %}\r\n{# c #}\n{%+ raw -%} {{ }} {%- endraw +%}",
		"{% macro f(n) %}{{ f(n - 1) if n > 0 }}{% endmacro %}{{ f(300) }}{{ range(3)[::-1] }}",
		"{{ '\\u00e9\\x41\\101\\N{X}\\\n' ~ {'a': {'b': [1, (2)]}} | tojson }}",
	} {
		f.Add(source)
	}
	f.Fuzz(func(t *testing.T, source string) {
		tmpl, err := New(source, "<s>", "</s>")
		if err != nil {
			return
		}
		out, err := tmpl.Render([]Message{{"system", "s"}, {"user", "u"}}, true)
		if err != nil && out != "" {
			t.Fatalf("Render returned both %q and %v", out, err)
		}
	})
}
