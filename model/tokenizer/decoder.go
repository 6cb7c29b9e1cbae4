package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder turns token strings into text, as one step of the tokenizers library's
// decoder chain (decode_chain): tokens in, tokens out, joined at the end.
type decoder interface {
	decode(tokens []string) []string
}

// decoderJSON is a decoder object of tokenizer.json; which fields are used depends on
// Type.
type decoderJSON struct {
	Type           string            `json:"type"`
	Decoders       []json.RawMessage `json:"decoders"`         // Sequence
	Pattern        *patternJSON      `json:"pattern"`          // Replace
	Content        string            `json:"content"`          // Replace, Strip
	Start          int               `json:"start"`            // Strip
	Stop           int               `json:"stop"`             // Strip
	Replacement    string            `json:"replacement"`      // Metaspace
	PrependScheme  string            `json:"prepend_scheme"`   // Metaspace
	Split          *bool             `json:"split"`            // Metaspace
	AddPrefixSpace *bool             `json:"add_prefix_space"` // Metaspace before prepend_scheme
}

const decoderTypes = "ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, Sequence"

func loadDecoder(raw []byte) (decoder, error) { return parseDecoder(raw, "decoder") }

func parseDecoder(raw []byte, path string) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var j decoderJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch j.Type {
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Strip":
		c, size := utf8.DecodeRuneInString(j.Content)
		if size == 0 || size != len(j.Content) {
			return nil, fmt.Errorf("%s.content %q is not one character", path, j.Content)
		}
		return stripDec{content: c, start: j.Start, stop: j.Stop}, nil
	case "Replace":
		rep, err := newReplacer(j.Pattern, j.Content, path)
		if err != nil {
			return nil, err
		}
		return rep, nil
	case "Metaspace":
		return parseMetaspace(preTokenizerJSON{
			Replacement: j.Replacement, PrependScheme: j.PrependScheme,
			Split: j.Split, AddPrefixSpace: j.AddPrefixSpace,
		}, path)
	case "Sequence":
		var seq sequenceDec
		for i, sub := range j.Decoders {
			d, err := parseDecoder(sub, fmt.Sprintf("%s.decoders[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	}
	return nil, fmt.Errorf("%s.type %q is not supported (want one of %s)", path, j.Type, decoderTypes)
}

// sequenceDec applies decoders in order.
type sequenceDec []decoder

func (seq sequenceDec) decode(tokens []string) []string {
	for _, d := range seq {
		tokens = d.decode(tokens)
	}
	return tokens
}

// byteLevelDec turns byte-level characters back into bytes, all tokens at once since one
// character may span tokens, and reads the bytes as UTF-8 (invalid bytes become U+FFFD).
type byteLevelDec struct{}

func (byteLevelDec) decode(tokens []string) []string {
	var b []byte
	for _, t := range tokens {
		b = byteLevelDecode(b, t)
	}
	return []string{lossyUTF8(b)}
}

// byteFallbackDec turns runs of <0xNN> tokens into the text of their bytes; a run that
// is not valid UTF-8 becomes one U+FFFD per token.
type byteFallbackDec struct{}

func (byteFallbackDec) decode(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// parseByteToken reads a byte-fallback token "<0xNN>".
func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(t[3])
	lo, ok2 := hexDigit(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// fuseDec joins all tokens into one.
type fuseDec struct{}

func (fuseDec) decode(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

// stripDec removes up to start copies of content from the front of each token and up
// to stop from the back.
type stripDec struct {
	content     rune
	start, stop int
}

func (st stripDec) decode(tokens []string) []string {
	for i, t := range tokens {
		for n := 0; n < st.start; n++ {
			c, size := utf8.DecodeRuneInString(t)
			if size == 0 || c != st.content {
				break
			}
			t = t[size:]
		}
		for n := 0; n < st.stop; n++ {
			c, size := utf8.DecodeLastRuneInString(t)
			if size == 0 || c != st.content {
				break
			}
			t = t[:len(t)-size]
		}
		tokens[i] = t
	}
	return tokens
}

// lossyUTF8 reads b as UTF-8, replacing each maximal invalid subsequence with one
// U+FFFD, as Rust's String::from_utf8_lossy and the WHATWG decoder do. (Go's
// strings.ToValidUTF8 would replace a whole run of bad bytes with one U+FFFD.)
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			sb.Write(b[:size])
			b = b[size:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[maximalSubpart(b):]
	}
	return sb.String()
}

// maximalSubpart is the length of the invalid sequence at the start of b that one
// U+FFFD replaces: the longest prefix of a well-formed sequence, or one byte (Unicode
// §3.9, table 3-7).
func maximalSubpart(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF) // the valid range of the second byte
	var n int                        // the sequence's length by its first byte
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		n = 2
	case c == 0xE0:
		n, lo = 3, 0xA0
	case c == 0xED:
		n, hi = 3, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		n = 3
	case c == 0xF0:
		n, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		n = 4
	case c == 0xF4:
		n, hi = 4, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i < n && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}
