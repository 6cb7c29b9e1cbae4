package chat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// prepare rewrites a chat template's source into one that the engine renders as Python
// Jinja2 renders the original, and checks it against the guards of guard.go. It does
// what Jinja2's lexer does and the engine does not, or does differently:
//
//   - Newlines: "\r\n" and "\r" become "\n", and one trailing newline is dropped
//     (keep_trailing_newline is off in transformers).
//   - Whitespace control: trim_blocks, lstrip_blocks, and the "-" and "+" markers of
//     {%- -%} {{- -}} {#- -#} {%+ +%}. The engine applies them to the nearest text even
//     across an expression: GLM 5.2's `Reasoning Effort: {{ x }}{%- endif -%}` lost its
//     space, and in `{% for %}{{ x }}\n{% endfor %}` trim_blocks ate the newline after
//     {{ x }}. prepare strips the text itself, drops the markers, and writes any text
//     the engine would still trim (a leading newline, trailing blanks) as a string
//     expression, which the engine never trims.
//   - Tag ends: in {{ }} and {% %}, "}}" and "%}" inside brackets do not end the tag
//     ({{ {'a': {'b': 1}} }}); prepare writes "} }" where the engine would stop early.
//   - {% raw %}: its content is text, written as a string expression.
//   - String escapes: \r \b \f \v \a, octal, \xhh, \uhhhh and \Uhhhhhhhh (Kimi K3's
//     template writes '\r', '\b', '\f') are decoded; the engine knows only \n \t \\ \' \".
//
// Every newline that prepare removes is kept in an empty comment {#\n#} in its place, so
// that the engine's parse errors name the template's own lines.
func prepare(source string, macros macroGuard) (string, error) {
	if len(source) > maxSource {
		return "", fmt.Errorf("the template is %d bytes, more than the %d allowed", len(source), maxSource)
	}
	src := normalizeNewlines(source)
	var out output
	lx := lexer{src: src, lineStarting: true}
	raw := false // inside {% raw %}
	for !lx.done() {
		text, tg, err := lx.next(raw)
		if err != nil {
			return "", err
		}
		out.text(text, raw)
		switch {
		case tg.kind == 0:
		case tg.kind == '#' || raw || tg.raw: // a comment, {% raw %} or {% endraw %}
			out.dropped(src[tg.start:tg.end])
			raw = tg.raw
		default:
			if err := out.tag(tg, macros); err != nil {
				return "", fmt.Errorf("line %d: %w", lineOf(src, tg.start), err)
			}
			out.dropped(src[tg.close:tg.end])
		}
	}
	return out.String(), nil
}

// normalizeNewlines turns "\r\n" and "\r" into "\n" and drops one trailing newline, as
// Jinja2's lexer does.
func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSuffix(s, "\n")
}

// lineOf is the 1-based line of src[i].
func lineOf(src string, i int) int {
	return 1 + strings.Count(src[:min(i, len(src))], "\n")
}

// isSpace is Python's str.isspace for one character, what Jinja2's "-" markers strip:
// Go's unicode.IsSpace and the four ASCII separators U+001C to U+001F.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// lexer walks a normalized source as Jinja2's lexer does, one text and the tag after it
// at a time.
type lexer struct {
	src string
	pos int // src[:pos] is done
	// lineStarting tells whether the last tag's end took a newline with it, so that the
	// text after it starts a line (as the source's start does): lstrip_blocks then
	// strips a block tag's indentation even when the text before it has no newline.
	lineStarting bool
}

// span is the text src[start:end] between two tags, of which src[start:keep] remains
// after whitespace control (what the tag before it strips belongs to that tag).
type span struct {
	src              string
	start, keep, end int
}

// lexTag is one tag: {{ }} (kind '{'), {% %} ('%') or {# #} ('#'); kind 0 is none, at the
// source's end.
type lexTag struct {
	kind byte
	// src[start:close] is the tag, delimiters and markers included; src[close:end] is
	// the whitespace after it that its end strips.
	start, close, end int
	inner             string // between the delimiters and markers
	left, right       byte   // the markers: '-', '+' or 0
	raw               bool   // a {% raw %} tag: the text after it is raw
}

func (lx *lexer) done() bool { return lx.pos >= len(lx.src) }

// errorf is an error at src[at], naming its line.
func (lx *lexer) errorf(at int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", lineOf(lx.src, at), fmt.Sprintf(format, args...))
}

