//go:build js && wasm

package main

import (
	"fmt"
	"strings"

	"github.com/vugu/vugu"

	"github.com/t2web/t2web/web/store"
)

// The site's examples (examples.json, written by t2 site): questions of each kind the
// demo model answers, one click away in the chat, and few-shot sets of families no model
// was trained on, one click away in the few-shot view.

// siteExamples is examples.json.
type siteExamples struct {
	Questions []struct {
		Task  string `json:"task"`
		Group string `json:"group"`
		Text  string `json:"text"`
	} `json:"questions"`
	FewShot []exampleSet `json:"fewShot"`
}

// exampleSet is one few-shot set.
type exampleSet struct {
	Name     string `json:"name"`
	About    string `json:"about"`
	File     string `json:"file"`
	Examples []struct {
		Input  string `json:"input"`
		Output string `json:"output"`
	} `json:"examples"`
}

// examplesURL is where the site keeps them.
const examplesURL = "examples.json"

// fetchExamples reads examples.json in the background; a site without it offers none.
func (c *Root) fetchExamples(ee vugu.EventEnv) {
	fetchJSON(ee, examplesURL, func(ex *siteExamples, err error) {
		if err != nil {
			consoleLog("warn", fmt.Sprintf("no example questions: %s: %v", examplesURL, err))
			return
		}
		c.Examples = ex
	})
}

// questionLabel is an example question's button text: its task and its first line.
func questionLabel(task, text string) string {
	first, _, _ := strings.Cut(text, "\n")
	if len(first) > 64 {
		first = first[:61] + "…"
	}
	return task + ": " + first
}

// LoadExampleSet puts example set i into the few-shot table, names the task after it, and
// keeps the rows it replaces for Undo.
func (c *FewShot) LoadExampleSet(i int) {
	if c.Examples == nil || i < 0 || i >= len(c.Examples.FewShot) || c.State == stateAdapting {
		return
	}
	set := c.Examples.FewShot[i]
	if len(c.Rows) > 0 {
		c.replaced, c.replacedName = c.Rows, c.TaskName
	} else {
		c.replaced = nil
	}
	c.Rows = nil
	for k, e := range set.Examples {
		c.Rows = append(c.Rows, exampleRow{Input: e.Input, Output: e.Output, Source: fmt.Sprintf("%s:%d", set.File, k+1)})
	}
	c.TaskName, c.FewMsg = set.Name, ""
	c.persist(store.FewShot)
}

// UndoExampleSet gives back the rows an example set replaced.
func (c *FewShot) UndoExampleSet() {
	if c.replaced == nil || c.State == stateAdapting {
		return
	}
	c.Rows, c.TaskName = c.replaced, c.replacedName
	c.replaced = nil
	c.persist(store.FewShot)
}

// replacedText says what Undo would give back.
func (c *FewShot) replacedText() string {
	return fmt.Sprintf("The example set replaced your %d rows.", len(c.replaced))
}
