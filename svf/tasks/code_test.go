package tasks

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// interpret is the naive twin of program.run: it executes the text of a code or code-js
// question line by line, so that the rendering is checked as well as the evaluation.
func interpret(src string) (string, error) {
	env := map[string]int{}
	value := func(tok string) (int, error) {
		if v, ok := env[tok]; ok {
			return v, nil
		}
		return strconv.Atoi(tok)
	}
	eval := func(e string) (int, error) {
		f := strings.Fields(e)
		switch len(f) {
		case 1:
			return value(f[0])
		case 3:
			l, err := value(f[0])
			if err != nil {
				return 0, err
			}
			r, err := value(f[2])
			if err != nil {
				return 0, err
			}
			switch f[1] {
			case "+":
				return l + r, nil
			case "-":
				return l - r, nil
			case "*":
				return l * r, nil
			case "<":
				return b2i(l < r), nil
			case ">":
				return b2i(l > r), nil
			}
		}
		return 0, fmt.Errorf("bad expression %q", e)
	}
	assign := func(s string) error {
		v, e, ok := strings.Cut(s, " = ")
		if !ok {
			return fmt.Errorf("bad statement %q", s)
		}
		x, err := eval(e)
		env[v] = x
		return err
	}
	lines := strings.Split(src, "\n")
	for _, line := range lines[1:] { // the first line is the question
		line = strings.TrimSuffix(line, ";")
		line = strings.TrimPrefix(line, "let ")
		switch {
		case strings.HasPrefix(line, "print(") || strings.HasPrefix(line, "console.log("):
			_, e, _ := strings.Cut(line, "(")
			x, err := eval(strings.TrimSuffix(e, ")"))
			return strconv.Itoa(x), err
		case strings.HasPrefix(line, "if ("): // JavaScript
			cond, body, _ := strings.Cut(line[len("if ("):], ") ")
			if c, err := eval(cond); err != nil || c == 0 {
				continue
			}
			line = body
		case strings.HasPrefix(line, "if "): // Python
			cond, body, _ := strings.Cut(line[len("if "):], ": ")
			if c, err := eval(cond); err != nil || c == 0 {
				continue
			}
			line = body
		}
		if err := assign(line); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no print in %q", src)
}

func TestProgramsAgreeWithInterpreter(t *testing.T) {
	for _, name := range []string{Code, CodeJS} {
		task, _ := Lookup(name)
		exs, err := Sample(task, Train, 11, 2000)
		if err != nil {
			t.Fatal(err)
		}
		lines := map[int]int{}
		for _, ex := range exs {
			got, err := interpret(ex.Input)
			if err != nil || got != ex.Output {
				t.Fatalf("%s: %q: interpreter says %q (%v), generator %q", name, ex.Input, got, err, ex.Output)
			}
			lines[strings.Count(ex.Input, "\n")]++
		}
		for n := 2; n <= 4; n++ {
			if lines[n] == 0 {
				t.Errorf("%s: no program of %d lines", name, n)
			}
		}
		if len(lines) != 3 {
			t.Errorf("%s: programs of %v lines", name, lines)
		}
	}
}

func TestInterpreter(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"What does this print?\nx = 3\ny = x - 5\nprint(y * 2)", "-4"},
		{"What does this print?\nx = 3\nif x > 2: x = x + 1\nif x < 2: x = 0\nprint(x)", "4"},
		{"What does this log?\nlet x = 3;\nif (x < 5) x = x * 3;\nlet y = 2 - x;\nconsole.log(y);", "-7"},
	} {
		if got, err := interpret(c.src); got != c.want || err != nil {
			t.Errorf("%q: %q, %v; want %q", c.src, got, err, c.want)
		}
	}
}
