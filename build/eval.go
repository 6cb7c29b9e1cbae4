package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// cmdEval measures a model's accuracy on a task of the suite or on a file of examples.
func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := flags("eval", "(--pack DIR [--expert E | --mix a:0.3,b:0.7] | --model DIR) (--task T [--n N] [--seed S] [--split test] | --examples FILE.jsonl) [--json]\n       t2 eval --pack DIR --table docs/RESULTS.md [--n 200] [--seed 1]", stderr)
	src := addSourceFlags(fs)
	taskName := fs.String("task", "", "task of the suite (t2 tasks list)")
	n := fs.Int("n", 100, "examples of the task to answer")
	seed := fs.Uint64("seed", 1, "`seed` of the task's sample")
	splitName := fs.String("split", "test", "split of the task: train, validation or test")
	examples := fs.String("examples", "", "JSONL or CSV `file` of {input, output} examples, checked with the generic extraction")
	maxTokens := fs.Int("max-tokens", 100, "longest answer in `tokens` (the task suite's worked solutions are at most 92 bytes)")
	batch := fs.Int("batch", 16, "examples answered together in one batch")
	asJSON := fs.Bool("json", false, "print the result, with every item, as JSON")
	table := fs.String("table", "", "write the demo's results table to this Markdown `file` (and results.json, every item's outcome, next to it): "+
		"every task of the suite on its test split, base vs experts (--n 200 unless given)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *table != "" {
		proto := defaultResults
		proto.Seed, proto.MaxTokens = *seed, *maxTokens
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "n" {
				proto.N = *n
			}
		})
		if src.pack == "" || src.expert != "" || src.mix != "" || *taskName != "" || *examples != "" || *splitName != "test" || *asJSON || fs.NArg() != 0 || proto.N <= 0 || *batch <= 0 {
			fs.Usage()
			return errUsage
		}
		return runResults(src.pack, *table, proto, *batch, stderr)
	}
	if !src.given() || (*taskName == "") == (*examples == "") || fs.NArg() != 0 || *n <= 0 || *batch <= 0 {
		fs.Usage()
		return errUsage
	}
	var exs []tasks.Example
	check := tasks.Generic
	name := *examples
	if *taskName != "" {
		t, err := tasks.Lookup(*taskName)
		if err != nil {
			return err
		}
		split, err := tasks.ParseSplit(*splitName)
		if err != nil {
			return err
		}
		if exs, err = tasks.Sample(t, split, *seed, *n); err != nil {
			return err
		}
		check, name = t.Check, t.Name()
	} else {
		data, err := os.ReadFile(*examples)
		if err != nil {
			return err
		}
		if exs, err = tasks.ReadExamples(data, *examples); err != nil {
			return err
		}
	}
	m, err := src.load()
	if err != nil {
		return err
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: min(*batch, len(exs))})
	if err != nil {
		return err
	}
	res, err := svf.Evaluate(m, e, exs, check, *maxTokens)
	if err != nil {
		return err
	}
	lo, hi := svf.Wilson(res.Correct, res.N)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Task     string     `json:"task"`
			Expert   string     `json:"expert,omitempty"`
			Mix      string     `json:"mix,omitempty"`
			Accuracy float64    `json:"accuracy"`
			CI95     [2]float64 `json:"ci95"`
			*svf.EvalResult
		}{name, src.expert, src.mix, res.Accuracy(), [2]float64{lo, hi}, res})
	}
	fmt.Fprintf(stdout, "%s: %d/%d correct, %.1f%% (95%% interval %.1f–%.1f%%)\n",
		name, res.Correct, res.N, 100*res.Accuracy(), 100*lo, 100*hi)
	return nil
}
