package tokenizer

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader walks a JSON document without building it. A tokenizer.json is 9–11 MB,
// nearly all of it model.vocab and model.merges; encoding/json takes about 0.5 s on
// those (several seconds in wasm), so Load reads them with this reader and hands only
// the small sections to encoding/json.
type jsonReader struct {
	b       []byte
	i       int
	scratch []byte // unescaped text of the last string that had escapes
	escaped bool   // whether the last string had escapes (its text is in scratch)
}

var errJSONEnd = errors.New("unexpected end of JSON")

func (r *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", r.i, fmt.Sprintf(format, args...))
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jsonReader) expect(c byte) error {
	if r.peek() != c {
		if r.i >= len(r.b) {
			return errJSONEnd
		}
		return r.errorf("want %q, have %q", c, r.b[r.i])
	}
	r.i++
	return nil
}

// object reads an object, calling field for each key with the reader at its value;
// field must consume the value.
func (r *jsonReader) object(field func(key []byte) error) error {
	if err := r.expect('{'); err != nil {
		return err
	}
	if r.peek() == '}' {
		r.i++
		return nil
	}
	for {
		key, err := r.str()
		if err != nil {
			return err
		}
		if r.escaped { // the value's strings would overwrite scratch
			key = append([]byte(nil), key...)
		}
		if err := r.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		case 0:
			return errJSONEnd
		default:
			return r.errorf("want ',' or '}' after a value, have %q", r.b[r.i])
		}
	}
}

// array reads an array, calling elem with the reader at each element; elem must consume it.
func (r *jsonReader) array(elem func(i int) error) error {
	if err := r.expect('['); err != nil {
		return err
	}
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		case 0:
			return errJSONEnd
		default:
			return r.errorf("want ',' or ']' after an element, have %q", r.b[r.i])
		}
	}
}

// str reads a string and returns its text. The result aliases the input, or the
// reader's scratch when the string has escapes: it is valid until the next str call.
func (r *jsonReader) str() ([]byte, error) {
	if err := r.expect('"'); err != nil {
		return nil, err
	}
	start := r.i
	r.escaped = false
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], nil
		case c == '\\':
			r.escaped = true
			return r.strEscaped(start)
		case c < 0x20:
			return nil, r.errorf("control character in string")
		default:
			r.i++
		}
	}
	return nil, errJSONEnd
}

// strEscaped finishes a string from start whose first escape is at r.i.
func (r *jsonReader) strEscaped(start int) ([]byte, error) {
	out := append(r.scratch[:0], r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			r.scratch = out
			return out, nil
		case c < 0x20:
			return nil, r.errorf("control character in string")
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return nil, errJSONEnd
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return nil, r.errorf("bad \\u escape")
			}
			ch := rune(c1)
			if utf16.IsSurrogate(ch) {
				ch = utf8.RuneError
				save := r.i
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					r.i += 2
					if c2, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(rune(c1), rune(c2)); d != utf8.RuneError {
							ch = d
							save = r.i
						}
					}
				}
				r.i = save
			}
			out = utf8.AppendRune(out, ch)
		default:
			return nil, r.errorf("bad escape \\%c", e)
		}
	}
	return nil, errJSONEnd
}

func (r *jsonReader) hex4() (uint16, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	r.i += 4
	return uint16(v), true
}

// int reads a JSON number that must be an integer.
func (r *jsonReader) int() (int, error) {
	r.ws()
	start := r.i
	neg := r.i < len(r.b) && r.b[r.i] == '-'
	if neg {
		r.i++
	}
	n, digits := 0, 0
	for ; r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9'; r.i++ {
		n = n*10 + int(r.b[r.i]-'0')
		digits++
	}
	if digits == 0 || digits > 18 || r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i = start
		return 0, r.errorf("want an integer")
	}
	if neg {
		n = -n
	}
	return n, nil
}

// value skips one value of any kind and returns its raw text, for encoding/json.
func (r *jsonReader) value() ([]byte, error) {
	var start int
	switch r.peek() {
	case 0:
		return nil, errJSONEnd
	case '"':
		start = r.i
		err := r.skipStr()
		return r.b[start:r.i], err
	case '{', '[':
		start = r.i
		depth := 0
		for r.i < len(r.b) {
			switch r.b[r.i] {
			case '"':
				if err := r.skipStr(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					r.i++
					return r.b[start:r.i], nil
				}
			}
			r.i++
		}
		return nil, errJSONEnd
	default: // a number, true, false or null
		start = r.i
		for r.i < len(r.b) {
			switch r.b[r.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return r.b[start:r.i], nil
			}
			r.i++
		}
		return r.b[start:r.i], nil
	}
}

// skipStr moves past a string without unescaping it.
func (r *jsonReader) skipStr() error {
	r.i++ // the opening quote
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '"':
			r.i++
			return nil
		case '\\':
			r.i += 2
		default:
			r.i++
		}
	}
	return errJSONEnd
}