// next returns the text from lx.pos to the next tag, after whitespace control, and that
// tag. Inside {% raw %} (raw), the only tag is {% endraw %}.
func (lx *lexer) next(raw bool) (span, lexTag, error) {
	start := lx.pos
	var tg lexTag
	var err error
	if raw {
		tg, err = lx.endRaw()
	} else {
		tg, err = lx.tag()
	}
	if err != nil {
		return span{}, lexTag{}, err
	}
	if tg.kind == 0 {
		lx.pos = len(lx.src)
		return span{lx.src, start, len(lx.src), len(lx.src)}, tg, nil
	}
	// Strip the end of the text as the tag's left side asks: "-" strips all whitespace;
	// otherwise lstrip_blocks strips a block or comment tag's indentation, when only
	// whitespace lies between it and the start of its line.
	text := span{lx.src, start, tg.start, tg.start}
	body := lx.src[start:tg.start]
	switch {
	case tg.left == '-':
		text.keep = start + len(strings.TrimRightFunc(body, isSpace))
	case tg.left != '+' && tg.kind != '{':
		lineStart := strings.LastIndexByte(body, '\n') + 1
		indent := body[lineStart:]
		if (lineStart > 0 || lx.lineStarting) && indent != "" && strings.TrimLeftFunc(indent, isSpace) == "" {
			text.keep = start + lineStart
		}
	}
	lx.lineStarting = strings.HasSuffix(lx.src[tg.start:tg.end], "\n")
	lx.pos = tg.end
	return text, tg, nil
}

// tag finds the next tag at or after lx.pos. Inside {{ }} and {% %}, strings are skipped
// and the end counts only outside brackets; a comment ends at the first "#}".
func (lx *lexer) tag() (lexTag, error) {
	src := lx.src
	open := lx.pos
	for ; open+1 < len(src); open++ {
		if c := src[open+1]; src[open] == '{' && (c == '{' || c == '%' || c == '#') {
			break
		}
	}
	if open+1 >= len(src) {
		return lexTag{}, nil
	}
	tg := lexTag{kind: src[open+1], start: open}
	i := open + 2
	if i < len(src) && (src[i] == '-' || src[i] == '+') {
		tg.left = src[i]
		i++
	}
	if tg.kind == '%' && isRawBegin(src[i:]) {
		// Jinja2's {% raw %} strips after "-%}" but has no trim_blocks newline.
		tg.raw = true
		tg.close = i + strings.Index(src[i:], "%}") + 2
		tg.end = tg.close
		if src[tg.close-3] == '-' {
			tg.right, tg.end = '-', skipSpace(src, tg.close)
		}
		return tg, nil
	}
	inner := i
	var brackets []byte
	for i < len(src) {
		if tg.kind == '#' || len(brackets) == 0 {
			if right, close, ok := tagEnd(src, i, tg.kind); ok {
				tg.inner, tg.right, tg.close, tg.end = src[inner:i], right, close, close
				switch {
				case right == '-':
					tg.end = skipSpace(src, close)
				case right == 0 && tg.kind != '{' && strings.HasPrefix(src[close:], "\n"):
					tg.end++ // trim_blocks
				}
				return tg, nil
			}
		}
		if tg.kind == '#' {
			i++
			continue
		}
		switch c := src[i]; c {
		case '\'', '"':
			end, ok := stringEnd(src, i)
			if !ok {
				return lexTag{}, lx.errorf(i, "unclosed string")
			}
			i = end
			continue
		case '(', '[', '{':
			brackets = append(brackets, c)
		case ')', ']', '}':
			if len(brackets) == 0 {
				return lexTag{}, lx.errorf(i, "unexpected %q", c)
			}
			if want := closing(brackets[len(brackets)-1]); c != want {
				return lexTag{}, lx.errorf(i, "unexpected %q, expected %q", c, want)
			}
			brackets = brackets[:len(brackets)-1]
		}
		i++
	}
	what := map[byte]string{'{': "expression {{", '%': "statement {%", '#': "comment {#"}[tg.kind]
	return lexTag{}, lx.errorf(open, "unclosed %s", what)
}

