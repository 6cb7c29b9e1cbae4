package tasks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, want := range All() {
		got, err := Lookup(want.Name())
		if err != nil || got.Name() != want.Name() {
			t.Errorf("Lookup(%q) = %v, %v", want.Name(), got, err)
		}
	}
	_, err := Lookup("physics")
	if err == nil || !strings.Contains(err.Error(), `unknown task "physics"`) ||
		!strings.Contains(err.Error(), "math, math-hard, code, code-js, reasoning, reasoning-hard, cls") {
		t.Errorf("Lookup(physics): %v", err)
	}
}

func TestSuite(t *testing.T) {
	type row struct {
		domain string
		unseen bool
	}
	want := map[string]row{
		Math: {"math", false}, MathHard: {"math", true},
		Code: {"code", false}, CodeJS: {"code", true},
		Reasoning: {"reasoning", false}, ReasoningHard: {"reasoning", true},
		Cls: {"cls", false},
	}
	for _, task := range All() {
		if w, ok := want[task.Name()]; !ok || task.Domain() != w.domain || task.Unseen() != w.unseen {
			t.Errorf("%s: domain %s, unseen %v", task.Name(), task.Domain(), task.Unseen())
		}
		delete(want, task.Name())
	}
	if len(want) > 0 {
		t.Errorf("missing tasks %v", want)
	}
}

// TestCheck holds each task's checker to answers a model might give: right in several
// forms, wrong, ambiguous, empty.
func TestCheck(t *testing.T) {
	examples := map[string]Example{
		Math:          {Input: "Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?", Output: "9"},
		MathHard:      {Input: "Bob has 22 pens. Bob doubles them, finds 25, then doubles them. How many pens does Bob have now?", Output: "138"},
		Code:          {Input: "What does this print?\nx = 3\ny = x - 5\nprint(y * 2)", Output: "-4"},
		CodeJS:        {Input: "What does this log?\nlet x = 3;\nconsole.log(x * 4);", Output: "12"},
		Reasoning:     {Input: "Ann is taller than Bo. Bo is taller than Cy. Who is shortest?\n(A) Ann (B) Bo (C) Cy", Output: "C"},
		ReasoningHard: {Input: "Ann is older than Bo. Bo is older than Cy. Cy is older than Di. Who is second oldest?\n(A) Di (B) Cy (C) Bo (D) Ann", Output: "C"},
		Cls:           {Input: ClassificationPrompt("What does this print?\nx = 3\nprint(x)", Labels()), Output: "code"},
	}
	for _, c := range []struct {
		task, answer string
		want         bool
	}{
		{Math, "9", true},
		{Math, "Ann has 7 + 5 - 3 = 9 pens.", true},
		{Math, "9.0", true},
		{Math, "#### 9", true},
		{Math, "12", false},
		{Math, "9 or 12", false}, // the last number counts
		{Math, "nine", false},
		{Math, "", false},

		{MathHard, "138", true},
		{MathHard, "The answer is 138.", true},
		{MathHard, "1,380", false},
		{MathHard, "-138", false},

		{Code, "-4", true},
		{Code, "```\n-4\n```", true},
		{Code, "y is -2, so it prints\n-4", true},
		{Code, "4", false},
		{Code, "-4\nDone.", false}, // the last line holds no number
		{Code, "", false},

		{CodeJS, "12", true},
		{CodeJS, "```js\n12\n```", true},
		{CodeJS, "```\n3\n```", false},
		{CodeJS, "console.log", false},

		{Reasoning, "C", true},
		{Reasoning, "(c)", true},
		{Reasoning, "The answer is (C) Cy.", true},
		{Reasoning, "answer: c", true},
		{Reasoning, "A", false},
		{Reasoning, "Cy", false}, // a name is not a letter
		{Reasoning, "B or C", false},
		{Reasoning, "D", false},

		{ReasoningHard, "C", true},
		{ReasoningHard, "C.", true},
		{ReasoningHard, "D", false},
		{ReasoningHard, "(C) or (D)", false},
		{ReasoningHard, "", false},

		{Cls, "code", true},
		{Cls, "Code", true},
		{Cls, `Classification: \boxed{code}`, true},
		{Cls, "math", false},
		{Cls, "other", false},
		{Cls, "code or math", false},
		{Cls, "programming", false},
	} {
		task, err := Lookup(c.task)
		if err != nil {
			t.Fatal(err)
		}
		if got := task.Check(examples[c.task], c.answer); got != c.want {
			t.Errorf("%s: Check(%q) = %v, want %v", c.task, c.answer, got, c.want)
		}
	}
}

