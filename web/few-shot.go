//go:build js && wasm

package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"

	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/store"
)

// maxExpertBytes bounds an expert file the page reads: z vectors are small (a 7 B model's
// MLP experts are a few MiB).
const maxExpertBytes = 256 << 20

// FewShot is the few-shot view: the examples as editable rows, the settings of the
// adaptation, its progress and its result, and a new expert trained on the rows (Train,
// a component of its own inside the view).
type FewShot struct {
	*Shared
	Rows    []exampleRow
	AllRows bool   // every row shown; otherwise the first foldRows and those to fix
	Paste   string // the paste box
	FewMsg  string // why the last file or paste was not taken, "" when it was
	// replaced are the rows an example set replaced, for Undo; nil when there is nothing
	// to give back.
	replaced     []exampleRow
	replacedName string

	TaskName, Score, Iters, Population string // as typed
	PerLayer                           bool

	Steps   []protocol.AdaptProgress // the running or last adaptation's iterations
	Adapted *protocol.Adapted        // the last adaptation's result

	train *Train // "Train a new expert" on the rows
}

// newFewShot is the few-shot view with the default settings.
func newFewShot(s *Shared) *FewShot {
	d := protocol.DefaultAdapt
	c := &FewShot{Shared: s, TaskName: "task", Score: d.Score, Iters: strconv.Itoa(d.Iters), Population: strconv.Itoa(d.Population)}
	c.train = &Train{Shared: s, examples: c.examples, TrainName: "new-skill"}
	return c
}

// forget drops the adaptation of the model loaded before.
func (c *FewShot) forget() {
	c.Adapted, c.Steps = nil, nil
}

// exampleRow is one few-shot example as the user sees it. Err says what is wrong with it
// ("" when nothing is); Source names where it came from ("notes.jsonl:3"), "" when typed.
type exampleRow struct {
	Input, Output string
	Err           string
	Source        string
}

// label is the row's number and source for the table.
func (r exampleRow) label(i int) string {
	if r.Source != "" {
		return fmt.Sprintf("%d (%s)", i+1, r.Source)
	}
	return strconv.Itoa(i + 1)
}

func rowClass(r exampleRow) string {
	if r.Err != "" {
		return "bad"
	}
	return "ok"
}

// check sets the row's error from its fields.
func (r *exampleRow) check() {
	switch {
	case strings.HasPrefix(r.Err, "not JSON") && r.Output == "":
		// a line that did not parse keeps its message until it is edited into a row
	case strings.TrimSpace(r.Input) == "" && strings.TrimSpace(r.Output) == "":
		r.Err = "empty row: type an input and an output"
	case strings.TrimSpace(r.Input) == "":
		r.Err = "no input"
	case strings.TrimSpace(r.Output) == "":
		r.Err = "no output"
	default:
		r.Err = ""
	}
}

// parseExamples reads a JSONL or CSV few-shot set (tasks.ReadExamples' formats) into
// rows. A JSONL line that is not a valid example becomes a row with its error and the
// line's text as input, so nothing is lost; a file where no line is an example, an empty
// file, or a CSV without the needed columns is an error and gives no rows.
func parseExamples(data []byte, name string) ([]exampleRow, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty: want JSONL lines like {\"input\": …, \"output\": …} or CSV with input,output columns", name)
	}
	if len(data) > tasks.MaxExamplesBytes {
		_, err := tasks.ReadExamples(data, name)
		return nil, err
	}
	if err := tasks.CheckText(data, name); err != nil {
		return nil, err
	}
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		exs, err := tasks.ReadExamples(data, name)
		if err != nil {
			return nil, err
		}
		rows := make([]exampleRow, len(exs))
		for i, ex := range exs {
			rows[i] = exampleRow{Input: ex.Input, Output: ex.Output, Source: fmt.Sprintf("%s row %d", name, i+1)}
		}
		return rows, nil
	}
	var rows []exampleRow
	good := 0
	var firstErr string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		src := fmt.Sprintf("%s:%d", name, i+1)
		exs, err := tasks.ReadExamples([]byte(line), "")
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), ":1: ")
			if firstErr == "" {
				firstErr = fmt.Sprintf("line %d: %s", i+1, msg)
			}
			rows = append(rows, exampleRow{Input: line, Err: fmt.Sprintf("line %d: %s", i+1, msg), Source: src})
			continue
		}
		good++
		rows = append(rows, exampleRow{Input: exs[0].Input, Output: exs[0].Output, Source: src})
	}
	if good == 0 {
		return nil, fmt.Errorf("%s has no examples: %s (want JSONL lines like {\"input\": …, \"output\": …} or a .csv with input,output columns)", name, firstErr)
	}
	return rows, nil
}

