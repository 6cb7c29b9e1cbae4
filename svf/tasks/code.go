package tasks

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// codeTask: what a Python-like program of 2–4 lines prints.
//
//	What does this print?
//	x = 7
//	y = x - 4
//	if y < x: y = y * 3
//	print(y + 2)
func codeTask() Task {
	return genTask{name: Code, domain: "code", extract: ExtractOutput, gen: func(rng *rand.Rand) (string, string, string) {
		p := newProgram(rng)
		return "What does this print?\n" + p.python(), strconv.Itoa(p.run()), p.trace()
	}}
}

// codeJSTask: the same programs written as JavaScript.
//
//	What does this log?
//	let x = 7;
//	let y = x - 4;
//	if (y < x) y = y * 3;
//	console.log(y + 2);
func codeJSTask() Task {
	return genTask{name: CodeJS, domain: "code", unseen: true, extract: ExtractOutput, gen: func(rng *rand.Rand) (string, string, string) {
		p := newProgram(rng)
		return "What does this log?\n" + p.js(), strconv.Itoa(p.run()), p.trace()
	}}
}

// An operand is a variable (name != "") or a number.
type operand struct {
	name string
	num  int
}

func (o operand) String() string {
	if o.name != "" {
		return o.name
	}
	return strconv.Itoa(o.num)
}

// An expr is l alone (op 0) or l op r, op one of + - *.
type expr struct {
	l, r operand
	op   byte
}

func (e expr) String() string {
	if e.op == 0 {
		return e.l.String()
	}
	return fmt.Sprintf("%s %c %s", e.l, e.op, e.r)
}

// A stmt assigns e to v, only when cond holds if it has one (cond.op != 0); the last
// statement of a program prints e instead (v == "").
type stmt struct {
	v    string
	e    expr
	cond expr // op < or >, or 0 for none
}

// A program is a few statements, the last one printing.
type program []stmt

// maxValue bounds every value a program computes, in magnitude.
const maxValue = 99

var varNames = []string{"a", "b", "c", "n", "x", "y", "z"}

// newProgram draws a program of 2–4 statements: a variable set to a digit, up to two
// assignments (a new variable, an update, or an update under an if), then a print. Values
// stay within ±maxValue. Programs of two lines are rarer, since there are few of them.
func newProgram(rng *rand.Rand) program {
	for {
		first := pick(rng, varNames)
		p := program{{v: first, e: expr{l: operand{num: 1 + rng.IntN(9)}}}}
		vars := []string{first}
		for range [...]int{0, 1, 1, 2, 2}[rng.IntN(5)] { // 2, 3, 4 lines: 20, 40, 40 %
			var s stmt
			switch rng.IntN(3) {
			case 0: // a new variable
				v := pick(rng, varNames)
				for contains(vars, v) {
					v = pick(rng, varNames)
				}
				s = stmt{v: v, e: randExpr(rng, vars)}
				vars = append(vars, v)
			case 1: // x = x + 2
				v := pick(rng, vars)
				s = stmt{v: v, e: randUpdate(rng, v, vars)}
			default: // if x > y: x = x - y
				v := pick(rng, vars)
				cond := expr{l: operand{name: v}, op: "<>"[rng.IntN(2)], r: randOperand(rng, vars, v)}
				s = stmt{v: v, e: randUpdate(rng, v, vars), cond: cond}
			}
			p = append(p, s)
		}
		out := randExpr(rng, vars)
		if rng.IntN(4) == 0 {
			out = expr{l: operand{name: pick(rng, vars)}}
		}
		p = append(p, stmt{e: out})
		if p.bounded() {
			return p
		}
	}
}

// randExpr is "l op r" of a variable of vars and a digit or another variable; a product
// is by 2, 3 or 4.
func randExpr(rng *rand.Rand, vars []string) expr {
	v := pick(rng, vars)
	e := expr{l: operand{name: v}, op: "+-*"[rng.IntN(3)], r: randOperand(rng, vars, v)}
	if e.op == '*' {
		e.r = operand{num: 2 + rng.IntN(3)}
	}
	if rng.IntN(2) == 0 && e.op != '-' {
		e.l, e.r = e.r, e.l
	}
	return e
}

// randUpdate is "v op r": v changed by a number or another variable.
func randUpdate(rng *rand.Rand, v string, vars []string) expr {
	e := expr{l: operand{name: v}, op: "+-*"[rng.IntN(3)], r: randOperand(rng, vars, v)}
	if e.op == '*' {
		e.r = operand{num: 2 + rng.IntN(3)}
	}
	return e
}

