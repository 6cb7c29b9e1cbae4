package tasks

import (
	"strings"
)

// LastNumber returns the last number in text, normalised: signs kept ("-3"), thousands
// separators dropped ("1,234" → "1234"), a sentence's final period ignored ("14." → "14"),
// trailing zeros of a fraction dropped ("2.50" → "2.5", "7.0" → "7"). Digits inside a word
// ("x2", "step3") are not numbers.
func LastNumber(text string) (string, bool) {
	nums := numbers(text)
	if len(nums) == 0 {
		return "", false
	}
	return nums[len(nums)-1], true
}

// numbers returns the normalised numbers of s in order.
func numbers(s string) []string {
	s = strings.ReplaceAll(s, "\u2212", "-") // the minus sign
	var out []string
	for i := 0; i < len(s); {
		start := i
		if c := s[i]; (c == '-' || c == '+') && i+1 < len(s) && isDigit(s[i+1]) && (i == 0 || !isWord(s[i-1])) {
			i++
		} else if !isDigit(c) || (i > 0 && isWord(s[i-1])) {
			i++
			continue
		}
		digits := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i-digits <= 3 { // 1,234,567: groups of three after a lead of at most three
			for i+4 <= len(s) && s[i] == ',' && allDigits(s[i+1:i+4]) && (i+4 == len(s) || !isDigit(s[i+4])) {
				i += 4
			}
		}
		if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
			i++
			for i < len(s) && isDigit(s[i]) {
				i++
			}
		}
		out = append(out, normNumber(s[start:i]))
	}
	return out
}

// normNumber writes a number token canonically: no '+', commas or leading zeros, no
// trailing zeros after the point, no "-0".
func normNumber(tok string) string {
	neg := false
	switch tok[0] {
	case '-':
		neg, tok = true, tok[1:]
	case '+':
		tok = tok[1:]
	}
	tok = strings.ReplaceAll(tok, ",", "")
	whole, frac, _ := strings.Cut(tok, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	frac = strings.TrimRight(frac, "0")
	n := whole
	if frac != "" {
		n += "." + frac
	}
	if neg && n != "0" {
		n = "-" + n
	}
	return n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isWord reports whether c can be part of a word or identifier; bytes of multi-byte UTF-8
// characters count, so "é2" is a word too.
func isWord(c byte) bool { return isDigit(c) || isLetter(c) || c == '_' || c >= 0x80 }

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ExtractLetter returns the option letter, from A to last, that answer chooses, in upper
// case. It accepts the letter alone ("B", "b.", "(c)"), after "answer" ("The answer is
// (B)", "answer: b"), or as the only letter in the text written "(X)" or as a capital
// standing alone ("I pick B."). Two different letters are ambiguous: false.
func ExtractLetter(answer string, last byte) (string, bool) {
	inRange := func(c byte) bool {
		c = upper(c)
		return 'A' <= c && c <= last
	}
	t := strings.TrimSpace(answer)
	if core := strings.Trim(t, "()[]*.:"); len(core) == 1 && inRange(core[0]) {
		return string(upper(core[0])), true
	}
	// "answer", then optional " is", ':' and '(' before a letter that ends a word.
	var explicit []byte
	lower := strings.ToLower(t)
	for i := 0; ; {
		j := strings.Index(lower[i:], "answer")
		if j < 0 {
			break
		}
		k := i + j + len("answer")
		i = k
		k = skip(lower, k, " :*")
		if strings.HasPrefix(lower[k:], "is") && (k+2 == len(lower) || !isWord(lower[k+2])) {
			k = skip(lower, k+2, " :*")
		}
		k = skip(lower, k, "(*")
		if k < len(lower) && inRange(lower[k]) && (k+1 == len(lower) || !isWord(lower[k+1])) {
			explicit = append(explicit, upper(lower[k]))
		}
	}
	if len(explicit) > 0 {
		return single(explicit)
	}
	var found []byte
	for i := 0; i < len(t); i++ {
		switch {
		case t[i] == '(' && i+2 < len(t) && t[i+2] == ')' && inRange(t[i+1]):
			found = append(found, upper(t[i+1]))
			i += 2
		case 'A' <= t[i] && t[i] <= 'Z' && inRange(t[i]) && (i == 0 || !isWord(t[i-1])) && (i+1 == len(t) || !isWord(t[i+1])):
			found = append(found, t[i])
		}
	}
	if len(found) == 0 {
		return "", false
	}
	return single(found)
}

// single returns the one letter in letters, or false when two differ.
func single(letters []byte) (string, bool) {
	for _, c := range letters[1:] {
		if c != letters[0] {
			return "", false
		}
	}
	return string(letters[0]), true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// skip returns the first index from i on whose byte is not in set.
func skip(s string, i int, set string) int {
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

// ExtractOutput returns what a program prints according to answer: the last number of
// the last non-empty line of the last code block (```…```, an unclosed one too), or of
// the whole answer when there is no block.
func ExtractOutput(answer string) (string, bool) {
	text := answer
	if parts := strings.Split(answer, "```"); len(parts) > 1 {
		// Blocks are the odd parts; a trailing unclosed fence leaves its text last.
		i := len(parts) - 1
		if i%2 == 0 {
			i--
		}
		text = parts[i]
		if first, rest, ok := strings.Cut(text, "\n"); ok && isTag(first) {
			text = rest // the language tag of ```python
		}
	}
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			return LastNumber(lines[i])
		}
	}
	return "", false
}

// isTag reports whether s is a code fence's language tag: one word of letters.
func isTag(s string) bool {
	s = strings.TrimSpace(s)
	for i := range len(s) {
		if !isLetter(s[i]) {
			return false
		}
	}
	return s != ""
}

// ExtractLabel returns the label of labels that answer gives, in the label's spelling: the
// content of the last \boxed{…} (the reference implementation's format), else the only
// label that occurs as a whole word, in any case ("Category: Math"). No label, an unknown
// one in \boxed{}, or two different labels: false. The first pass of Transformer² treats
// false as "other", as the reference does.
func ExtractLabel(answer string, labels []string) (string, bool) {
	match := func(word string) (string, bool) {
		for _, l := range labels {
			if strings.EqualFold(word, l) {
				return l, true
			}
		}
		return "", false
	}
	const boxed = `\boxed{`
	if i := strings.LastIndex(answer, boxed); i >= 0 {
		if content, _, ok := strings.Cut(answer[i+len(boxed):], "}"); ok {
			return match(strings.TrimSpace(content))
		}
	}
	found := ""
	words := strings.FieldsFunc(answer, func(r rune) bool {
		return !(r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	})
	for _, w := range words {
		if l, ok := match(w); ok {
			if found != "" && found != l {
				return "", false
			}
			found = l
		}
	}
	return found, found != ""
}
