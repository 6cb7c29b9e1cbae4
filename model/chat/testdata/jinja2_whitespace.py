#!/usr/bin/env python3
"""Writes jinja2_whitespace.json: random templates of text, tags and whitespace, rendered by
Python Jinja2 with trim_blocks and lstrip_blocks on (as transformers renders chat
templates), to hold the Go side's whitespace control to Jinja2's: the "-" and "+"
markers, trim_blocks, lstrip_blocks, comments, {% raw %}, newlines as "\\r\\n".

Usage: python3 jinja2_whitespace.py > jinja2_whitespace.json
Made with jinja2 3.1.6. A case whose render fails keeps Jinja2's error instead.
"""
import json
import random

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
rng = random.Random(7)

# Texts with the whitespace Jinja2 treats specially: newlines, blanks, Unicode spaces
# (U+00A0) and an ASCII separator (U+001C) that Python counts as whitespace and Go does not.
TEXTS = ["a", " ", "\n", "  ", "\t", "x\n  ", "\n\n", " b \n", "\r\n", "  \n  ", "{", "}", "\u00a0", "\x1c"]


def left():
    return rng.choice(["", "-", "+"])


def right(block=True):
    return rng.choice(["", "-", "+"] if block else ["", "-"])


def blank():
    return rng.choice(["", " ", "  "])


def piece(depth):
    kind = rng.randrange(7 if depth < 2 else 4)
    if kind == 0:
        return rng.choice(TEXTS)
    if kind == 1:
        return "{{%s%s'v'%s%s}}" % (left(), blank(), blank(), right(block=False))
    if kind == 2:
        return "{#%s c %s#}" % (left(), right())
    if kind == 3:
        return "{%%%s set x = 1 %s%%}" % (left(), right())
    if kind == 4:
        return "{%%%s if true %s%%}%s{%%%s endif %s%%}" % (left(), right(), pieces(depth + 1), left(), right())
    if kind == 5:
        return "{%%%s for i in [1, 2] %s%%}%s{%%%s endfor %s%%}" % (left(), right(), pieces(depth + 1), left(), right())
    raw = "".join(rng.choice(TEXTS + ["{{ y }}", "{% z %}"]) for _ in range(3))
    return "{%%%s raw %s%%}%s{%%%s endraw %s%%}" % (left(), rng.choice(["", "-"]), raw, left(), right())


def pieces(depth=0):
    return "".join(piece(depth) for _ in range(rng.randrange(1, 6)))


cases = []
for _ in range(400):
    source = pieces()
    try:
        cases.append({"source": source, "rendered": env.from_string(source).render()})
    except jinja2.TemplateError as e:
        cases.append({"source": source, "error": str(e)})

# One case a line, so that a change of the generator reads well in a diff.
print('{"jinja2": %s, "cases": [' % json.dumps(jinja2.__version__))
print(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
print("]}")