// randOperand is a digit or, half the time when there is one, a variable of vars other
// than not.
func randOperand(rng *rand.Rand, vars []string, not string) operand {
	var others []string
	for _, v := range vars {
		if v != not {
			others = append(others, v)
		}
	}
	if len(others) > 0 && rng.IntN(2) == 0 {
		return operand{name: pick(rng, others)}
	}
	return operand{num: 1 + rng.IntN(9)}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// run executes p and returns what it prints.
func (p program) run() int {
	env := map[string]int{}
	for _, s := range p {
		v := s.e.eval(env)
		if s.v == "" {
			return v
		}
		if s.cond.op == 0 || s.cond.eval(env) != 0 {
			env[s.v] = v
		}
	}
	panic("tasks: program without a print")
}

// trace is p's solution: one line per statement with the values put in, the same for
// Python and JavaScript, then the answer.
//
//	x = 7
//	y = 7-4 = 3
//	y < x: 3<7 yes, y = 3*3 = 9
//	9+2 = 11
//	Answer: 11
func (p program) trace() string {
	env := map[string]int{}
	var lines []string
	for _, s := range p {
		v := s.e.eval(env)
		calc := s.e.subst(env)
		if s.e.op != 0 {
			calc += " = " + strconv.Itoa(v)
		}
		switch {
		case s.v == "":
			lines = append(lines, calc, "Answer: "+strconv.Itoa(v))
			return strings.Join(lines, "\n")
		case s.cond.op != 0:
			line := s.cond.String() + ": " + s.cond.subst(env)
			if s.cond.eval(env) != 0 {
				line += " yes, " + s.v + " = " + calc
				env[s.v] = v
			} else {
				line += " no"
			}
			lines = append(lines, line)
		default:
			lines = append(lines, s.v+" = "+calc)
			env[s.v] = v
		}
	}
	panic("tasks: program without a print")
}

// subst writes e with the values of its variables: "7-4", "4-(-1)".
func (e expr) subst(env map[string]int) string {
	l := strconv.Itoa(e.l.eval(env))
	if e.op == 0 {
		return l
	}
	r := strconv.Itoa(e.r.eval(env))
	if r[0] == '-' {
		r = "(" + r + ")"
	}
	return l + string(e.op) + r
}

// bounded reports whether every value p computes stays within ±maxValue.
func (p program) bounded() bool {
	env := map[string]int{}
	for _, s := range p {
		v := s.e.eval(env)
		if v < -maxValue || v > maxValue {
			return false
		}
		if s.v != "" && (s.cond.op == 0 || s.cond.eval(env) != 0) {
			env[s.v] = v
		}
	}
	return true
}

func (o operand) eval(env map[string]int) int {
	if o.name != "" {
		v, ok := env[o.name]
		if !ok {
			panic("tasks: undefined variable " + o.name)
		}
		return v
	}
	return o.num
}

func (e expr) eval(env map[string]int) int {
	l := e.l.eval(env)
	if e.op == 0 {
		return l
	}
	r := e.r.eval(env)
	switch e.op {
	case '+':
		return l + r
	case '-':
		return l - r
	case '*':
		return l * r
	case '<':
		return b2i(l < r)
	case '>':
		return b2i(l > r)
	}
	panic(fmt.Sprintf("tasks: unknown operator %q", e.op))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// python writes p as Python: "x = 3", "if x > y: x = x - y", "print(x * 2)".
func (p program) python() string {
	lines := make([]string, len(p))
	for i, s := range p {
		switch {
		case s.v == "":
			lines[i] = "print(" + s.e.String() + ")"
		case s.cond.op != 0:
			lines[i] = fmt.Sprintf("if %s: %s = %s", s.cond, s.v, s.e)
		default:
			lines[i] = fmt.Sprintf("%s = %s", s.v, s.e)
		}
	}
	return strings.Join(lines, "\n")
}

// js writes p as JavaScript: "let x = 3;" where x is new, "x = x + 1;",
// "if (x > y) x = x - y;", "console.log(x * 2);".
func (p program) js() string {
	lines := make([]string, len(p))
	declared := map[string]bool{}
	for i, s := range p {
		switch {
		case s.v == "":
			lines[i] = "console.log(" + s.e.String() + ");"
		case s.cond.op != 0:
			lines[i] = fmt.Sprintf("if (%s) %s = %s;", s.cond, s.v, s.e)
		case !declared[s.v]:
			lines[i] = fmt.Sprintf("let %s = %s;", s.v, s.e)
			declared[s.v] = true
		default:
			lines[i] = fmt.Sprintf("%s = %s;", s.v, s.e)
		}
	}
	return strings.Join(lines, "\n")
}
