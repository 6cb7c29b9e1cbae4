package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/fixtures"
)

// knownPatterns pairs each hand-written matcher with its regex, run by regexp2: the
// naive twin it must agree with.
var knownPatterns = []struct {
	name string
	expr string
}{
	{"gpt2", gpt2Regex},
	{"llama3", llama3Regex},
	{"qwen2", qwen2Regex},
}

// patternAlphabet is characters that sit on the edges of the regexes' classes.
var patternAlphabet = []string{
	"a", "Z", "é", "ß", "日", "ſ", "K", "İ", "\u0301", // letters, a combining mark
	"0", "7", "٣", "½", "²", "Ⅻ", "１", // numbers
	" ", " ", " ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028", "\u0085", "\v", "\f", // whitespace
	"'", "’", "s", "S", "t", "re", "VE", "m", "ll", "LL", "d", "D", // contractions
	".", "!", "-", "_", "(", "\"", "\x00", "🙂", "\u200d", "\ufeff", "\u00ad", "€", // the rest
}

func randomText(rng *rand.Rand, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteString(patternAlphabet[rng.IntN(len(patternAlphabet))])
	}
	return sb.String()
}

func checkPatternTwin(t *testing.T, name, expr, s string) {
	t.Helper()
	fast, err := newPattern(expr)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := compileRegex(expr)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fast.(regex); ok {
		t.Fatalf("%s: newPattern did not recognise the regex", name)
	}
	if got, want := fast.findAll(s), slow.findAll(s); !slices.Equal(got, want) {
		t.Errorf("%s: %q:\n hand    %v\n regexp2 %v", name, s, got, want)
	}
}

// TestPatternsMatchRegex holds the hand-written matchers to regexp2 on tricky strings,
// the fixture corpus and seeded random strings.
func TestPatternsMatchRegex(t *testing.T) {
	texts := []string{
		"", "I'LL see   you 12345", "don't DON'T we'Ve 'RE ''s 'sup", "a  ", "  a", "\n\n  x\r\n\r\ny",
		"x;\r\n\r\ny", "?!\n", "tab\tseparated", " \t{", "word\n    indented", "   \n\n   \t\n",
		"12345678901234567890", "٣٤٥ ١٢", "$19.99 and €5,00", "(konnichiwa) 🙂", " 'ſ 'K",
	}
	if fixtures.Present(t) {
		for _, model := range fixtureModels {
			for _, l := range readCorpus(t, model) {
				texts = append(texts, l.Text)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		texts = append(texts, randomText(rng, 1+rng.IntN(24)))
	}
	for _, p := range knownPatterns {
		for _, s := range texts {
			checkPatternTwin(t, p.name, p.expr, s)
		}
	}
}

func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"I'LL see   you 12345", "a\r\n\r\n b", " 'Ve 日本 ٣٤٥", "x  \t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ToValidUTF8(s, "\uFFFD") // as Encode does
		for _, p := range knownPatterns {
			checkPatternTwin(t, p.name, p.expr, s)
		}
	})
}
