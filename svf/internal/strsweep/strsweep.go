// Package strsweep enumerates short strings for tests that hold a hand-written matcher
// to the regular expression it replaces.
package strsweep

import "iter"

// All yields every concatenation of at most maxLen pieces of alphabet, the empty string
// first, in depth-first order: len(alphabet)^0 + … + len(alphabet)^maxLen strings. A
// piece may be several bytes (a multi-byte rune, or a cut-off one).
func All(alphabet []string, maxLen int) iter.Seq[string] {
	return func(yield func(string) bool) {
		var walk func(prefix string, n int) bool
		walk = func(prefix string, n int) bool {
			if !yield(prefix) {
				return false
			}
			if n == 0 {
				return true
			}
			for _, c := range alphabet {
				if !walk(prefix+c, n-1) {
					return false
				}
			}
			return true
		}
		walk("", maxLen)
	}
}
