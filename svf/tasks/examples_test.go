package tasks

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/t2web/t2web/svf/internal/strsweep"
)

func TestReadExamples(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             []Example
		err              string
	}{
		{"jsonl", "a.jsonl", "{\"input\": \"2+2?\", \"output\": \"4\"}\n\n{\"question\": \"q\", \"answer\": 7}\n",
			[]Example{{Input: "2+2?", Output: "4"}, {Input: "q", Output: "7"}}, ""},
		{"prompt/completion", "a.jsonl", `{"prompt": "p", "completion": "c"}`, []Example{{Input: "p", Output: "c"}}, ""},
		{"duplicates kept", "a.jsonl", "{\"input\": \"x\", \"output\": \"1\"}\n{\"input\": \"x\", \"output\": \"1\"}\n",
			[]Example{{Input: "x", Output: "1"}, {Input: "x", Output: "1"}}, ""},
		{"csv", "a.csv", "Question,Answer\n\"a, b\",B\nc,3\n", []Example{{Input: "a, b", Output: "B"}, {Input: "c", Output: "3"}}, ""},
		{"csv bom", "a.CSV", "\ufeffinput,output\nx,y\n", []Example{{Input: "x", Output: "y"}}, ""},
		{"malformed line", "a.jsonl", "{\"input\": \"x\", \"output\": \"1\"}\n{\"input\": \"x\",\n", nil, "a.jsonl:2: not a JSON object"},
		{"missing field", "a.jsonl", `{"input": "x"}`, nil, "a.jsonl:1: no field output, answer, completion"},
		{"empty field", "a.jsonl", `{"input": " ", "output": "1"}`, nil, `a.jsonl:1: field "input" is empty`},
		{"not text", "a.jsonl", `{"input": ["x"], "output": "1"}`, nil, `field "input" is not text`},
		{"empty file", "a.jsonl", " \n", nil, "a.jsonl: the file is empty"},
		{"csv without columns", "a.csv", "q,a\nx,y\n", nil, `a.csv: the header "q,a" needs a column`},
		{"csv empty answer", "a.csv", "input,output\nx,\n", nil, "a.csv:2: empty answer"},
		{"too large", "big.jsonl", strings.Repeat(" ", MaxExamplesBytes+1), nil, "big.jsonl: 4194305 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadExamples([]byte(tt.data), tt.file)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d examples, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("example %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestGeneric(t *testing.T) {
	tests := []struct {
		ref, answer string
		want        bool
	}{
		{"42", "The answer is 42.", true},
		{"42", "42 or 43", false},
		{"1,234", "it is 1234", true},
		{"-3", "−3", true},
		{"B", "(B)", true},
		{"(C)", "answer: c", true},
		{"B", "A or B", false},
		{"Paris", "  paris ", true},
		{"Paris", "I think\nParis", true},
		{"Paris", "Paris, France", false},
		{"7+5=12, 12-3=9. Answer: 9", "12-3=9, so 9", true},
		{"7+5=12, 12-3=9. Answer: 9", "Answer: 12", false},
		{"From tallest to shortest: Ann, Bo. Tallest: Ann. Answer: (B)", "Answer: (B)", true},
		{"From tallest to shortest: Ann, Bo. Tallest: Ann. Answer: (B)", "(A)", false},
	}
	for _, tt := range tests {
		if got := Generic(Example{Output: tt.ref}, tt.answer); got != tt.want {
			t.Errorf("Generic(ref %q, answer %q) = %v, want %v", tt.ref, tt.answer, got, tt.want)
		}
	}
}

// numberRefRE is the expression isNumberRef replaces, kept here as its specification.
var numberRefRE = regexp.MustCompile(`^[-+−]?[0-9][0-9,]*(\.[0-9]+)?\.?$`)

func TestIsNumberRef(t *testing.T) {
	for _, c := range []struct {
		ref  string
		want bool
	}{
		{"", false},
		{"7", true},
		{"12", true},
		{"-3", true},
		{"+3", true},
		{"−3", true},
		{"−", false},
		{"--3", false},
		{"−-3", false},
		{"1,000", true},
		{"1,000.50", true},
		{"1,,2,", true},
		{",1", false},
		{"7.", true},
		{"2.5", true},
		{"2.5.", true},
		{".5", false},
		{"1..", false},
		{"1.5.2", false},
		{"1.,5", false},
		{"1.5,", false},
		{"1e3", false},
		{"1 000", false},
		{"12\n", false},
		{" 12", false},
		{"½", false},
		{"١٢", false}, // Arabic-Indic digits are not [0-9]
		{"—3", false}, // an em dash is not a minus sign
		{"\xe2\x88", false},
	} {
		if got := isNumberRef(c.ref); got != c.want || got != numberRefRE.MatchString(c.ref) {
			t.Errorf("isNumberRef(%q) = %v, want %v (the expression says %v)", c.ref, got, c.want, numberRefRE.MatchString(c.ref))
		}
	}
}

// TestIsNumberRefSweep holds isNumberRef to the expression on every string of up to
// four characters from a small alphabet (each class of the expression, its neighbours,
// the multi-byte minus sign, a rune sharing its first byte and that byte's prefix
// alone), then on random longer strings mostly of digits, commas and points.
func TestIsNumberRefSweep(t *testing.T) {
	alphabet := []string{"0", "9", ",", ".", "-", "+", "−", "a", " ", "\n", "é", "—", "\xe2\x88"}
	check := func(s string) {
		if got, want := isNumberRef(s), numberRefRE.MatchString(s); got != want {
			t.Fatalf("isNumberRef(%q) = %v, the expression says %v", s, got, want)
		}
	}
	for s := range strsweep.All(alphabet, 4) {
		check(s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		var sb strings.Builder
		if rng.IntN(4) == 0 {
			sb.WriteString(alphabet[4+rng.IntN(3)]) // a sign
		}
		n := 5 + rng.IntN(16)
		for range n {
			if rng.IntN(n) == 0 {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				sb.WriteString(alphabet[rng.IntN(4)]) // a digit, a comma or a point
			}
		}
		check(sb.String())
	}
}
