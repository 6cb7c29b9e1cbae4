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
	// next is the character at at, -1 at the end.
	next := func(at int) rune {
		if at >= len(source) {
			return -1
		}
		r, _ := utf8.DecodeRuneInString(source[at:])
		return r
	}
	digits := func() {
		for {
			r, w := utf8.DecodeRuneInString(source[i:])
			if w == 0 || r != '_' && !unicode.IsDigit(r) {
				return
			}
			i += w
		}
	}
	// badDot is the error for a "." followed by a character that makes gonja back up
	// too far: one of several bytes that is not a digit.
	badDot := func() error {
		if next(i) != '.' {
			return nil
		}
		if r, w := utf8.DecodeRuneInString(source[i+1:]); w > 1 && !unicode.IsDigit(r) {
			line := 1 + strings.Count(source[:start], "\n")
			return fmt.Errorf("line %d: the number %s is followed by \".%c\", which the Jinja engine cannot read (put a space after the dot, or quotes around it if it is text)", line, source[start:i], r)
		}
		return nil
	}
	digits()
	if err := badDot(); err != nil {
		return 0, err
	}
	if next(i) == '.' && unicode.IsDigit(next(i+1)) {
		i++
		digits()
	}
	if r := next(i); r == 'e' || r == 'E' {
		j := i + 1
		if r := next(j); r == '+' || r == '-' {
			j++
		}
		if unicode.IsDigit(next(j)) {
			i = j
			digits()
		}
	}
	return i, badDot()
}
