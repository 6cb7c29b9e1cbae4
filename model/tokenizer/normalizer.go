package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a section of text before it is pre-tokenized.
type normalizer interface {
	normalize(s string) string
}

// normalizerJSON is a normalizer object of tokenizer.json; which fields are used
// depends on Type.
type normalizerJSON struct {
	Type        string            `json:"type"`
	Normalizers []json.RawMessage `json:"normalizers"` // Sequence
	Prepend     string            `json:"prepend"`     // Prepend
	Pattern     *patternJSON      `json:"pattern"`     // Replace
	Content     string            `json:"content"`     // Replace
	StripLeft   bool              `json:"strip_left"`  // Strip
	StripRight  bool              `json:"strip_right"` // Strip
}

// patternJSON is a Split or Replace pattern: a literal string or a regex.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

const normalizerTypes = "NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence"

func loadNormalizer(raw []byte) (normalizer, error) { return parseNormalizer(raw, "normalizer") }

func parseNormalizer(raw []byte, path string) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var j normalizerJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch j.Type {
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Strip":
		return strip{left: j.StripLeft, right: j.StripRight}, nil
	case "Prepend":
		return prepend{j.Prepend}, nil
	case "Replace":
		rep, err := newReplacer(j.Pattern, j.Content, path)
		if err != nil {
			return nil, err
		}
		return rep, nil
	case "Sequence":
		var seq sequenceNorm
		for i, sub := range j.Normalizers {
			n, err := parseNormalizer(sub, fmt.Sprintf("%s.normalizers[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	}
	return nil, fmt.Errorf("%s.type %q is not supported (want one of %s)", path, j.Type, normalizerTypes)
}

// unicodeNorm is the NFC, NFD, NFKC or NFKD normalizer.
type unicodeNorm struct{ form norm.Form }

func (u unicodeNorm) normalize(s string) string { return u.form.String(s) }

// lowercase maps each character to lower case (Go's simple case mapping; Rust's
// to_lowercase also has the few one-to-many mappings such as İ → i̇).
type lowercase struct{}

func (lowercase) normalize(s string) string { return strings.ToLower(s) }

// strip removes whitespace at the start (left) and the end (right).
type strip struct{ left, right bool }

func (st strip) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// prepend puts a string (SentencePiece's "▁") before every non-empty section.
type prepend struct{ s string }

func (p prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.s + s
}

// sequenceNorm applies normalizers in order.
type sequenceNorm []normalizer

func (seq sequenceNorm) normalize(s string) string {
	for _, n := range seq {
		s = n.normalize(s)
	}
	return s
}

// replacer replaces every match of a literal or a regex with content. It is both the
// Replace normalizer and the Replace decoder.
type replacer struct {
	pat     pattern
	content string
}

func newReplacer(p *patternJSON, content, path string) (*replacer, error) {
	pat, err := parsePattern(p, path)
	if err != nil {
		return nil, err
	}
	return &replacer{pat: pat, content: content}, nil
}

// parsePattern reads the pattern of a Split or Replace at path.
func parsePattern(p *patternJSON, path string) (pattern, error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%s: no pattern", path)
	case p.String != nil:
		return literal(*p.String), nil
	case p.Regex != nil:
		pat, err := newPattern(*p.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s.pattern.Regex: %w", path, err)
		}
		return pat, nil
	}
	return nil, fmt.Errorf("%s.pattern: want String or Regex", path)
}

func (rep *replacer) normalize(s string) string {
	matches := rep.pat.findAll(s)
	if len(matches) == 0 {
		return s
	}
	var sb strings.Builder
	done := 0
	for _, m := range matches {
		sb.WriteString(s[done:m[0]])
		sb.WriteString(rep.content)
		done = m[1]
	}
	sb.WriteString(s[done:])
	return sb.String()
}

func (rep *replacer) decode(tokens []string) []string {
	for i, t := range tokens {
		tokens[i] = rep.normalize(t)
	}
	return tokens
}
