package tasks

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The general mix: what the demo's base model is pretrained on. Transformer²'s premise
// is a pretrained generalist whose abilities SVF experts amplify for a domain, so the
// base does not see the domains' own tasks: their train splits are left to the experts.
// It sees the same world (the people, things, verbs and numbers of the suite) in other
// question forms, the skills the domains' tasks combine taught one at a time, and forms
// of no domain:
//
//	family      domain     question                                        answer
//	arith       math       "What is 7 + 5 - 3?", 2–4 terms ≤ 60              worked sum
//	word-ops    math       "What is 3 packs of 6?", twice, more/fewer than   worked
//	if-then     math       "If Ann has 7 pens and buys 5, how many …?"       worked
//	assign      code       Python or JavaScript assignments, "What is y?"    trace
//	cond        code       "x is 3 and y is 7. If x < y, x becomes x * 3.",  trace
//	                       or the same as code, then "What is x?"
//	one-line    code       one print or console.log of numbers              trace
//	order       reasoning  2–3 comparisons, "List them from … to …" or       the order
//	                       "Who is (second) tallest?"                       or a name
//	pick        reasoning  one comparison of two, options (A) (B)            letter
//	yes-no      reasoning  2–3 comparisons, "Is Cy taller than Ann?"         yes or no
//	reverse     other      "Reverse the list: pens, eggs, cards"             list
//	sort        other      "Sort these names: Cy, Ann, Bo"                   list
//	count       other      "How many words are in this list: …?"             number
//	choose      other      "Which of these is a name?" (A)–(C) or (A)–(D)    letter
//	cls-general cls        the classification prompt of a question above     its domain
//
// The domains' tasks then combine what the base knows in forms it has not seen: two or
// three steps told of one person (math), several lines of code that end in a print
// (code), three people and lettered options (reasoning). The unseen tasks (math-hard,
// code-js, reasoning-hard) are held out of both the base and the experts.

// General returns the families of the base model's mix, cls-general last.
func General() []Task {
	return []Task{
		arithTask(), wordOpsTask(), ifThenTask(),
		assignTask(), condTask(), oneLineTask(),
		orderTask(), pickTask(), yesNoTask(),
		reverseTask(), sortTask(), countTask(), chooseTask(),
		clsGeneralTask{},
	}
}

// GeneralWeights is how much of the base model's mix each general family takes, relative
// to the others (1: the plain share). Arithmetic is what the math and code tasks stand on
// and what a small model learns slowest, so its families weigh most; the list families,
// learnt in a few hundred steps, least.
func GeneralWeights() map[string]float64 {
	return map[string]float64{
		Arith: 3, WordOps: 1.5, IfThen: 1.5,
		Assign: 1.5, Cond: 1, OneLine: 1.5,
		Order: 1, Pick: 1, YesNo: 1,
		Reverse: 0.5, Sort: 0.5, Count: 0.5, Choose: 1,
		ClsGeneral: 1,
	}
}

// Names of the general families.
const (
	Arith      = "arith"
	WordOps    = "word-ops"
	IfThen     = "if-then"
	Assign     = "assign"
	Cond       = "cond"
	OneLine    = "one-line"
	Order      = "order"
	Pick       = "pick"
	YesNo      = "yes-no"
	Reverse    = "reverse"
	Sort       = "sort"
	Count      = "count"
	Choose     = "choose"
	ClsGeneral = "cls-general"
)

// arithTask: "What is 7 + 5 - 3?" Two to four numbers up to 60, added and subtracted from
// left to right, never below zero. Solution: "7+5=12, 12-3=9. Answer: 9".
func arithTask() Task {
	return genTask{name: Arith, domain: "math", extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		n := 2 + rng.IntN(3)
		total := 1 + rng.IntN(40)
		terms := []string{strconv.Itoa(total)}
		var work []string
		for range n - 1 {
			d := 1 + rng.IntN(20)
			if rng.IntN(2) == 0 && d <= total {
				work = append(work, equation(total, '-', d))
				total -= d
				terms = append(terms, "- "+strconv.Itoa(d))
			} else {
				work = append(work, equation(total, '+', d))
				total += d
				terms = append(terms, "+ "+strconv.Itoa(d))
			}
		}
		return "What is " + strings.Join(terms, " ") + "?", strconv.Itoa(total), worked(work, total)
	}}
}