// outputFormat is the form of each task's reference answers.
var outputFormat = map[string]*regexp.Regexp{
	Math:          regexp.MustCompile(`^(0|[1-9][0-9]?)$`),
	MathHard:      regexp.MustCompile(`^(0|[1-9][0-9]{0,2})$`),
	Code:          regexp.MustCompile(`^(0|-?[1-9][0-9]?)$`),
	CodeJS:        regexp.MustCompile(`^(0|-?[1-9][0-9]?)$`),
	Reasoning:     regexp.MustCompile(`^[ABC]$`),
	ReasoningHard: regexp.MustCompile(`^[ABCD]$`),
	Cls:           regexp.MustCompile(`^(code|math|reasoning)$`),
}

// TestExamples draws 2,000 items of each task and split and checks that they are distinct,
// fall in the asked split and no other, are right by their own checker, and keep the
// promised formats and lengths.
func TestExamples(t *testing.T) {
	const n = 2000
	clsMax := len(ClassificationPrompt("", Labels())) + maxInput
	for _, task := range All() {
		t.Run(task.Name(), func(t *testing.T) {
			owner := map[string]Split{}
			answers := map[string]int{}
			for _, split := range []Split{Train, Validation, Test} {
				exs, err := Sample(task, split, 7, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(exs) != n {
					t.Fatalf("%s: %d items, want %d", split, len(exs), n)
				}
				for _, ex := range exs {
					if s, ok := owner[ex.Input]; ok {
						t.Fatalf("%q drawn twice: in %s and %s", ex.Input, s, split)
					}
					owner[ex.Input] = split
					if got := SplitOf(task, ex); got != split {
						t.Fatalf("%q: SplitOf = %s in a %s sample", ex.Input, got, split)
					}
					if !task.Check(ex, ex.Output) {
						t.Fatalf("%q: its own output %q fails the checker", ex.Input, ex.Output)
					}
					if task.Check(ex, wrong(ex.Output)) {
						t.Fatalf("%q: %q passes the checker, want %q", ex.Input, wrong(ex.Output), ex.Output)
					}
					if !outputFormat[task.Name()].MatchString(ex.Output) {
						t.Fatalf("%q: output %q", ex.Input, ex.Output)
					}
					limit := maxInput
					if task.Name() == Cls {
						limit = clsMax
					}
					if len(ex.Input) > limit || ex.Input == "" {
						t.Fatalf("%q: %d bytes, want 1 to %d", ex.Input, len(ex.Input), limit)
					}
					if ex.Task != task.Name() || (ex.Domain != task.Domain() && task.Name() != Cls) || (task.Name() == Cls && ex.Domain != ex.Output) {
						t.Fatalf("%q: task %q, domain %q", ex.Input, ex.Task, ex.Domain)
					}
					checkSolution(t, task, ex)
					answers[ex.Output]++
				}
			}
			if len(answers) < 2 {
				t.Errorf("a single answer: %v", answers)
			}
		})
	}
}

// wrong returns an answer different from the reference out.
func wrong(out string) string {
	switch out {
	case "A":
		return "B"
	case "math":
		return "code"
	}
	if len(out) == 1 && 'A' <= out[0] && out[0] <= 'D' {
		return "A"
	}
	if out == "code" || out == "reasoning" {
		return "math"
	}
	return out + "1"
}

// TestBalance: the right letter of the multiple-choice tasks, and the domain of cls items,
// are near uniform, so that always giving one answer scores chance.
func TestBalance(t *testing.T) {
	for _, c := range []struct {
		task string
		k    int
	}{{Reasoning, 3}, {ReasoningHard, 4}, {Cls, 3}} {
		task, _ := Lookup(c.task)
		exs, err := Sample(task, Train, 3, 6000)
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, ex := range exs {
			count[ex.Output]++
		}
		if len(count) != c.k {
			t.Errorf("%s: answers %v, want %d kinds", c.task, count, c.k)
		}
		for a, m := range count {
			if share := float64(m) / float64(len(exs)); share < 1/float64(c.k)-0.03 || share > 1/float64(c.k)+0.03 {
				t.Errorf("%s: answer %s in %.3f of items", c.task, a, share)
			}
		}
	}
}

func TestSampleDeterministic(t *testing.T) {
	for _, task := range All() {
		a, _ := Sample(task, Test, 42, 50)
		b, _ := Sample(task, Test, 42, 50)
		c, _ := Sample(task, Test, 43, 50)
		if !slices.Equal(a, b) {
			t.Errorf("%s: two samples with seed 42 differ", task.Name())
		}
		if slices.Equal(a, c) {
			t.Errorf("%s: seeds 42 and 43 give the same sample", task.Name())
		}
		// Example itself is a function of the generator's state.
		x := task.Example(rand.New(rand.NewPCG(1, 2)))
		y := task.Example(rand.New(rand.NewPCG(1, 2)))
		if x != y {
			t.Errorf("%s: Example differs for one state: %q, %q", task.Name(), x.Input, y.Input)
		}
	}
}

// equationRE matches a step of a worked solution: "12-3=9", "4-(-1) = 5", "3*32 = 96".
var equationRE = regexp.MustCompile(`(-?\d+)([-+*])\(?(-?\d+)\)? ?= ?(-?\d+)`)

// checkSolution: a question task's solution passes the checker, ends by stating the
// answer, and every equation in it is true; cls has none.
func checkSolution(t *testing.T, task Task, ex Example) {
	t.Helper()
	if task.Name() == Cls {
		if ex.Solution != "" {
			t.Fatalf("%q: cls item with a solution %q", ex.Input, ex.Solution)
		}
		return
	}
	final := "Answer: " + ex.Output
	if task.Domain() == "reasoning" {
		final = "Answer: (" + ex.Output + ")"
	}
	if !strings.HasSuffix(ex.Solution, final) || !task.Check(ex, ex.Solution) {
		t.Fatalf("%q: solution %q does not end in %q or fails the checker", ex.Input, ex.Solution, final)
	}
	for _, m := range equationRE.FindAllStringSubmatch(ex.Solution, -1) {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[3])
		r, _ := strconv.Atoi(m[4])
		want := map[string]int{"+": a + b, "-": a - b, "*": a * b}[m[2]]
		if r != want {
			t.Fatalf("%q: solution %q: %s is false", ex.Input, ex.Solution, m[0])
		}
	}
}

