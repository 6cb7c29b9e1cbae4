package tasks

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFamilies draws items of every family of the general mix and of the held-out
// families in each split and checks them as TestExamples checks the suite: distinct
// across splits, in their split, right by their own checker (output and solution),
// wrong answers refused, true equations, and questions of at most maxInput bytes.
func TestFamilies(t *testing.T) {
	clsMax := len(ClassificationPrompt("", Labels())) + maxInput
	for _, task := range slices.Concat(General(), HeldOut()) {
		t.Run(task.Name(), func(t *testing.T) {
			owner := map[string]Split{}
			answers := map[string]int{}
			for _, split := range []Split{Train, Validation, Test} {
				exs, err := Sample(task, split, 7, 300)
				if err != nil {
					t.Fatal(err)
				}
				for _, ex := range exs {
					if s, ok := owner[ex.Input]; ok {
						t.Fatalf("%q drawn twice: in %s and %s", ex.Input, s, split)
					}
					owner[ex.Input] = split
					if got := SplitOf(task, ex); got != split {
						t.Fatalf("%q: SplitOf = %s in a %s sample", ex.Input, got, split)
					}
					if !task.Check(ex, ex.Output) || task.Check(ex, wrongOf(ex.Output)) {
						t.Fatalf("%q: the checker takes %q: %v, %q: %v", ex.Input, ex.Output, task.Check(ex, ex.Output),
							wrongOf(ex.Output), task.Check(ex, wrongOf(ex.Output)))
					}
					limit := maxInput
					if task.Domain() == Cls {
						limit = clsMax
					}
					if len(ex.Input) > limit || ex.Input == "" {
						t.Fatalf("%q: %d bytes, want 1 to %d", ex.Input, len(ex.Input), limit)
					}
					if task.Domain() == Cls {
						if ex.Solution != "" || !slices.Contains(Labels(), ex.Output) {
							t.Fatalf("%q: label %q, solution %q", ex.Input, ex.Output, ex.Solution)
						}
					} else {
						if !task.Check(ex, ex.Solution) || !strings.HasSuffix(ex.Solution, "Answer: "+ex.Output) &&
							!strings.HasSuffix(ex.Solution, "Answer: ("+ex.Output+")") {
							t.Fatalf("%q: solution %q does not end in the answer %q", ex.Input, ex.Solution, ex.Output)
						}
						checkEquations(t, ex)
					}
					answers[ex.Output]++
				}
			}
			if len(answers) < 2 {
				t.Errorf("a single answer: %v", answers)
			}
		})
	}
}

// wrongOf returns an answer that differs from out for every extractor.
func wrongOf(out string) string {
	switch {
	case out == "yes":
		return "no"
	case out == "no":
		return "yes"
	case strings.Contains(out, ", "):
		i := strings.Index(out, ", ")
		return out[i+2:] + ", " + out[:i]
	}
	return wrong(out)
}

// checkEquations fails when an equation of ex's solution is false.
func checkEquations(t *testing.T, ex Example) {
	t.Helper()
	for _, m := range equationRE.FindAllStringSubmatch(ex.Solution, -1) {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[3])
		r, _ := strconv.Atoi(m[4])
		if want := map[string]int{"+": a + b, "-": a - b, "*": a * b}[m[2]]; r != want {
			t.Fatalf("%q: solution %q: %s is false", ex.Input, ex.Solution, m[0])
		}
	}
}

// TestGeneralMixHoldsOutTheDomains: the base model's mix never asks a question in the
// form of a domain's task, an unseen task or a held-out family — the model card's claim
// that the domains' train splits are left to the experts and the rest to transfer and
// few-shot adaptation. Each form is recognised by what makes it that form, and every item
// of the tasks of that form is recognised.
func TestGeneralMixHoldsOutTheDomains(t *testing.T) {
	forms := []struct {
		name  string
		re    *regexp.Regexp
		tasks []string
	}{
		{"one person's count over several steps", regexp.MustCompile(`^\w+ has \d+ \w+\. \w+ .*, .*How many \w+ does \w+ have now\?$`), nil},
		{"one person more or fewer than another", regexp.MustCompile(`has \d+ (more|fewer) than \w+\. `), nil},
		{"a program of several lines asked for its output", regexp.MustCompile(`^What does this (print|log)\?\n.*\n`), []string{Code, CodeJS}},
		{"comparisons of people and three or more options", regexp.MustCompile(`than \w+\..* Who is [\w ]+\?\n\(A\) \w+ \(B\) \w+ \(C\)`), []string{Reasoning, ReasoningHard}},
		{"give", regexp.MustCompile(`gives (` + strings.Join(people, "|") + `) \d`), []string{Give}},
		{"totals", regexp.MustCompile(`do they have together\?`), []string{Totals}},
		{"lost-found", regexp.MustCompile(`lost \d+ of them`), []string{LostFound}},
	}
	math, _ := Lookup(Math)
	mathHard, _ := Lookup(MathHard)
	for _, task := range []Task{math, mathHard} { // every math item is in one of the first two forms
		exs, _ := Sample(task, Train, 3, 300)
		for _, ex := range exs {
			if !forms[0].re.MatchString(ex.Input) && !forms[1].re.MatchString(ex.Input) {
				t.Fatalf("%s item %q is in neither math form", task.Name(), ex.Input)
			}
		}
	}
	for _, f := range forms {
		for _, name := range f.tasks {
			task, _ := Lookup(name)
			exs, _ := Sample(task, Train, 3, 300)
			for _, ex := range exs {
				if !f.re.MatchString(ex.Input) {
					t.Fatalf("%s item %q is not recognised as %s", name, ex.Input, f.name)
				}
			}
		}
	}
	for _, task := range General() {
		exs, err := Sample(task, Train, 3, 3000)
		if err != nil && !errors.Is(err, ErrFewItems) {
			t.Fatal(err)
		}
		for _, ex := range exs {
			q := ex.Input
			if task.Domain() == Cls {
				_, q, _ = strings.Cut(q, "\n")
			}
			for _, f := range forms {
				if f.re.MatchString(q) {
					t.Fatalf("%s item %q is in the form of %s", task.Name(), q, f.name)
				}
			}
		}
	}
}