// addExamples adds the rows of a file or of the paste box after those there are; when
// it fails, FewMsg says why and nothing changes.
func (c *FewShot) addExamples(data []byte, name string) bool {
	rows, err := parseExamples(data, name)
	if err != nil {
		c.FewMsg = err.Error()
		return false
	}
	c.FewMsg = ""
	bad := 0
	for _, r := range rows {
		if r.Err != "" {
			bad++
		}
	}
	if bad > 0 {
		c.FewMsg = fmt.Sprintf("%s: %d of %d lines are not examples; they are in the table, marked, to fix or remove", name, bad, len(rows))
	}
	c.Rows = append(c.Rows, rows...)
	c.persist(store.FewShot)
	return true
}

// AddPasted adds the paste box's rows; the box keeps its text when they are refused.
func (c *FewShot) AddPasted() {
	name := "pasted"
	if t := strings.TrimSpace(c.Paste); !strings.HasPrefix(t, "{") && strings.Contains(strings.SplitN(t, "\n", 2)[0], ",") {
		name = "pasted.csv"
	}
	if c.addExamples([]byte(c.Paste), name) {
		c.Paste = ""
	}
}

// AddRow adds an empty row to type into.
func (c *FewShot) AddRow() {
	c.Rows = append(c.Rows, exampleRow{})
	c.persist(store.FewShot)
}

// ClearRows removes every row.
func (c *FewShot) ClearRows() {
	c.Rows, c.FewMsg = nil, ""
	c.persist(store.FewShot)
}

// SetTaskName sets the adaptation's name as typed.
func (c *FewShot) SetTaskName(v string) {
	c.TaskName = v
	c.persist(store.FewShot)
}

// RemoveRow removes row i.
func (c *FewShot) RemoveRow(i int) {
	if i >= 0 && i < len(c.Rows) {
		c.Rows = append(c.Rows[:i], c.Rows[i+1:]...)
		c.persist(store.FewShot)
	}
}

// SetRow sets row i's input (or output) as typed.
func (c *FewShot) SetRow(i int, input bool, v string) {
	if i < 0 || i >= len(c.Rows) {
		return
	}
	r := &c.Rows[i]
	if input {
		r.Input = v
	} else {
		r.Output = v
	}
	if r.Output != "" {
		r.Err = ""
	}
	r.check()
	c.persist(store.FewShot)
}

// examples are the valid rows.
func (c *FewShot) examples() []protocol.Example {
	var out []protocol.Example
	for _, r := range c.Rows {
		if r.Err == "" && strings.TrimSpace(r.Input) != "" && strings.TrimSpace(r.Output) != "" {
			out = append(out, protocol.Example{Input: r.Input, Output: r.Output})
		}
	}
	return out
}

func (c *FewShot) rowsText() string {
	if len(c.Rows) == 0 {
		return "No examples yet."
	}
	ok := len(c.examples())
	s := fmt.Sprintf("%d rows, %d valid", len(c.Rows), ok)
	if bad := len(c.Rows) - ok; bad > 0 {
		s += fmt.Sprintf(", %d to fix (marked; they are left out of the adaptation)", bad)
	}
	return s
}

// foldRows is how many rows the table shows before "Show all": a hundred examples for
// training would otherwise push the settings and buttons far below.
const foldRows = 10

// rowFolded tells whether row i is hidden by the fold; a row to fix never is.
func (c *FewShot) rowFolded(i int) bool {
	return !c.AllRows && i >= foldRows && c.Rows[i].Err == ""
}

// foldText labels the button that shows or folds the rows past foldRows.
func (c *FewShot) foldText() string {
	if c.AllRows {
		return fmt.Sprintf("Show the first %d rows", foldRows)
	}
	return fmt.Sprintf("Show all %d rows", len(c.Rows))
}

func (c *FewShot) canAdapt() bool {
	return c.Info != nil && c.Info.Pack != nil && !c.busy() && len(c.examples()) > 0
}

// Adapt starts few-shot CEM on the valid rows.
func (c *FewShot) Adapt() {
	if !c.canAdapt() {
		return
	}
	req := protocol.Adapt{Type: protocol.TypeAdapt, Name: strings.TrimSpace(c.TaskName), Examples: c.examples(),
		Score: c.Score, PerLayer: c.PerLayer, Seed: 1}
	var err error
	if req.Iters, err = strconv.Atoi(strings.TrimSpace(c.Iters)); err != nil || req.Iters < 1 {
		c.fail(fmt.Errorf("iterations %q: want a whole number ≥ 1", c.Iters))
		return
	}
	if req.Population, err = strconv.Atoi(strings.TrimSpace(c.Population)); err != nil || req.Population < 2 {
		c.fail(fmt.Errorf("population %q: want a whole number ≥ 2", c.Population))
		return
	}
	if _, maxTokens, _, err := c.sampling(); err == nil {
		req.MaxTokens = maxTokens
	}
	c.Steps, c.Adapted = nil, nil
	c.State, c.Err = stateAdapting, ""
	c.Status = fmt.Sprintf("adapting to %d examples…", len(req.Examples))
	c.send(req)
}