// wordOpsTask: one operation said in words: "What is 3 packs of 6?", "What is double 7?",
// "What is three times 8?", "What is 5 more than 12?", "What is 4 fewer than 12?".
func wordOpsTask() Task {
	return genTask{name: WordOps, domain: "math", extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		a, b := 2+rng.IntN(9), 2+rng.IntN(9)
		var q string
		var w []string
		var r int
		switch rng.IntN(6) {
		case 5:
			x, y := 2+rng.IntN(30), 2+rng.IntN(30)
			q = fmt.Sprintf("What is the total of %d and %d?", x, y)
			if rng.IntN(2) == 0 {
				q = fmt.Sprintf("What are %d %s and %d %s together?", x, pick(rng, things), y, "more")
			}
			w, r = []string{equation(x, '+', y)}, x+y
		case 0:
			q = fmt.Sprintf("What is %d packs of %d %s?", a, b, pick(rng, things))
			w, r = []string{equation(a, '*', b)}, a*b
		case 1:
			x := 2 + rng.IntN(40)
			q = fmt.Sprintf("What is double %d?", x)
			w, r = []string{equation(x, '*', 2)}, 2*x
		case 2:
			x, k, times := 2+rng.IntN(30), 2, "twice"
			if rng.IntN(2) == 0 {
				k, times = 3, "three times"
			}
			q = fmt.Sprintf("What is %s %d?", times, x)
			w, r = []string{equation(x, '*', k)}, k*x
		case 3:
			x, d := 2+rng.IntN(40), 1+rng.IntN(20)
			q = fmt.Sprintf("What is %d more than %d?", d, x)
			w, r = []string{equation(x, '+', d)}, x+d
		default:
			d := 1 + rng.IntN(20)
			x := d + 1 + rng.IntN(40)
			q = fmt.Sprintf("What is %d fewer than %d?", d, x)
			w, r = []string{equation(x, '-', d)}, x-d
		}
		return q, strconv.Itoa(r), worked(w, r)
	}}
}

// ifThenTask: one change of a count, as a conditional: "If Ann has 7 pens and buys 5, how
// many pens will Ann have?" Solution: "7+5=12. Answer: 12".
func ifThenTask() Task {
	return genTask{name: IfThen, domain: "math", extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		name, thing := pick(rng, people), pick(rng, things)
		x, d := 2+rng.IntN(30), 1+rng.IntN(15)
		verb, op, r := fmt.Sprintf(pick(rng, gains), d), byte('+'), x+d
		if rng.IntN(2) == 0 && d <= x {
			verb, op, r = fmt.Sprintf(pick(rng, losses), d), '-', x-d
		}
		var q string
		switch rng.IntN(3) {
		case 0:
			q = fmt.Sprintf("If %s has %d %s and %s, how many %s will %s have?", name, x, thing, verb, thing, name)
		case 1:
			pron := pronoun(name)
			q = fmt.Sprintf("%s has %d %s. How many will %s have if %s %s?", name, x, thing, strings.ToLower(pron), strings.ToLower(pron), verb)
		default:
			past := map[string]string{"buys": "bought", "finds": "found", "wins": "won", "gets": "got",
				"loses": "lost", "sells": "sold", "gives": "gave", "uses": "used"}
			v, rest, _ := strings.Cut(verb, " ")
			q = fmt.Sprintf("If %s had %d %s and %s %s, how many %s would %s have?", name, x, thing, past[v], rest, thing, name)
		}
		return q, strconv.Itoa(r), worked([]string{equation(x, op, d)}, r)
	}}
}

// assignTask: two or three assignments, in Python or JavaScript, then "What is y?". The
// solution is the code tasks' trace: "x = 7\ny = 7-4 = 3\nAnswer: 3".
func assignTask() Task {
	return genTask{name: Assign, domain: "code", extract: ExtractOutput, gen: func(rng *rand.Rand) (string, string, string) {
		for {
			p := newProgram(rng)
			var body program
			for _, s := range p {
				if s.v != "" && s.cond.op == 0 {
					body = append(body, s)
				}
			}
			if len(body) < 2 {
				continue
			}
			v := body[len(body)-1].v
			q := body
			q = append(slices.Clone(q), stmt{e: expr{l: operand{name: v}}})
			code := q.python()
			if rng.IntN(2) == 0 {
				code = q.js()
			}
			code = code[:strings.LastIndexByte(code, '\n')] // the print is the question
			return code + "\nWhat is " + v + "?", strconv.Itoa(q.run()), q.trace()
		}
	}}
}

