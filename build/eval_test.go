package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestEvalCommand(t *testing.T) {
	dir, hf := t.TempDir(), randomCheckpoint(t)
	code, out, errOut := t2("eval", "--model", hf, "--task", "reasoning", "--n", "6", "--batch", "4", "--max-tokens", "4")
	if code != 0 || !regexp.MustCompile(`^reasoning: \d/6 correct, [0-9.]+% \(95% interval [0-9.]+–[0-9.]+%\)\n$`).MatchString(out) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = t2("eval", "--model", hf, "--task", "math", "--n", "3", "--max-tokens", "4", "--json")
	var res struct {
		Task    string
		N       int
		Correct int
		CI95    [2]float64
		Items   []struct{ Input, Reference, Answer string }
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.N != 3 || len(res.Items) != 3 || res.Items[0].Reference == "" {
		t.Errorf("--json: exit %d, %v, %+v, stderr %q", code, err, res, errOut)
	}
	ex := filepath.Join(dir, "ex.jsonl")
	os.WriteFile(ex, []byte("{\"question\": \"2+2?\", \"answer\": \"4\"}\n{\"input\": \"x\", \"output\": \"B\"}\n"), 0o644)
	if code, out, errOut := t2("eval", "--model", hf, "--examples", ex, "--max-tokens", "4"); code != 0 || !strings.Contains(out, "/2 correct") {
		t.Errorf("--examples: exit %d, %q %q", code, out, errOut)
	}
	os.WriteFile(ex, []byte("{\"question\": \"2+2?\"}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", hf, "--examples", ex}, "ex.jsonl:1: no field output"},
		{[]string{"eval", "--model", hf, "--task", "poetry"}, `unknown task "poetry"`},
		{[]string{"eval", "--model", hf, "--task", "math", "--split", "dev"}, "dev"},
	} {
		if code, _, errOut := t2(tt.args...); code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}
