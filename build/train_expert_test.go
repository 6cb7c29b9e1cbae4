package main

import (
	"bytes"
	"encoding/json"
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

// TestTrainExpertFitsContext: on a model whose context is shorter than train-expert's
// default sequence length, the defaults train (the sequence length clamped to the
// model), and a --seq-len that does not fit is refused naming the flag and the context.
func TestTrainExpertFitsContext(t *testing.T) {
	var cfg map[string]any
	if err := json.Unmarshal(defaultModelConfig, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["max_position_embeddings"] = 128
	data, _ := json.Marshal(cfg)
	dir := t.TempDir()
	cfgFile, hf, pack := filepath.Join(dir, "config.json"), filepath.Join(dir, "hf"), filepath.Join(dir, "pack")
	os.WriteFile(cfgFile, data, 0o644)
	if code, _, errOut := t2("random-model", "--config", cfgFile, "--out", hf); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := t2("convert", "--model", hf, "--out", pack); code != 0 {
		t.Fatal(errOut)
	}
	args := []string{"train-expert", "--pack", pack, "--task", "math", "--name", "m", "--iters", "1",
		"--batch", "2", "--micro", "2", "--val-every", "1", "--val-n", "2", "--max-tokens", "8"}
	if code, _, errOut := t2(args...); code != 0 {
		t.Errorf("defaults on a 128-token model: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut := t2(append(args, "--seq-len", "300")...)
	if code != 1 || !strings.Contains(errOut, "--seq-len 300") || !strings.Contains(errOut, "128") {
		t.Errorf("--seq-len 300 on a 128-token model: exit %d, stderr %q; want an error naming the flag and 128", code, errOut)
	}
}