// condTask: a conditional update said in words: "x is 3 and y is 7. If x < y, x becomes
// x * 3. What is x now?" Solution: "x < y: 3<7 yes, x = 3*3 = 9\nAnswer: 9".
func condTask() Task {
	return genTask{name: Cond, domain: "code", extract: ExtractOutput, gen: func(rng *rand.Rand) (string, string, string) {
		for {
			v, w := pick(rng, varNames), pick(rng, varNames)
			if v == w {
				continue
			}
			x, y := 1+rng.IntN(9), 1+rng.IntN(9)
			env := map[string]int{v: x, w: y}
			cond := expr{l: operand{name: v}, op: "<>"[rng.IntN(2)], r: operand{name: w}}
			upd := randUpdate(rng, v, []string{v, w})
			r, line := x, cond.String()+": "+cond.subst(env)
			if cond.eval(env) != 0 {
				r = upd.eval(env)
				calc := upd.subst(env) + " = " + strconv.Itoa(r)
				line += " yes, " + v + " = " + calc
			} else {
				line += " no"
			}
			q := fmt.Sprintf("%s is %d and %s is %d. If %s, %s becomes %s. What is %s now?", v, x, w, y, cond, v, upd, v)
			sol := line + "\nAnswer: " + strconv.Itoa(r)
			if rng.IntN(2) == 0 { // as code: the statement kinds of the code tasks
				p := program{{v: v, e: expr{l: operand{num: x}}}, {v: w, e: expr{l: operand{num: y}}}, {v: v, e: upd, cond: cond}, {e: expr{l: operand{name: v}}}}
				code := p.python()
				if rng.IntN(2) == 0 {
					code = p.js()
				}
				q = code[:strings.LastIndexByte(code, '\n')] + "\nWhat is " + v + "?"
				sol = p.trace()
			}
			return q, strconv.Itoa(r), sol
		}
	}}
}

// oneLineTask: one line that prints numbers, in Python or JavaScript: "What does this
// print?\nprint(3 + 4)". Solution: "3+4 = 7\nAnswer: 7".
func oneLineTask() Task {
	return genTask{name: OneLine, domain: "code", extract: ExtractOutput, gen: func(rng *rand.Rand) (string, string, string) {
		a, b := 1+rng.IntN(40), 1+rng.IntN(20)
		e := expr{l: operand{num: a}, op: "+-*"[rng.IntN(3)], r: operand{num: b}}
		if e.op == '*' {
			e.r = operand{num: 2 + rng.IntN(3)}
		}
		p := program{{e: e}}
		q := "What does this print?\n" + p.python()
		if rng.IntN(2) == 0 {
			q = "What does this log?\n" + p.js()
		}
		return q, strconv.Itoa(p.run()), p.trace()
	}}
}

// comparisons draws k people in order on a scale and states the k−1 comparisons of
// neighbours in random order and direction; order[0] has the most of the quality.
func comparisons(rng *rand.Rand, k int) (scale, []string, string) {
	sc := scales[rng.IntN(len(scales))]
	perm := rng.Perm(len(shortNames))
	order := make([]string, k)
	for i := range order {
		order[i] = shortNames[perm[i]]
	}
	facts := make([]string, k-1)
	for i := range facts {
		if rng.IntN(2) == 0 {
			facts[i] = order[i] + " is " + sc.more + " than " + order[i+1] + "."
		} else {
			facts[i] = order[i+1] + " is " + sc.less + " than " + order[i] + "."
		}
	}
	rng.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
	return sc, order, strings.Join(facts, " ")
}