// adapted records the end of an adaptation.
func (c *FewShot) adapted(m *protocol.Adapted) {
	c.Adapted = m
	c.State = stateDone
	c.Status = fmt.Sprintf("adapted %q in %s: best %s %.3f (%s)", m.Name, msText(m.Ms), m.Score, m.Best, m.Stopped)
	c.Strategy = protocol.StrategyExpert + m.Name
	delete(c.savedExperts, m.Name) // a new mixture of that name: save it again
	c.persist(store.Chats)
}

func (c *FewShot) adaptText() string {
	switch {
	case c.State == stateAdapting && len(c.Steps) == 0:
		return "adapting… (the first iteration scores the whole population)"
	case c.State == stateAdapting:
		s := c.Steps[len(c.Steps)-1]
		return fmt.Sprintf("iteration %d of at most %d: best %.3f, mean %.3f, %s", s.Iter, s.Iters, s.Best, s.Mean, msText(s.Ms))
	case c.Adapted != nil:
		m := c.Adapted
		s := fmt.Sprintf("%q: best %s %.3f after %d iterations (%s, %d candidates scored), %s.", m.Name, m.Score, m.Best, len(m.History), m.Stopped, m.Scored, msText(m.Ms))
		if a := m.OnExamples; a != nil {
			s += fmt.Sprintf(" On the %d examples, answered greedily: base weights %d right, the mixture %d right.", a.N, a.Base, a.Mixture)
			switch m.Picked {
			case "":
			case protocol.PickedBase:
				s += fmt.Sprintf(" So %q keeps the base weights.", m.Name)
			default:
				s += fmt.Sprintf(" %s alone answers %d right, so %q is %s alone.", m.Picked, a.Adapted, m.Name, m.Picked)
			}
		}
		return s + " The chat now answers with it."
	}
	return ""
}

func (c *FewShot) alphaCaption() string {
	m := c.Adapted
	return fmt.Sprintf("α of %q per expert: %s", m.Name, alphaList(m.Experts, m.Alpha))
}

// UseMixture makes the chat answer with the adapted mixture.
func (c *FewShot) UseMixture() {
	if c.Adapted != nil {
		c.UseExpert(c.Adapted.Name)
	}
}

// PickExamples takes the files chosen in the examples' file field.
func (c *FewShot) PickExamples(event vugu.DOMEvent) {
	c.readFiles(event.EventEnv(), fromVugu(event.JSEventTarget()))
}

// PickExpert takes the expert file chosen in the upload field.
func (c *FewShot) PickExpert(event vugu.DOMEvent) {
	c.readFiles(event.EventEnv(), fromVugu(event.JSEventTarget()))
}

// readFiles reads the files of v (a DataTransfer or a file field) in the background (a
// promise must not be awaited inside an event handler) and takes each: an expert goes to
// the worker, anything else is a few-shot set.
func (c *FewShot) readFiles(ee vugu.EventEnv, v safejs.Value) {
	files, err := filesOf(v)
	if err != nil {
		c.FewMsg = fmt.Sprintf("reading the files: %v", err)
		return
	}
	if len(files) == 0 {
		return
	}
	go func() {
		for _, f := range files {
			expert := strings.HasSuffix(strings.ToLower(f.name), ".safetensors")
			var data []byte
			size, err := f.size()
			switch {
			case err != nil:
			case !expert && size > tasks.MaxExamplesBytes:
				err = fmt.Errorf("%s, but a few-shot file may have at most %s (a few hundred examples): nothing was read; the rows already there stay", bytesText(size), bytesText(tasks.MaxExamplesBytes))
			case expert && size > maxExpertBytes:
				err = fmt.Errorf("%s, but an expert file may have at most %s: is it an expert (t2 adapt --save-expert, or Download)?", bytesText(size), bytesText(maxExpertBytes))
			default:
				data, err = f.bytes()
			}
			ee.Lock()
			switch {
			case err != nil:
				c.View = viewFewShot
				c.FewMsg = fmt.Sprintf("%s: %v", f.name, err)
			case expert:
				c.View = viewFewShot
				clear(c.savedExperts) // the file may replace an expert: save them all again
				c.send(protocol.ImportExpert{Type: protocol.TypeImportExpert, File: f.name, Data: data})
				c.Status = "importing " + f.name
			default:
				c.View = viewFewShot
				c.addExamples(data, f.name)
			}
			ee.UnlockRender()
		}
	}()
}