// tagEnd tells whether a tag of the kind ends at src[i]: at its closing delimiter ("}}",
// "%}" or "#}"), or at a marker before it ("-", or "+" but not before "}}"). It returns
// the marker and the index after the delimiter.
func tagEnd(src string, i int, kind byte) (right byte, close int, ok bool) {
	closer := string(kind) + "}"
	if kind == '{' {
		closer = "}}"
	}
	switch c := src[i]; {
	case (c == '-' || c == '+' && kind != '{') && strings.HasPrefix(src[i+1:], closer):
		return c, i + 1 + len(closer), true
	case strings.HasPrefix(src[i:], closer):
		return 0, i + len(closer), true
	}
	return 0, 0, false
}

// endRaw finds the {% endraw %} that ends a raw block: the first "{%", an optional
// marker, "endraw" between blanks, and "%}", "-%}" or "+%}", wherever it is.
func (lx *lexer) endRaw() (lexTag, error) {
	src := lx.src
	for open := lx.pos; ; {
		k := strings.Index(src[open:], "{%")
		if k < 0 {
			return lexTag{}, lx.errorf(lx.pos, "{%% raw %%} without {%% endraw %%}")
		}
		open += k
		tg := lexTag{kind: '%', start: open}
		i := open + 2
		if i < len(src) && (src[i] == '-' || src[i] == '+') {
			tg.left = src[i]
			i++
		}
		j := skipSpace(src, i)
		if !strings.HasPrefix(src[j:], "endraw") {
			open += 2
			continue
		}
		j = skipSpace(src, j+len("endraw"))
		if j < len(src) && (src[j] == '-' || src[j] == '+') {
			tg.right = src[j]
			j++
		}
		if !strings.HasPrefix(src[j:], "%}") {
			open += 2
			continue
		}
		tg.close, tg.end = j+2, j+2
		switch {
		case tg.right == '-':
			tg.end = skipSpace(src, tg.close)
		case tg.right == 0 && strings.HasPrefix(src[tg.close:], "\n"):
			tg.end++ // trim_blocks
		}
		return tg, nil
	}
}

// isRawBegin tells whether s, the inside of a "{%" after its marker, is that of a
// {% raw %} tag: "raw" between blanks, then "%}" or "-%}".
func isRawBegin(s string) bool {
	j := skipSpace(s, 0)
	if !strings.HasPrefix(s[j:], "raw") {
		return false
	}
	j = skipSpace(s, j+3)
	return strings.HasPrefix(s[j:], "%}") || strings.HasPrefix(s[j:], "-%}")
}

// skipSpace returns the index of the first character at or after i that is not
// whitespace (Python's).
func skipSpace(s string, i int) int {
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isSpace(r) {
			break
		}
		i += w
	}
	return i
}

// stringEnd returns the index after the string literal that starts at s[i], a quote,
// and whether it is closed.
func stringEnd(s string, i int) (int, bool) {
	q := s[i]
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i + 1, true
		}
	}
	return len(s), false
}

// closing is the bracket that closes open.
func closing(open byte) byte {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}

// output is the source prepare writes for the engine.
type output struct {
	strings.Builder
}

// dropped keeps the newlines of s, which the engine does not see, in an empty comment.
func (o *output) dropped(s string) {
	if n := strings.Count(s, "\n"); n > 0 {
		o.WriteString("{#" + strings.Repeat("\n", n) + "#}")
	}
}

// text writes a text span, whose text the engine must output unchanged. The engine trims
// a leading newline and trailing blanks of a text next to a block tag, so they go in
// string expressions; so does all of a text ending in "{", which would open a tag with
// the "{{" after it, and raw text, which may hold tags.
func (o *output) text(t span, raw bool) {
	kept := t.src[t.start:t.keep]
	lead := len(kept) - len(strings.TrimLeft(kept, "\n"))
	trail := len(strings.TrimRight(kept, " \t"))
	switch {
	case kept == "":
	case raw || lead >= trail || strings.HasSuffix(kept[:trail], "{"):
		o.literal(kept)
	default:
		o.literal(kept[:lead])
		o.WriteString(kept[lead:trail])
		o.literal(kept[trail:])
	}
	o.dropped(t.src[t.keep:t.end])
}

// literal writes s, if not empty, as an expression that outputs it: a string in single
// quotes, newlines kept as they are (the engine reads them so), backslashes and quotes
// escaped.
func (o *output) literal(s string) {
	if s == "" {
		return
	}
	o.WriteString("{{ '")
	o.WriteString(literalEscaper.Replace(s))
	o.WriteString("' }}")
}