// orderTask: two or three comparisons, then "List them from tallest to shortest."
// Solution: "From tallest to shortest: Ann, Bo, Cy. Answer: Ann, Bo, Cy".
func orderTask() Task {
	return genTask{name: Order, domain: "reasoning", extract: ExtractList, gen: func(rng *rand.Rand) (string, string, string) {
		k := 3 + rng.IntN(2)
		sc, order, facts := comparisons(rng, k)
		list := strings.Join(order, ", ")
		from := "From " + sc.most + " to " + sc.least + ": " + list + ". "
		if rng.IntN(2) == 0 {
			return facts + " List them from " + sc.most + " to " + sc.least + ".", list, from + "Answer: " + list
		}
		// Who is first, last, or with four, second or second last (no options).
		questions := []struct {
			text string
			rank int
		}{{sc.most, 0}, {sc.least, k - 1}, {"second " + sc.most, 1}, {"second " + sc.least, k - 2}}
		q := questions[rng.IntN(2*(k-2))]
		who := order[q.rank]
		return facts + " Who is " + q.text + "?", who, from + strings.ToUpper(q.text[:1]) + q.text[1:] + ": " + who + ". Answer: " + who
	}}
}

// pickTask: one comparison of two people and lettered options: "Ann is taller than Bo.
// Who is shorter?\n(A) Ann (B) Bo". Solution: "From tallest to shortest: Ann, Bo.
// Shortest: Bo. Answer: (B)".
func pickTask() Task {
	return genTask{name: Pick, domain: "reasoning", extract: letters('B'), gen: func(rng *rand.Rand) (string, string, string) {
		sc, order, facts := comparisons(rng, 2)
		rank, word := 0, sc.more
		if rng.IntN(2) == 0 {
			rank, word = 1, sc.less
		}
		var b strings.Builder
		b.WriteString(facts + " Who is " + word + "?\n")
		answer := ""
		for i, j := range rng.Perm(2) {
			letter := string(rune('A' + i))
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("(" + letter + ") " + order[j])
			if j == rank {
				answer = letter
			}
		}
		super := sc.most
		if rank == 1 {
			super = sc.least
		}
		sol := "From " + sc.most + " to " + sc.least + ": " + strings.Join(order, ", ") + ". " +
			strings.ToUpper(super[:1]) + super[1:] + ": " + order[rank] + ". Answer: (" + answer + ")"
		return b.String(), answer, sol
	}}
}

// yesNoTask: two or three comparisons, then "Is Cy taller than Ann?" about two of the
// people. Solution: "From tallest to shortest: Ann, Bo, Cy. Answer: no".
func yesNoTask() Task {
	return genTask{name: YesNo, domain: "reasoning", extract: ExtractYesNo, gen: func(rng *rand.Rand) (string, string, string) {
		sc, order, facts := comparisons(rng, 3+rng.IntN(2))
		p := rng.Perm(len(order))
		i, j := p[0], p[1]
		word := sc.more
		if rng.IntN(2) == 0 {
			word = sc.less
		}
		yes := (word == sc.more) == (i < j)
		ans := "no"
		if yes {
			ans = "yes"
		}
		q := facts + " Is " + order[i] + " " + word + " than " + order[j] + "?"
		return q, ans, "From " + sc.most + " to " + sc.least + ": " + strings.Join(order, ", ") + ". Answer: " + ans
	}}
}

// listOf draws 3–5 distinct words of words.
func listOf(rng *rand.Rand, words []string) []string {
	p := rng.Perm(len(words))
	out := make([]string, 3+rng.IntN(3))
	for i := range out {
		out[i] = words[p[i]]
	}
	return out
}

// reverseTask: "Reverse the list: pens, eggs, cards" → "cards, eggs, pens".
func reverseTask() Task {
	return genTask{name: Reverse, domain: Other, extract: ExtractList, gen: func(rng *rand.Rand) (string, string, string) {
		words := things
		if rng.IntN(2) == 0 {
			words = people
		}
		l := listOf(rng, words)
		r := slices.Clone(l)
		slices.Reverse(r)
		out := strings.Join(r, ", ")
		return "Reverse the list: " + strings.Join(l, ", "), out, "Answer: " + out
	}}
}

// sortTask: "Sort these names: Cy, Ann, Bo" → "Ann, Bo, Cy".
func sortTask() Task {
	return genTask{name: Sort, domain: Other, extract: ExtractList, gen: func(rng *rand.Rand) (string, string, string) {
		what, words := "names", people
		if rng.IntN(2) == 0 {
			what, words = "words", things
		}
		l := listOf(rng, words)
		s := slices.Clone(l)
		slices.Sort(s)
		out := strings.Join(s, ", ")
		return "Sort these " + what + ": " + strings.Join(l, ", "), out, "Answer: " + out
	}}
}

