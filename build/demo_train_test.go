package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDemoTrainFromExamples holds the model card's "Experts trained from a person's
// examples" to the committed pack: 100 train-split examples of a held-out family, trained
// with train-expert's defaults for examples (the page's: next-token loss, a fifth held
// out, 6 epochs of batch 20, the start chosen among the pack's experts), lift accuracy on
// 200 validation items of the family that training never saw above the base model's,
// with the 95 % intervals apart and by at least 15 points. lost-found and totals are the
// two families the card names whose start is the math expert; give (code, +15) is left
// to the card's measurement to keep the test under two minutes a family.
func TestDemoTrainFromExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two experts on the demo pack (about a minute each)")
	}
	const n = 200 // validation items of the family, as the card's table
	type score struct {
		Correct, N int
		CI95       [2]float64
	}
	eval := func(t *testing.T, pack, family string, expert ...string) score {
		t.Helper()
		args := append([]string{"eval", "--pack", pack, "--task", family, "--split", "validation", "--n", strconv.Itoa(n), "--seed", "9", "--json"}, expert...)
		code, out, errOut := t2(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var s score
		if err := json.Unmarshal([]byte(out), &s); err != nil || s.N != n {
			t.Fatalf("%v: %v (n %d) in %q", args, err, s.N, out)
		}
		return s
	}
	for _, family := range []string{"lost-found", "totals"} {
		t.Run(family, func(t *testing.T) {
			dir := t.TempDir()
			pack := filepath.Join(dir, "pack")
			copyPack(t, demoPack, pack, false)
			code, jsonl, errOut := t2("tasks", "export", "--task", family, "--n", "100", "--split", "train", "--seed", "1", "--solutions")
			if code != 0 {
				t.Fatal(errOut)
			}
			file := filepath.Join(dir, family+".jsonl")
			if err := os.WriteFile(file, []byte(jsonl), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := t2("train-expert", "--pack", pack, "--examples", file, "--name", "new", "--start-from-experts", "--seed", "1")
			if code != 0 || !strings.Contains(out, "started from expert math") {
				t.Fatalf("train-expert: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			base, expert := eval(t, pack, family), eval(t, pack, family, "--expert", "new")
			t.Logf("%s: base %d/%d, new expert %d/%d", family, base.Correct, n, expert.Correct, n)
			if expert.CI95[0] <= base.CI95[1] || 100*(expert.Correct-base.Correct) < 15*n {
				t.Errorf("%s: the new expert answers %d/%d (%.1f–%.1f %%), the base model %d/%d (%.1f–%.1f %%): want intervals apart and 15 points more",
					family, expert.Correct, n, 100*expert.CI95[0], 100*expert.CI95[1], base.Correct, n, 100*base.CI95[0], 100*base.CI95[1])
			}
		})
	}
}
