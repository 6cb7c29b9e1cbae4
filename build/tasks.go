package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/t2web/t2web/svf/tasks"
)

// cmdTasks lists the task suite (t2 tasks list) or writes a sample of one task as
// few-shot JSONL (t2 tasks export).
func cmdTasks(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "list" {
		fs := flags("tasks", "list", stderr)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			fs.Usage()
			return errUsage
		}
		return listTasks(stdout)
	}
	fs := flags("tasks", "list | export --task T [--n N] [--split S] [--seed S] [--solutions]", stderr)
	name := fs.String("task", "", "export the task called `name` (t2 tasks list names them)")
	n := fs.Int("n", 100, "export `n` examples")
	splitName := fs.String("split", "train", "export from the `split`: train, validation or test")
	seed := fs.Uint64("seed", 0, "random `seed` of the sample")
	solutions := fs.Bool("solutions", false, "write each item's worked solution as its output, where the task has one")
	if len(args) == 0 || args[0] != "export" {
		if err := parse(fs, args); err != nil { // -h
			return err
		}
		fs.Usage()
		return errUsage
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *name == "" || *n < 1 || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	task, err := tasks.Lookup(*name)
	if err != nil {
		return err
	}
	split, err := tasks.ParseSplit(*splitName)
	if err != nil {
		return err
	}
	exs, err := tasks.Sample(task, split, *seed, *n)
	if err != nil {
		return err
	}
	if *solutions {
		for i, ex := range exs {
			if ex.Solution != "" {
				exs[i].Output = ex.Solution
			}
		}
	}
	b := bufio.NewWriter(stdout)
	if err := tasks.WriteJSONL(b, exs); err != nil {
		return err
	}
	return b.Flush()
}

func listTasks(w io.Writer) error {
	fmt.Fprintf(w, "%-15s %-10s %s\n", "task", "domain", "role")
	for _, group := range []struct {
		role string
		ts   []tasks.Task
	}{
		{"", tasks.All()},
		{"base model's mix", tasks.General()},
		{"held out for few-shot", tasks.HeldOut()},
	} {
		for _, t := range group.ts {
			role := group.role
			switch {
			case role != "":
			case t.Unseen():
				role = "unseen (held out of all training)"
			case t.Domain() == tasks.Cls:
				role = "the cls expert's task"
			default:
				role = "the " + t.Domain() + " expert's task"
			}
			if _, err := fmt.Fprintf(w, "%-15s %-10s %s\n", t.Name(), t.Domain(), role); err != nil {
				return err
			}
		}
	}
	return nil
}
