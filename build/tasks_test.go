package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/t2web/t2web/svf/tasks"
)

func TestTasksList(t *testing.T) {
	code, out, errOut := t2("tasks", "list")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, line := range []string{
		"math            math       the math expert's task",
		"code-js         code       unseen (held out of all training)",
		"reasoning-hard  reasoning  unseen (held out of all training)",
		"cls             cls        the cls expert's task",
		"arith           math       base model's mix",
		"cls-general     cls        base model's mix",
		"reverse         other      base model's mix",
		"lost-found      math       held out for few-shot",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("no line %q in\n%s", line, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 1+len(tasks.All())+len(tasks.General())+len(tasks.HeldOut()) {
		t.Errorf("%d lines:\n%s", n, out)
	}
}

func TestTasksExport(t *testing.T) {
	code, out, errOut := t2("tasks", "export", "--task", "reasoning", "--n", "25", "--split", "test", "--seed", "9")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	task, _ := tasks.Lookup("reasoning")
	want, _ := tasks.Sample(task, tasks.Test, 9, 25)
	sc := bufio.NewScanner(strings.NewReader(out))
	i := 0
	for ; sc.Scan(); i++ {
		var row struct{ Input, Output string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if i < len(want) && (row.Input != want[i].Input || row.Output != want[i].Output) {
			t.Errorf("line %d: %+v, want %+v", i+1, row, want[i])
		}
	}
	if i != 25 {
		t.Errorf("%d lines, want 25", i)
	}
	// The default split is train, disjoint from test.
	_, train, _ := t2("tasks", "export", "--task", "reasoning", "--n", "200", "--seed", "9")
	for _, ex := range want {
		line, _ := json.Marshal(map[string]string{"input": ex.Input})
		if strings.Contains(train, strings.TrimSuffix(string(line), "}")) {
			t.Errorf("test item %q exported as train", ex.Input)
		}
	}
}

func TestTasksBadInput(t *testing.T) {
	for _, c := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"tasks", "export", "--task", "physics", "--n", "3"}, 1, `unknown task "physics" (known: math, math-hard, code, code-js, reasoning, reasoning-hard, cls, arith,`},
		{[]string{"tasks", "export", "--task", "math", "--split", "dev"}, 1, `unknown split "dev"`},
		{[]string{"tasks", "export", "--n", "3"}, 2, "usage: t2 tasks"},
		{[]string{"tasks", "export", "--task", "math", "--n", "0"}, 2, "usage: t2 tasks"},
		{[]string{"tasks"}, 2, "usage: t2 tasks"},
		{[]string{"tasks", "show"}, 2, "usage: t2 tasks"},
		{[]string{"tasks", "list", "extra"}, 2, "usage: t2 tasks list"},
	} {
		code, out, errOut := t2(c.args...)
		if code != c.code || !strings.Contains(errOut, c.stderr) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.stderr)
		}
	}
}
