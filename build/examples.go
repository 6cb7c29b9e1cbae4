package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/t2web/t2web/svf/tasks"
)

// The site's examples: questions of each kind the demo model answers, one click away in
// the chat, and few-shot sets of the held-out families, one click away in the few-shot
// view (and as .jsonl files to download). They are drawn from the validation split, never
// the test split the results are measured on.

// siteExamples is examples.json.
type siteExamples struct {
	Questions []exampleQuestion `json:"questions"`
	FewShot   []exampleSet      `json:"fewShot"`
}

// exampleQuestion is a question to try in the chat.
type exampleQuestion struct {
	Task  string `json:"task"`
	Group string `json:"group"` // groupDomain or groupUnseen, or "other" for a question of no domain
	Text  string `json:"text"`
}

// exampleSet is a few-shot set: a held-out family's examples, worked solutions as outputs.
type exampleSet struct {
	Name     string           `json:"name"`
	About    string           `json:"about"`
	File     string           `json:"file"` // the same examples as JSONL, in the site
	Examples []exampleFewShot `json:"examples"`
}

type exampleFewShot struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// fewShotSetSize is the examples of a few-shot set: what the results' few-shot column
// adapts on.
const fewShotSetSize = 10

// heldOutAbout says what each held-out family asks.
var heldOutAbout = map[string]string{
	tasks.Give:      "one person gives another some things; how many has one of them now?",
	tasks.Totals:    "three or four people's counts; how many do they have together?",
	tasks.LostFound: "someone had some things, lost some, found some; how many now?",
}

// writeExamples writes examples.json and one fewshot-NAME.jsonl per held-out family
// into outDir.
func writeExamples(outDir string) error {
	var ex siteExamples
	add := func(t tasks.Task, group string, n int) error {
		exs, err := tasks.Sample(t, tasks.Validation, 1, n)
		if err != nil {
			return err
		}
		for _, e := range exs {
			ex.Questions = append(ex.Questions, exampleQuestion{Task: t.Name(), Group: group, Text: e.Input})
		}
		return nil
	}
	for _, t := range tasks.All() {
		if t.Domain() == tasks.Cls {
			continue
		}
		if err := add(t, groupOf(t), 2); err != nil {
			return err
		}
	}
	for _, name := range []string{tasks.Sort, tasks.Count} {
		t, err := tasks.Lookup(name)
		if err != nil {
			return err
		}
		if err := add(t, tasks.Other, 1); err != nil {
			return err
		}
	}
	for _, t := range tasks.HeldOut() {
		exs, err := tasks.Sample(t, tasks.Validation, 1, fewShotSetSize)
		if err != nil {
			return err
		}
		set := exampleSet{Name: t.Name(), About: heldOutAbout[t.Name()], File: "fewshot-" + t.Name() + ".jsonl"}
		for i, e := range exs {
			exs[i].Output = e.Solution
			set.Examples = append(set.Examples, exampleFewShot{Input: e.Input, Output: e.Solution})
		}
		var b bytes.Buffer
		if err := tasks.WriteJSONL(&b, exs); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, set.File), b.Bytes(), 0o644); err != nil {
			return err
		}
		ex.FewShot = append(ex.FewShot, set)
	}
	data, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "examples.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("examples.json: %w", err)
	}
	return nil
}
