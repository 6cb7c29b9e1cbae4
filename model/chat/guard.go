package chat

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/ardanlabs/jinja"
)

// A chat template comes from a downloaded checkpoint, so it is untrusted input, and the
// engine has no sandbox. These limits stand in for the parts of Jinja2's sandbox that
// transformers relies on, and for where the Go engine fails worse than Python: a Go stack
// overflow or a failed allocation ends the process (the page's engine worker), where
// Python raises an error. Measured natively (linux/amd64) with ardanlabs/jinja v1.8.0.
//
// They do not bound everything: as under Jinja2's sandbox, nested loops can run long and
// a template can build a huge string ('a' * 10**11, indent(10**11), s + s in a loop),
// which in Go ends the process when memory runs out.
const (
	// maxSource bounds a template's length, and with it the engine's work per template:
	// its parse is quadratic in the number of block tags with no text between them, and
	// a chain of operators recurses once per operator. At the bound, 3,800 {% if %}
	// {% endif %} pairs parse in 44 ms, and 64 K unary minuses (- - - 1) take 0.16 s and
	// 32 MB of stack (without the bound, 64 K tags took 1.9 s, and 30 K parentheses
	// 117 MB of stack). The longest real templates are far shorter: Kimi K3's is 25 KB,
	// gpt-oss's and Gemma 4's 17 KB.
	maxSource = 64 << 10

	// maxNesting bounds how deep brackets ((, [, {) nest in one tag: the engine's parser
	// recurses through a dozen functions per level (4 KB of stack). Jinja2 itself gives
	// up with a RecursionError below 90 levels.
	maxNesting = 100

	// maxMacroDepth bounds how deep macro calls nest at render time. A macro that calls
	// itself without end overflows the Go stack (1 GB), which ends the process; Jinja2
	// raises a RecursionError before 200 levels. Real templates recurse a few levels
	// (gpt-oss's render_typescript_type, into nested JSON schemas).
	maxMacroDepth = 200

	// maxRange is the most items range() makes: Jinja2's sandbox MAX_RANGE. The
	// engine's own range has no bound (range(10**12) fills memory).
	maxRange = 100_000
)

// checkTag checks the inside of an expression or statement tag: brackets nest at most
// maxNesting deep, and a slice has a step only without a start and stop (x[::-1] is
// fine, x[0:9:2] is refused). The engine does not clamp a stepped slice's bounds to the
// sequence as Python does: it sizes the result from them (messages[0:10**12:2] asks for
// 12 TB, which ends the process) or walks every index between them (a non-ASCII string).
// Strings are skipped as the engine's tokenizer skips them.
func checkTag(inner string) error {
	type bracket struct {
		open   byte
		colons int     // colons directly inside a "["
		filled [3]bool // whether the start, stop and step of a "[" have anything in them
	}
	var stack []bracket
	fill := func() {
		if n := len(stack); n > 0 && stack[n-1].open == '[' {
			stack[n-1].filled[min(stack[n-1].colons, 2)] = true
		}
	}
	for i := 0; i < len(inner); i++ {
		switch c := inner[i]; c {
		case '\'', '"':
			fill()
			for i++; i < len(inner) && inner[i] != c; i++ {
				if inner[i] == '\\' {
					i++
				}
			}
		case '(', '[', '{':
			fill()
			if len(stack) == maxNesting {
				return fmt.Errorf("brackets nest more than %d deep", maxNesting)
			}
			stack = append(stack, bracket{open: c})
		case ')', ']', '}':
			if len(stack) == 0 {
				continue // the lexer refuses it
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if c == ']' && top.open == '[' && top.colons >= 2 && top.filled[2] && (top.filled[0] || top.filled[1]) {
				return errors.New("a slice with a step cannot have a start or stop here, as x[0:9:2] (x[::2] and x[::-1] are fine)")
			}
		case ':':
			if n := len(stack); n > 0 && stack[n-1].open == '[' {
				stack[n-1].colons++
			}
		case ' ', '\t', '\n', '\r':
		default:
			fill()
		}
	}
	return nil
}

// macroGuard names the two functions that prepare calls at the start and end of every
// macro's body, which count how deep macro calls nest and stop the render past
// maxMacroDepth. The names end in a random number drawn by New, so that a template cannot
// call them (to unwind the count before calling itself again, say).
type macroGuard struct{ enter, leave string }

func newMacroGuard() macroGuard {
	suffix := fmt.Sprintf("%016x", rand.Uint64())
	return macroGuard{enter: "t2_macro_enter_" + suffix, leave: "t2_macro_leave_" + suffix}
}

// bind adds the two functions, with a count of their own, to the variables of one render.
func (g macroGuard) bind(vars map[string]jinja.Value) {
	depth := 0
	vars[g.enter] = jinja.NewCallable("macro_enter", func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		if depth++; depth > maxMacroDepth {
			return jinja.Undefined(), fmt.Errorf("macro calls nest more than %d deep", maxMacroDepth)
		}
		return jinja.NewString(""), nil
	})
	vars[g.leave] = jinja.NewCallable("macro_leave", func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
		depth--
		return jinja.NewString(""), nil
	})
}

// boundedRange is the template function range([start,] stop[, step]) of Python, whose
// integer arguments it wants, making at most maxRange items as Jinja2's sandbox does.
func boundedRange(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) < 1 || len(args) > 3 || len(kwargs) != 0 {
		return jinja.Undefined(), errors.New("range wants 1 to 3 integer arguments")
	}
	n := make([]int64, len(args))
	for i, a := range args {
		switch {
		case a.IsInt():
			n[i] = a.AsInt()
		case a.IsBool() && a.AsBool():
			n[i] = 1
		case a.IsBool():
		default:
			return jinja.Undefined(), fmt.Errorf("range: %s is not an integer", a.String())
		}
	}
	start, stop, step := int64(0), n[0], int64(1)
	if len(n) > 1 {
		start, stop = n[0], n[1]
	}
	if len(n) > 2 {
		step = n[2]
	}
	if step == 0 {
		return jinja.Undefined(), errors.New("range: step is zero")
	}
	count := rangeLen(start, stop, step)
	if count > maxRange {
		return jinja.Undefined(), fmt.Errorf("range has %d items, more than the %d allowed", count, maxRange)
	}
	items := make([]jinja.Value, count)
	for i := range items {
		items[i] = jinja.NewInt(start + int64(i)*step)
	}
	return jinja.NewList(items), nil
}

// rangeLen is len(range(start, stop, step)) for a step that is not zero, without
// overflow: the distance between two int64s fits in a uint64.
func rangeLen(start, stop, step int64) uint64 {
	switch {
	case step > 0 && start < stop:
		return (uint64(stop)-uint64(start)-1)/uint64(step) + 1
	case step < 0 && start > stop:
		return (uint64(start)-uint64(stop)-1)/-uint64(step) + 1
	}
	return 0
}