// literalEscaper escapes text for the inside of a single-quoted string of the engine.
var literalEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// tag writes an expression or statement tag without its markers, its strings' escapes
// decoded, after checking it against the guards, and with the macro guard's calls
// around a macro's body.
func (o *output) tag(tg lexTag, macros macroGuard) error {
	if err := checkTag(tg.inner); err != nil {
		return err
	}
	inner := rewriteInner(tg.inner, tg.kind)
	// Line continuations in strings ("\" at a line's end) go; their newlines stay here.
	pad := strings.Repeat("\n", max(0, strings.Count(tg.inner, "\n")-strings.Count(inner, "\n")))
	if tg.kind == '{' {
		o.WriteString("{{ " + inner + pad + " }}")
		return nil
	}
	kw := keyword(tg.inner)
	switch kw {
	case "include", "import", "from", "extends":
		return fmt.Errorf("{%% %s %%} is not allowed: a chat template must be self-contained", kw)
	case "raw", "endraw": // not as the lexer reads a raw block (the engine would take it as one)
		return fmt.Errorf("{%% %s %%} out of place: a raw block is {%% raw %%}…{%% endraw %%}", kw)
	case "endmacro":
		o.WriteString("{{ " + macros.leave + "() }}")
	}
	o.WriteString("{% " + inner + pad + " %}")
	if kw == "macro" {
		o.WriteString("{{ " + macros.enter + "() }}")
	}
	return nil
}

// keyword is a statement's keyword as the engine reads it: the letters and underscores it
// starts with.
func keyword(inner string) string {
	inner = strings.TrimSpace(inner)
	for i, r := range inner {
		if r != '_' && !unicode.IsLetter(r) {
			return inner[:i]
		}
	}
	return inner
}

// rewriteInner rewrites the inside of a tag for the engine: the escapes of its strings
// decoded (decodeEscapes) and, in an expression, "}}" written "} }" so that the engine's
// scanner does not end the tag there.
func rewriteInner(inner string, kind byte) string {
	var b strings.Builder
	for i := 0; i < len(inner); {
		switch c := inner[i]; {
		case c == '\'' || c == '"':
			end, _ := stringEnd(inner, i)
			b.WriteString(decodeEscapes(inner[i:end]))
			i = end
		case kind == '{' && c == '}' && strings.HasPrefix(inner[i+1:], "}"):
			b.WriteString("} ")
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// decodeEscapes rewrites a quoted string literal so that the engine reads from it what
// Python reads: the escapes it does not know are decoded to the characters themselves,
// written raw (a quote, a backslash and a newline escaped again), and a line continuation
// goes. \n \t \\ \' \" stay, as do unknown escapes (kept as written by both), \N{name}
// and malformed escapes (an error in Python).
func decodeEscapes(lit string) string {
	if !strings.Contains(lit, `\`) {
		return lit
	}
	q := lit[0]
	body := lit[1 : len(lit)-1]
	var b strings.Builder
	b.WriteByte(q)
	put := func(r rune) {
		switch r {
		case '\\', '\'', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 == len(body) {
			b.WriteByte(body[i])
			continue
		}
		e := body[i+1]
		if r, ok := map[byte]rune{'a': 7, 'b': 8, 'f': 12, 'v': 11, 'r': 13}[e]; ok {
			put(r)
			i++
			continue
		}
		switch {
		case e == '\n': // a line continuation
			i++
		case e >= '0' && e <= '7':
			n := 1
			for n < 3 && i+1+n < len(body) && body[i+1+n] >= '0' && body[i+1+n] <= '7' {
				n++
			}
			v, _ := strconv.ParseUint(body[i+1:i+1+n], 8, 32)
			put(rune(v))
			i += n
		case e == 'x' || e == 'u' || e == 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			v, err := strconv.ParseUint(body[i+2:min(i+2+n, len(body))], 16, 32)
			if err != nil || i+2+n > len(body) || v > unicode.MaxRune {
				b.WriteByte('\\') // malformed: left as written
				continue
			}
			put(rune(v))
			i += 1 + n
		default: // \n \t \\ \' \" and the rest, which the engine reads as Python does
			b.WriteByte('\\')
			b.WriteByte(e)
			i++
		}
	}
	b.WriteByte(q)
	return b.String()
}
