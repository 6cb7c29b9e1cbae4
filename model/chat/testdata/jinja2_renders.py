#!/usr/bin/env python3
"""Writes jinja2_renders.json: chat templates rendered by Python Jinja2 the way
transformers' apply_chat_template renders them (ImmutableSandboxedEnvironment,
trim_blocks and lstrip_blocks on, raise_exception, tojson, tools=None).

Usage: python3 jinja2_renders.py FIXTURES_DIR > jinja2_renders.json
Made with jinja2 3.1.6. The Llama 3 and Qwen3 templates are copied from the fixture
models' tokenizer_config.json so that the Go test needs no fixtures.
"""
import json
import sys

import jinja2
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

fixtures = sys.argv[1]


def fixture(model):
    cfg = json.load(open(f"{fixtures}/{model}/tokenizer_config.json"))
    return cfg["chat_template"], cfg.get("bos_token") or "", cfg.get("eos_token") or ""


CHATML = (
    "{% for message in messages %}\n"
    "    {{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\n"
    "{% endfor %}\n"
    "{% if add_generation_prompt %}\n"
    "    {{ '<|im_start|>assistant\\n' }}\n"
    "{% endif %}\n"
)

# The Llama 2 chat template as meta-llama/Llama-2-7b-chat-hf ships it.
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# What a template sees besides the messages, and how it writes them out with tojson.
VARIABLES = (
    "{% if tools is none %}tools none{% endif %}\n"
    "{% if tools is defined %}, tools defined{% endif %}\n"
    "{% if undefined_name is not defined %}, undefined_name undefined{% endif %}\n"
    ", {{ messages[0] | tojson }}\n"
    ", {{ messages | length }} messages, last {{ messages[-1].role }}\n"
    "{%- if add_generation_prompt %}, prompt{% endif %}\n"
    ", [{{ bos_token }}|{{ eos_token }}]\n"
    "{% if messages[0].tool_calls %}tool calls{% endif %}\n"
    "{% if messages[0].reasoning_content is defined %}reasoning{% endif %}\n"
)

# Whitespace control next to expressions, where a Go engine that trims the nearest text
# across an expression goes wrong: trim_blocks takes the newline only right after a block
# tag, "-" and lstrip_blocks strip only the text right before the tag. The third line is
# GLM 5.2's; "+" keeps what lstrip_blocks and trim_blocks would strip.
WHITESPACE = (
    "{% for m in messages %}{{ m.role }}\n{% endfor %}"
    "[{{ messages | length }}]  {%- if true %} x{% endif %}\n"
    "Effort: {{ 'Max' }}{%- if true -%}{%- endif -%}\n"
    "    {% if true %}\n    indented\n    {% endif %}\n"
    "  {# an indented comment #}\n"
    "a {% if true %}b{% endif %} c  {{ 'd' }}  {% if true %}e{% endif %}\n"
    "\t{%+ if true %}kept{% endif +%}\n"
    "{{- ' left' }}   {{ 'x' -}}   \n  y\n"
    "{% for m in messages %}\n  {{ loop.index }}\n  {%- if not loop.last %},{% endif %}\n{% endfor %}\n"
    "{%- macro f(x) -%}\n  <{{ x }}>\n{%- endmacro %}\n"
    "{{ f(1) }} {{ f(2) }}\n"
    "{% set block %}\n  set {{ 'block' }}\n{% endset %}[{{ block }}]\n"
    "end\n"
)

# String escapes the Go engine does not know (Kimi K3 writes '\r', '\b', '\f'), "}}"
# inside brackets, {% raw %}, and "}" and "{" next to tags.
ESCAPES = (
    "{{ 'a\\rb\\x41\\u00e9\\U0001F642\\101\\t\\\\\\'' }}|{{ \"q\\x27\\x22\\x5c\" }}|{{ '\\d' }}\n"
    "{{ {'a': {'b': 1}} }}|{{ {'a': {'b': 1}}['a']['b'] }}|{% set d = {'k': {'v': 2}} %}{{ d.k.v }}\n"
    "{% raw %}\n  {{ not parsed }} {% if %}\n{% endraw %}\n"
    "{%- raw -%}  {# kept #}  {%- endraw %}\n"
    "{{ 'x' }}}{ {%- if true %}{% endif %}\n"
)

# Newlines as Windows and old Mac OS write them, and a trailing newline (dropped).
CRLF = "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\rd\r\n"

CONVERSATIONS = {
    "system_user": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi."},
    ],
    "user_assistant_user": [
        {"role": "user", "content": "  Hello  "},
        {"role": "assistant", "content": "Hi! \U0001f642\n"},
        {"role": "user", "content": "Bye."},
    ],
    "think_last": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
    ],
    "think_earlier": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
        {"role": "user", "content": "and 3+3?"},
    ],
    "tool_results": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "calling"},
        {"role": "tool", "content": "{\"t\": 20}"},
        {"role": "tool", "content": "ok"},
        {"role": "assistant", "content": "<think>\nhot-ish\n</think>\nIt is 20."},
    ],
    "tool_response_as_user": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "<tool_response>r</tool_response>"},
        {"role": "assistant", "content": "<think>t</think>y"},
    ],
    "system_mid": [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "b"},
        {"role": "user", "content": "c"},
    ],
    "assistant_first": [
        {"role": "assistant", "content": "I start."},
        {"role": "user", "content": "ok"},
    ],
    "two_users": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
}

llama3, llama3_bos, llama3_eos = fixture("llama-tiny")
qwen3, qwen3_bos, qwen3_eos = fixture("qwen2-tiny")
templates = [
    ("chatml", CHATML, "", "<|im_end|>"),
    ("llama2", LLAMA2, "<s>", "</s>"),
    ("variables", VARIABLES, "<s>", "</s>"),
    ("whitespace", WHITESPACE, "", ""),
    ("escapes", ESCAPES, "", ""),
    ("crlf", CRLF, "", ""),
    ("llama3", llama3, llama3_bos, llama3_eos),
    ("qwen3", qwen3, qwen3_bos, qwen3_eos),
]

out = []
for name, source, bos, eos in templates:
    tpl = env.from_string(source)
    renders = []
    for conv, messages in CONVERSATIONS.items():
        for agp in (False, True):
            r = {"conversation": conv, "add_generation_prompt": agp, "messages": messages}
            try:
                r["rendered"] = tpl.render(messages=messages, add_generation_prompt=agp,
                                           bos_token=bos, eos_token=eos, tools=None)
            except TemplateError as e:
                r["error"] = str(e)
            renders.append(r)
    out.append({"name": name, "source": source, "bos_token": bos, "eos_token": eos, "renders": renders})

json.dump({"jinja2": jinja2.__version__, "templates": out}, sys.stdout, ensure_ascii=False, indent=1)
print()
