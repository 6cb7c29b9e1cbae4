package chat

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkLexable refuses the one construct known to send gonja's lexer (v2.9.1) astray: in a
// tag, a number followed by "." and a non-ASCII character, such as {{ 0.é }}. Its number
// scanner peeks the character after the dot, then backs up by that character's width
// instead of the dot's, so it steps back before the number: it panics, or lexes the same
// text for ever, growing its token list until memory runs out (FuzzLoad found it). The
// construct is a syntax error in Jinja anyway, so refusing it changes no valid template.
//
// It scans as gonja does: tags open with "{{" or "{%", close with "}}" or "%}", comments
// "{# … #}" and string literals inside tags are skipped. A number starts at a digit that
// does not continue a name (a0.é is the name a0 and the attribute é, which gonja lexes
// correctly).
func checkLexable(source string) error {
	for i := 0; i < len(source); {
		switch {
		case strings.HasPrefix(source[i:], "{#"):
			end := strings.Index(source[i+2:], "#}")
			if end < 0 {
				return nil // gonja reports the unclosed comment
			}
			i += 2 + end + 2
		case strings.HasPrefix(source[i:], "{{"), strings.HasPrefix(source[i:], "{%"):
			next, err := checkTag(source, i+2)
			if err != nil {
				return err
			}
			i = next
		default:
			i++
		}
	}
	return nil
}

// checkTag scans a tag's inside from i to its closing "}}" or "%}" and returns the index
// after it (len(source) when it is not closed). Names, numbers and digits are gonja's:
// unicode letters and digits.
func checkTag(source string, i int) (int, error) {
	for i < len(source) {
		r, w := utf8.DecodeRuneInString(source[i:])
		switch {
		case strings.HasPrefix(source[i:], "}}"), strings.HasPrefix(source[i:], "%}"):
			return i + 2, nil
		case r == '"' || r == '\'':
			i++
			for i < len(source) && rune(source[i]) != r {
				if source[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case unicode.IsDigit(r):
			end, err := checkNumber(source, i)
			if err != nil {
				return 0, err
			}
			i = end
		case r == '_' || unicode.IsLetter(r):
			for i < len(source) {
				r, w := utf8.DecodeRuneInString(source[i:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				i += w
			}
		default:
			i += w
		}
	}
	return i, nil
}

// checkNumber scans the number at i as gonja's scanNumber does (digits, a fraction, an
// exponent) and returns the index after it, or the error for a "." and a non-ASCII
// character after it.
func checkNumber(source string, i int) (int, error) {
	start := i
	digits := func() {
		for i < len(source) {
			r, w := utf8.DecodeRuneInString(source[i:])
			if r != '_' && !unicode.IsDigit(r) {
				return
			}
			i += w
		}
	}
	// dot reports whether a "." follows, and fails when the character after it is one
	// that makes gonja back up too far.
	dot := func() (bool, error) {
		if i >= len(source) || source[i] != '.' {
			return false, nil
		}
		r, _ := utf8.DecodeRuneInString(source[i+1:])
		if r >= utf8.RuneSelf && !unicode.IsDigit(r) {
			line := 1 + strings.Count(source[:start], "\n")
			return false, fmt.Errorf("line %d: the number %s is followed by \".%c\", which the Jinja engine cannot read (put a space after the dot, or quotes around it if it is text)", line, source[start:i], r)
		}
		return true, nil
	}
	digits()
	if ok, err := dot(); err != nil {
		return 0, err
	} else if ok {
		if r, _ := utf8.DecodeRuneInString(source[i+1:]); unicode.IsDigit(r) {
			i++
			digits()
		}
	}
	if i < len(source) && (source[i] == 'e' || source[i] == 'E') {
		j := i + 1
		if j < len(source) && (source[j] == '+' || source[j] == '-') {
			j++
		}
		if r, _ := utf8.DecodeRuneInString(source[j:]); unicode.IsDigit(r) {
			i = j
			digits()
		}
	}
	if _, err := dot(); err != nil {
		return 0, err
	}
	return i, nil
}
