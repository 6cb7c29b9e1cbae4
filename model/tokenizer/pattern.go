package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// pattern finds where the Split pre-tokenizer (and Replace) cut.
type pattern interface {
	// findAll returns the byte ranges [start, end) of the successive non-overlapping
	// matches in s.
	findAll(s string) [][2]int
}

// literal matches a fixed string.
type literal string

func (lit literal) findAll(s string) [][2]int {
	if lit == "" {
		return nil
	}
	var out [][2]int
	for i := 0; ; {
		j := strings.Index(s[i:], string(lit))
		if j < 0 {
			return out
		}
		out = append(out, [2]int{i + j, i + j + len(lit)})
		i += j + len(lit)
	}
}

// The tokenizers library compiles regexes with Oniguruma, whose lookaheads the regexp
// package lacks (Llama 3 and Qwen split whitespace with `\s+(?!\S)`). regexp2 has them,
// in its default .NET mode: \s is Unicode White_Space, \p{L} and \p{N} are Unicode
// categories, (?i:…) is case-insensitive, and alternation is ordered, leftmost-first, as
// in Oniguruma.

// regex is a regexp2 regex.
type regex struct{ re *regexp2.Regexp }

func compileRegex(expr string) (regex, error) {
	re, err := regexp2.Compile(expr, regexp2.None)
	return regex{re}, err
}

// findAll maps regexp2's rune offsets back to bytes.
func (rx regex) findAll(s string) [][2]int {
	if s == "" {
		return nil
	}
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1) // rune index → byte offset
	for i, r := range s {
		runes = append(runes, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	var out [][2]int
	m, _ := rx.re.FindRunesMatch(runes) // errors only on a match timeout, which is unset
	for m != nil {
		out = append(out, [2]int{offs[m.Index], offs[m.Index+m.Length]})
		m, _ = rx.re.FindNextMatch(m)
	}
	return out
}

// The pre-tokenizer regexes of GPT-2 and of the cl100k family (Llama 3, Qwen2/3) are
// matched by hand, about five times faster than regexp2, which stays their reference:
// pattern_test.go holds the two to the same matches.
const (
	gpt2Regex   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// newPattern returns the hand-written matcher for a known regex, else regexp2's.
func newPattern(expr string) (pattern, error) {
	switch expr {
	case gpt2Regex:
		return gpt2Words{}, nil
	case llama3Regex:
		return cl100kWords{maxDigits: 3}, nil
	case qwen2Regex:
		return cl100kWords{maxDigits: 1}, nil
	}
	rx, err := compileRegex(expr)
	if err != nil {
		return nil, err
	}
	return rx, nil
}

// Character classes of the regexes: \p{L}, \p{N}, \s, and [^\s\p{L}\p{N}].
const (
	classOther = iota
	classLetter
	classNumber
	classSpace
)

func class(r rune) int {
	switch {
	case r < utf8.RuneSelf:
		return int(asciiClass[r])
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := range t {
		switch c := rune(r); {
		case unicode.IsLetter(c):
			t[r] = classLetter
		case unicode.IsNumber(c):
			t[r] = classNumber
		case unicode.IsSpace(c):
			t[r] = classSpace
		}
	}
	return t
}()

// at returns the character at s[i:], its class and its size; past the end, class -1.
func at(s string, i int) (r rune, cls, size int) {
	if i >= len(s) {
		return 0, -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), int(asciiClass[c]), 1
	}
	r, size = utf8.DecodeRuneInString(s[i:])
	return r, class(r), size
}

// span returns the end of the run of characters of class cls starting at s[i:].
func span(s string, i, cls int) int {
	for {
		_, c, size := at(s, i)
		if c != cls {
			return i
		}
		i += size
	}
}

// contraction returns the length of 's 't 're 've 'm 'll or 'd at s[i:] (ASCII letters,
// either case when fold), or 0.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// trailingSpace handles `\s+(?!\S)|\s+` for the whitespace run s[i:end]: a run followed
// by a non-space leaves its last character to the next match, unless it is only one.
func trailingSpace(s string, i, end int) int {
	if end == len(s) {
		return end
	}
	_, size := utf8.DecodeLastRuneInString(s[:end])
	if end-size > i {
		return end - size
	}
	return end
}

// gpt2Words matches gpt2Regex.
type gpt2Words struct{}

func (g gpt2Words) findAll(s string) [][2]int { return matchAll(s, g.match) }

// match returns the end of the match that starts at s[i:]; every character starts one.
func (gpt2Words) match(s string, i int) int {
	if n := contraction(s, i, false); n > 0 { // 's|'t|'re|'ve|'m|'ll|'d
		return i + n
	}
	r, cls, size := at(s, i)
	if r == ' ' { // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`
		if _, next, _ := at(s, i+1); next >= 0 && next != classSpace {
			return span(s, i+1, next)
		}
	}
	if cls != classSpace {
		return span(s, i+size, cls)
	}
	return trailingSpace(s, i, span(s, i, classSpace)) // \s+(?!\S)|\s+
}

// cl100kWords matches llama3Regex (maxDigits 3) or qwen2Regex (maxDigits 1).
type cl100kWords struct{ maxDigits int }

func (c cl100kWords) findAll(s string) [][2]int { return matchAll(s, c.match) }

func (c cl100kWords) match(s string, i int) int {
	if n := contraction(s, i, true); n > 0 { // (?i:'s|'t|'re|'ve|'m|'ll|'d)
		return i + n
	}
	r, cls, size := at(s, i)
	switch cls {
	case classLetter: // [^\r\n\p{L}\p{N}]?\p{L}+
		return span(s, i, classLetter)
	case classNumber: // \p{N}{1,maxDigits}
		j := i + size
		for n := 1; n < c.maxDigits; n++ {
			_, next, size := at(s, j)
			if next != classNumber {
				break
			}
			j += size
		}
		return j
	}
	_, next, nextSize := at(s, i+size)
	if r != '\r' && r != '\n' && next == classLetter { // [^\r\n\p{L}\p{N}]?\p{L}+
		return span(s, i+size, classLetter)
	}
	if cls == classOther || r == ' ' && next == classOther { // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
		j := i
		if r == ' ' {
			j += size + nextSize
		}
		j = span(s, j, classOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	end := span(s, i, classSpace)
	if nl := strings.LastIndexAny(s[i:end], "\r\n"); nl >= 0 { // \s*[\r\n]+
		return i + nl + 1
	}
	return trailingSpace(s, i, end) // \s+(?!\S)|\s+
}

func matchAll(s string, match func(s string, i int) int) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		end := match(s, i)
		out = append(out, [2]int{i, end})
		i = end
	}
	return out
}
