package tasks

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// MaxExamplesBytes bounds a few-shot file: a few-shot set is a handful of examples, and
// a larger file is most likely the wrong file.
const MaxExamplesBytes = 4 << 20

// Column names a few-shot file may use for the question and the answer, in order of
// preference (ARCHITECTURE §3).
var (
	inputKeys  = []string{"input", "question", "prompt"}
	outputKeys = []string{"output", "answer", "completion"}
)

// ReadExamples reads a user's few-shot examples: JSONL ({"input": …, "output": …}; also
// question/answer or prompt/completion) or, when name ends in .csv, CSV with a header
// naming those columns. Every row must have both fields, non-empty; the error names the
// file and line. Duplicate rows are kept (they weigh as the user gave them); an empty
// file is an error. name is used in errors only.
func ReadExamples(data []byte, name string) ([]Example, error) {
	if len(data) > MaxExamplesBytes {
		return nil, fmt.Errorf("%s: %d bytes; a few-shot file holds at most %d (a handful of examples)", name, len(data), MaxExamplesBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; want JSONL lines like {\"input\": …, \"output\": …} or CSV with input,output columns", name)
	}
	if err := CheckText(data, name); err != nil {
		return nil, err
	}
	var ex []Example
	var err error
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		ex, err = readCSV(data, name)
	} else {
		ex, err = readJSONL(data, name)
	}
	if err != nil {
		return nil, err
	}
	if len(ex) == 0 {
		return nil, fmt.Errorf("%s: no examples", name)
	}
	return ex, nil
}

// CheckText refuses a file that is not UTF-8 text before it is parsed, where the parser
// would only say that a byte is unexpected: spreadsheets save "Unicode text" as UTF-16,
// and other editors use a legacy code page.
func CheckText(data []byte, name string) error {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return fmt.Errorf("%s: the file is UTF-16 text; save it as UTF-8 (in a spreadsheet: CSV UTF-8)", name)
	}
	for off, line := 0, 1; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%s:%d: byte 0x%02x at offset %d is not UTF-8; save the file as UTF-8", name, line, data[off], off)
		}
		if r == '\n' {
			line++
		}
		off += size
	}
	return nil
}

func readJSONL(data []byte, name string) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxExamplesBytes)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal(text, &row); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v", name, line, err)
		}
		in, err := field(row, inputKeys)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out1, err := field(row, outputKeys)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, Example{Input: in, Output: out1})
	}
	return out, sc.Err()
}

// field returns the first of keys present in row, as text (numbers are written as JSON
// writes them: an answer of 42 is "42").
func field(row map[string]any, keys []string) (string, error) {
	for _, k := range keys {
		v, ok := row[k]
		if !ok {
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case float64, bool:
			b, _ := json.Marshal(v)
			s = string(b)
		default:
			return "", fmt.Errorf("field %q is not text", k)
		}
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("field %q is empty", k)
		}
		return s, nil
	}
	return "", fmt.Errorf("no field %s", strings.Join(keys, ", "))
}

func readCSV(data []byte, name string) ([]Example, error) {
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col := func(keys []string) int {
		for _, k := range keys {
			for i, h := range header {
				if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), k) {
					return i
				}
			}
		}
		return -1
	}
	in, out := col(inputKeys), col(outputKeys)
	if in < 0 || out < 0 {
		return nil, fmt.Errorf("%s: the header %q needs a column for the question (%s) and one for the answer (%s)",
			name, strings.Join(header, ","), strings.Join(inputKeys, "/"), strings.Join(outputKeys, "/"))
	}
	var ex []Example
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		if strings.TrimSpace(rec[in]) == "" || strings.TrimSpace(rec[out]) == "" {
			return nil, fmt.Errorf("%s:%d: empty %s", name, line, map[bool]string{true: "question", false: "answer"}[strings.TrimSpace(rec[in]) == ""])
		}
		ex = append(ex, Example{Input: rec[in], Output: rec[out]})
	}
	if len(ex) == 0 {
		return nil, fmt.Errorf("%s: only the header line %q, no examples below it", name, strings.Join(header, ","))
	}
	return ex, nil
}

// isNumberRef tells whether a reference answer is a plain number: whether ref is what
// the regular expression
//
//	^[-+−]?[0-9][0-9,]*(\.[0-9]+)?\.?$
//
// matches. That is an optional sign ('-', '+' or the minus sign '−', U+2212), a digit,
// any digits and commas, then optionally '.' and one or more digits, then optionally a
// final '.', and nothing else (Go's $ matches at the end of the text only, so not before
// a final '\n'): "12", "−3", "1,000.50", "7.", "2.5." but not ".5", "1..", "1.5.2" or
// "1e3". It is written by hand, not with regexp, to keep the standard regexp package
// out of the page's WebAssembly; examples_test.go holds it to the expression.
func isNumberRef(ref string) bool {
	switch {
	case strings.HasPrefix(ref, "−"):
		ref = ref[len("−"):]
	case strings.HasPrefix(ref, "-"), strings.HasPrefix(ref, "+"):
		ref = ref[1:]
	}
	if ref == "" || !isDigit(ref[0]) {
		return false
	}
	i := 1
	for i < len(ref) && (isDigit(ref[i]) || ref[i] == ',') {
		i++
	}
	if i == len(ref) {
		return true
	}
	if ref[i] != '.' {
		return false
	}
	i++ // the point, of a fraction or of the end
	frac := i
	for i < len(ref) && isDigit(ref[i]) {
		i++
	}
	return i == len(ref) || i > frac && i == len(ref)-1 && ref[i] == '.'
}

// Generic checks answers to a user's examples, whose task is unknown: the reference's
// kind decides the extraction — a number compares last numbers, a single letter A–E
// (or "(B)") compares letters, anything else compares the answer (whole, or its last
// line) with the reference, ignoring surrounding space and case. A worked reference
// ("7+5=12, 12-3=9. Answer: 9", as Example.Solution writes) is checked by what follows
// its last "Answer:".
func Generic(ex Example, answer string) bool {
	ref := strings.TrimSpace(ex.Output)
	if i := strings.LastIndex(ref, "Answer:"); i >= 0 && strings.TrimSpace(ref[i+len("Answer:"):]) != "" {
		ref = strings.TrimSpace(ref[i+len("Answer:"):])
	}
	if isNumberRef(ref) {
		want, _ := LastNumber(ref)
		got, ok := LastNumber(answer)
		return ok && got == want
	}
	if core := strings.Trim(ref, "()"); len(core) == 1 && core[0] >= 'A' && core[0] <= 'E' {
		got, ok := ExtractLetter(answer, 'E')
		return ok && got == core
	}
	text := strings.TrimSpace(answer)
	last := text
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		last = strings.TrimSpace(text[i+1:])
	}
	return strings.EqualFold(text, ref) || strings.EqualFold(last, ref)
}

// HoldOut is how many of n examples a share of them holds out for validation: the
// share rounded, at least one, and at least one left to train on (n ≥ 2). The page
// states it before training; svf/learn's SplitExamples draws them.
func HoldOut(n int, share float64) int {
	return min(max(int(math.Round(share*float64(n))), 1), n-1)
}