// TestSampleExhausted: asking for more distinct items than a split holds is an error, not a
// hang.
func TestSampleExhausted(t *testing.T) {
	tiny := genTask{name: "tiny", domain: "math", extract: LastNumber, gen: func(rng *rand.Rand) (string, string, string) {
		n := rng.IntN(20)
		return strings.Repeat("x", n), "1", ""
	}}
	exs, err := Sample(tiny, Train, 1, 50)
	if err == nil || !strings.Contains(err.Error(), "found only") || !errors.Is(err, ErrFewItems) || len(exs) >= 20 {
		t.Errorf("got %d items, error %v", len(exs), err)
	}
}

func TestClsSplitFollowsQuestion(t *testing.T) {
	cls, _ := Lookup(Cls)
	exs, _ := Sample(cls, Test, 5, 300)
	for _, ex := range exs {
		from, _ := Lookup(ex.Domain)
		_, q, _ := strings.Cut(ex.Input, "\n")
		if got := SplitOf(from, Example{Input: q}); got != Test {
			t.Fatalf("cls test item wraps a %s question of %s: %q", got, ex.Domain, q)
		}
	}
}

func TestParseSplit(t *testing.T) {
	for _, s := range []Split{Train, Validation, Test} {
		if got, err := ParseSplit(s.String()); got != s || err != nil {
			t.Errorf("ParseSplit(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseSplit("dev"); err == nil || !strings.Contains(err.Error(), "train, validation, test") {
		t.Errorf("ParseSplit(dev): %v", err)
	}
}

func TestWriteJSONL(t *testing.T) {
	exs := []Example{
		{Input: "What does this print?\nif x > 2: x = 1\nprint(x & 1)", Output: "1", Task: Code},
		{Input: "Q", Output: "A", Task: Reasoning},
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, exs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "x > 2") || !strings.Contains(buf.String(), "x & 1") {
		t.Errorf("HTML-escaped: %s", buf.String())
	}
	sc := bufio.NewScanner(&buf)
	for i := 0; sc.Scan(); i++ {
		var row map[string]string
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		if len(row) != 2 || row["input"] != exs[i].Input || row["output"] != exs[i].Output {
			t.Errorf("line %d: %v", i+1, row)
		}
	}
}
