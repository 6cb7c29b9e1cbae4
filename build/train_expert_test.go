package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainExpertCommand trains a tiny expert on the random model's pack, resumes from
// its checkpoint, and checks the bad inputs: an unknown task, a pack that adapts no
// matrix, a damaged checkpoint (left as it is).
func TestTrainExpertCommand(t *testing.T) {
	dir, hf := t.TempDir(), randomCheckpoint(t)
	pack := filepath.Join(dir, "pack")
	if code, _, errOut := t2("convert", "--model", hf, "--out", pack); code != 0 {
		t.Fatal(errOut)
	}
	ck := filepath.Join(dir, "run.ckpt")
	args := []string{"train-expert", "--pack", pack, "--task", "reasoning", "--name", "r1", "--iters", "2",
		"--batch", "4", "--micro", "4", "--val-every", "1", "--val-n", "4", "--max-tokens", "4", "--checkpoint", ck}
	code, out, errOut := t2(args...)
	if code != 0 || !strings.Contains(out, "added expert r1") || !strings.Contains(errOut, "iter 2/2") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, _ := t2("expert", "show", "--pack", pack); code != 0 || !strings.Contains(out, "REINFORCE on reasoning") {
		t.Errorf("expert show: %q", out)
	}
	// Resuming a finished run trains no more and gives the same expert.
	if code, _, errOut := t2(append(args, "--name", "r1")...); code != 0 || strings.Contains(errOut, "iter 1/2") {
		t.Errorf("resume: exit %d, stderr %q", code, errOut)
	}
	data, _ := os.ReadFile(ck)
	os.WriteFile(ck, data[:len(data)/3], 0o644)
	damaged, _ := os.ReadFile(ck)
	code, _, errOut = t2(args...)
	if code != 1 || !strings.Contains(errOut, ck) {
		t.Errorf("damaged checkpoint: exit %d, stderr %q", code, errOut)
	}
	if now, _ := os.ReadFile(ck); !bytes.Equal(now, damaged) {
		t.Error("the damaged checkpoint was changed")
	}
	// A pack that adapts nothing.
	manifest := filepath.Join(pack, "pack.json")
	m, _ := os.ReadFile(manifest)
	i := bytes.Index(m, []byte(`"matrices": [`))
	j := i + bytes.IndexByte(m[i:], ']')
	os.WriteFile(manifest, append(append(append([]byte{}, m[:i]...), `"matrices": [`...), m[j:]...), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"train-expert", "--pack", pack, "--task", "poetry", "--name", "x"}, `unknown task "poetry"`},
		{[]string{"train-expert", "--pack", pack, "--task", "math", "--name", "x"}, "adapts no matrices"},
		{[]string{"train-expert", "--pack", pack, "--task", "math", "--name", "a b"}, `expert name "a b"`},
	} {
		if code, _, errOut := t2(tt.args...); code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}
