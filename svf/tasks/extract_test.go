package tasks

import (
	"strings"
	"testing"
)

func TestLastNumber(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"9", "9", true},
		{"The answer is 14.", "14", true},
		{"7 + 5 = 12, then 12 - 3 = 9", "9", true},
		{"She has -3 left", "-3", true},
		{"−12", "-12", true}, // the minus sign
		{"+4", "4", true},
		{"1,234 apples", "1234", true},
		{"total: 12,345,678.", "12345678", true},
		{"3,4", "4", true},        // a list, not a thousands separator
		{"1234,567", "567", true}, // four digits before a comma: not grouped
		{"2.50", "2.5", true},
		{"7.0", "7", true},
		{"007", "7", true},
		{"-0", "0", true},
		{"#### 42", "42", true},
		{`\boxed{18}`, "18", true},
		{"$15.", "15", true},
		{"3-5", "5", true}, // a range or difference, not -5
		{"x2 and step3", "", false},
		{"café2", "", false},
		{"no number here", "", false},
		{"", "", false},
		{"-", "", false},
		{"12.", "12", true},
		{"1,23", "23", true},
	} {
		got, ok := LastNumber(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("LastNumber(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestExtractLetter(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"B", "B", true},
		{"b", "B", true},
		{"B.", "B", true},
		{" (c) ", "C", true},
		{"(A)", "A", true},
		{"[B]", "B", true},
		{"answer: b", "B", true},
		{"The answer is (C) Cy.", "C", true},
		{"Answer: A", "A", true},
		{"**Answer:** (b)", "B", true},
		{"I pick B because Bo is tallest.", "B", true},
		{"Bo is tallest, so (B).", "B", true},
		{"The answer is B. Not A.", "B", true}, // the explicit answer wins
		{"A or B", "", false},                  // ambiguous
		{"(A) Ann (B) Bo (C) Cy", "", false},   // the options repeated
		{"answer: a, answer: c", "", false},
		{"D", "", false}, // out of range for three options
		{"Cy", "", false},
		{"", "", false},
		{"no idea", "", false},
		{"b because", "", false}, // a lower-case letter needs "answer" or parentheses
	} {
		got, ok := ExtractLetter(c.in, 'C')
		if got != c.want || ok != c.ok {
			t.Errorf("ExtractLetter(%q, 'C') = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if got, ok := ExtractLetter("D", 'D'); got != "D" || !ok {
		t.Errorf(`ExtractLetter("D", 'D') = %q, %v`, got, ok)
	}
}

func TestExtractOutput(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"14", "14", true},
		{"-3\n", "-3", true},
		{"```\n14\n```", "14", true},
		{"The output is:\n```text\n21\n```\nbecause x is 7.", "21", true},
		{"```python\nx = 3\nprint(x)\n```\n```\n3\n```", "3", true}, // the last block
		{"```\n8", "8", true}, // an unclosed block
		{"```5```", "5", true},
		{"x is 3\nso it prints 6", "6", true},
		{"It prints 6.\nHope that helps!", "", false}, // the last line has no number
		{"```\n```", "", false},
		{"", "", false},
	} {
		got, ok := ExtractOutput(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ExtractOutput(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestExtractLabel(t *testing.T) {
	labels := Labels()
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"math", "math", true},
		{" Math.", "math", true},
		{"Classification: \\boxed{reasoning}", "reasoning", true},
		{"\\boxed{ Code }", "code", true},
		{"It is code, not math. \\boxed{code}", "code", true}, // \boxed{} decides
		{"\\boxed{physics}", "", false},
		{"Category: other", "other", true},
		{"math or code", "", false},
		{"mathematics", "", false},
		{"", "", false},
	} {
		got, ok := ExtractLabel(c.in, labels)
		if got != c.want || ok != c.ok {
			t.Errorf("ExtractLabel(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzExtract holds every extractor to: no panic, and an extracted answer extracts to
// itself.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{"", "14.", "-1,234.50", "(B)", "answer: c", "```py\n3\n```", "```", `\boxed{math`, "−", "a-1", "answer", "answer is"} {
		f.Add(s)
	}
	all := All()
	f.Fuzz(func(t *testing.T, s string) {
		for _, task := range all {
			got, ok := task.Extract(s)
			if !ok {
				continue
			}
			if again, ok := task.Extract(got); !ok || again != got {
				t.Errorf("%s: Extract(%q) = %q, whose extraction is %q, %v", task.Name(), s, got, again, ok)
			}
			if strings.TrimSpace(got) != got || got == "" {
				t.Errorf("%s: Extract(%q) = %q", task.Name(), s, got)
			}
		}
	})
}