// countTask: "How many words are in this list: pens, eggs, cards?" → "3".
func countTask() Task {
	return genTask{name: Count, domain: Other, extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		words := append(slices.Clone(things), people...)
		p := rng.Perm(len(words))
		l := make([]string, 2+rng.IntN(6))
		for i := range l {
			l[i] = words[p[i]]
		}
		n := strconv.Itoa(len(l))
		return "How many words are in this list: " + strings.Join(l, ", ") + "?", n, "Answer: " + n
	}}
}

// clsGeneralTask is the classification prompt of the general mix: a question of one of
// its other families, answered by the family's domain (other for reverse, sort, count).
// It teaches the base the first pass's question without the domains' own tasks.
type clsGeneralTask struct{}

func (clsGeneralTask) Name() string   { return ClsGeneral }
func (clsGeneralTask) Domain() string { return Cls }
func (clsGeneralTask) Unseen() bool   { return false }

func (clsGeneralTask) Example(rng *rand.Rand) Example {
	families := General()
	families = families[:len(families)-1]
	from := families[rng.IntN(len(families))]
	q := from.Example(rng)
	return Example{Input: ClassificationPrompt(q.Input, Labels()), Output: q.Domain, Task: ClsGeneral, Domain: q.Domain}
}

func (clsGeneralTask) Extract(answer string) (string, bool) { return ExtractLabel(answer, Labels()) }

func (t clsGeneralTask) Check(ex Example, answer string) bool {
	return check(t.Extract, ex.Output, answer)
}

func (clsGeneralTask) splitKey(ex Example) string { return clsTask{}.splitKey(ex) }

// ExtractList returns the comma-separated list an answer ends with: the text after its
// last "Answer:", or the last non-empty line, with single spaces after the commas.
func ExtractList(answer string) (string, bool) {
	text := answer
	if i := strings.LastIndex(text, "Answer:"); i >= 0 {
		text = text[i+len("Answer:"):]
	} else {
		lines := strings.Split(strings.TrimSpace(text), "\n")
		text = lines[len(lines)-1]
	}
	text = strings.TrimSuffix(strings.TrimSpace(text), ".")
	var items []string
	for _, it := range strings.Split(text, ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			return "", false
		}
		items = append(items, it)
	}
	return strings.Join(items, ", "), len(items) > 0
}

// ExtractYesNo returns "yes" or "no", the last of the two words in answer, in any case.
func ExtractYesNo(answer string) (string, bool) {
	words := strings.FieldsFunc(strings.ToLower(answer), func(r rune) bool { return r < 'a' || r > 'z' })
	for i := len(words) - 1; i >= 0; i-- {
		if words[i] == "yes" || words[i] == "no" {
			return words[i], true
		}
	}
	return "", false
}

// pronoun is "He" or "She" for a name of people.
func pronoun(name string) string {
	if strings.Contains(" Bob Cal Dan Gus Jon Max Ned Sam Tom ", " "+name+" ") {
		return "He"
	}
	return "She"
}

// chooseTask: "Which of these is a name?\n(A) pens (B) Ann (C) eggs" — one name among
// things, or one thing among names, in three or four lettered options.
func chooseTask() Task {
	return genTask{name: Choose, domain: Other, extract: letters('D'), gen: func(rng *rand.Rand) (string, string, string) {
		kind, odd, many := "name", people, things
		if rng.IntN(2) == 0 {
			kind, odd, many = "thing", things, people
		}
		k := 3 + rng.IntN(2)
		opts := listOf(rng, many)[:k-1]
		if len(opts) < k-1 {
			opts = append(opts, many[rng.IntN(len(many))])
		}
		right := pick(rng, odd)
		at := rng.IntN(k)
		opts = slices.Insert(opts, at, right)
		var b strings.Builder
		b.WriteString("Which of these is a " + kind + "?\n")
		for i, o := range opts {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("(" + string(rune('A'+i)) + ") " + o)
		}
		letter := string(rune('A' + at))
		return b.String(), letter, right + " is a " + kind + ". Answer: (" + letter + ")"
	}}
}
