package tasks

import (
	"strings"
	"testing"
)

// FuzzReadExamples feeds ReadExamples hostile few-shot files, as JSONL and as CSV: an
// error, never a panic, and every example it returns has a non-empty input and output.
func FuzzReadExamples(f *testing.F) {
	f.Add([]byte(`{"input": "What is 2 plus 3?", "output": "5"}`+"\n"+`{"question": "q", "answer": "a"}`), false)
	f.Add([]byte("input,output\n\"a, b\",c\nd,\"e\"\"f\"\n"), true)
	f.Add([]byte("prompt,completion\nx,y\n"), true)
	f.Add([]byte(`{"input": "x"}`), false)
	f.Add([]byte("\xff\xfe{\"input\": \"\xc3\"}"), false)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		name := "fuzz.jsonl"
		if csv {
			name = "fuzz.csv"
		}
		ex, err := ReadExamples(data, name)
		if (ex == nil) == (err == nil) {
			t.Fatalf("ReadExamples = %v, %v: want exactly one of examples and an error", ex, err)
		}
		if err != nil && !strings.Contains(err.Error(), name) {
			t.Fatalf("error %q does not name the file", err)
		}
		for i, e := range ex {
			if strings.TrimSpace(e.Input) == "" || strings.TrimSpace(e.Output) == "" {
				t.Fatalf("example %d has an empty field: %+v", i+1, e)
			}
		}
	})
}
