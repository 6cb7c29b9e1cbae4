// Package tasks is t2web's task suite: seeded generators of short questions, each with an
// exact checker, on which the demo model is trained and experts are trained with
// REINFORCE and evaluated (ARCHITECTURE.md §1).
//
// Three training domains are modelled on the paper's (GSM8K, MBPP, ARC-Easy), each with an
// unseen variant for transfer, plus the classification task of the first pass:
//
//	task            domain     unseen  question                                   answer   chance
//	math            math       no      word problem: 2–3 steps of + and −, ≤ 20   integer    4 %
//	math-hard       math       yes     3–4 steps, ≤ 60, packs (×) and doubling    integer    1 %
//	code            code       no      Python-like program of 2–4 lines           printed    5 %
//	code-js         code       yes     the same programs written as JavaScript    logged     5 %
//	reasoning       reasoning  no      3 people, 2 comparisons, options (A)–(C)   letter    33 %
//	reasoning-hard  reasoning  yes     4 people, 3 comparisons, options (A)–(D)   letter    25 %
//	cls             cls        no      ClassificationPrompt of a training task    label     33 %
//
// Chance is the share of the most common answer, what a model that always gives one
// answer scores.
//
// Questions are short (at most 128 bytes, a classification prompt 58 more) and use a
// small vocabulary, so that a byte-level model of a few million parameters learns them in
// part. Answers are checked exactly after extraction from free text: the last number
// (math), the last number of a code block or of the last line (code), a single letter
// (reasoning), a single label (cls); an answer that names two different letters or labels,
// or none, is wrong.
//
// Sample draws the train, validation and test splits; they are disjoint by construction,
// since an item's split is a function of its question (SplitOf).
package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
)

// Example is one item of a task.
type Example struct {
	Input  string // the question, as the model sees it
	Output string // the reference answer, short: what Check compares an answer with
	// Solution is a worked answer that ends in Output ("7+5=12, 12-3=9. Answer: 9"): what
	// the demo's base model is trained to write, since a model of a few million parameters
	// learns the steps where it cannot learn the answer at once. Empty when the task has
	// none; Check(ex, ex.Solution) holds otherwise.
	Solution string
	Task     string // the task's name
	Domain   string // the question's domain; for cls, the label the question should get
}

// Task is one kind of question: a generator and the checker of its answers.
type Task interface {
	// Name is the task's name, as Lookup takes it.
	Name() string
	// Domain is the training domain the task belongs to (math, code, reasoning), which
	// names the expert meant for it; "cls" for the classification task.
	Domain() string
	// Unseen reports whether the task is held out of expert training, for transfer.
	Unseen() bool
	// Example draws one item; the same rng state gives the same item.
	Example(rng *rand.Rand) Example
	// Extract finds the answer in a model's free text and normalises it;
	// false when there is none or it is ambiguous.
	Extract(answer string) (string, bool)
	// Check reports whether answer is right for ex: its extraction equals ex.Output's.
	Check(ex Example, answer string) bool
}

// Task names.
const (
	Math          = "math"
	MathHard      = "math-hard"
	Code          = "code"
	CodeJS        = "code-js"
	Reasoning     = "reasoning"
	ReasoningHard = "reasoning-hard"
	Cls           = "cls"
)

// All returns every task of the suite: the six question tasks, then cls.
func All() []Task {
	return []Task{
		mathTask(), mathHardTask(),
		codeTask(), codeJSTask(),
		reasoningTask(), reasoningHardTask(),
		clsTask{},
	}
}

// Lookup returns the task called name.
func Lookup(name string) (Task, error) {
	var known []string
	for _, t := range slices.Concat(All(), General(), HeldOut()) {
		if t.Name() == name {
			return t, nil
		}
		known = append(known, t.Name())
	}
	return nil, fmt.Errorf("tasks: unknown task %q (known: %s)", name, strings.Join(known, ", "))
}

// genTask is a question task: a generator of (input, output, solution) and an extractor.
type genTask struct {
	name, domain string
	unseen       bool
	gen          func(rng *rand.Rand) (input, output, solution string)
	extract      func(answer string) (string, bool)
}

func (t genTask) Name() string   { return t.name }
func (t genTask) Domain() string { return t.domain }
func (t genTask) Unseen() bool   { return t.unseen }

func (t genTask) Example(rng *rand.Rand) Example {
	in, out, sol := t.gen(rng)
	return Example{Input: in, Output: out, Solution: sol, Task: t.name, Domain: t.domain}
}

func (t genTask) Extract(answer string) (string, bool) { return t.extract(answer) }

func (t genTask) Check(ex Example, answer string) bool {
	return check(t.extract, ex.Output, answer)
}

// check compares the extractions of the reference and of the answer.
func check(extract func(string) (string, bool), want, answer string) bool {
	w, ok := extract(want)
	if !ok {
		return false
	}
	got, ok := extract(answer)
	return ok && got == w
}

// Split is one of the three disjoint parts of a task's items.
type Split int

const (
	Train      Split = iota // 80 % of items
	Validation              // 10 %
	Test                    // 10 %
)

func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Validation:
		return "validation"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// ParseSplit returns the split called name (train, validation or test).
func ParseSplit(name string) (Split, error) {
	for _, s := range []Split{Train, Validation, Test} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("tasks: unknown split %q (known: train, validation, test)", name)
}

// splitKeyer is a task whose items belong to the split of something other than their
// Input: cls items take the split of the question they wrap.
type splitKeyer interface {
	splitKey(ex Example) string
}

// SplitOf returns the split ex belongs to: a hash of its question decides, so an item is in
// one split whatever the seed that drew it.
func SplitOf(t Task, ex Example) Split {
	key := ex.Input
	if k, ok := t.(splitKeyer); ok {
		key = k.splitKey(ex)
	}
	h := fnv.New64a()
	io.WriteString(h, key)
	switch mix(h.Sum64()) % 10 {
	case 8:
		return Validation
	case 9:
		return Test
	}
	return Train
}

// mix is splitmix64's finaliser, so that every bit of the hash reaches the low ones.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// ErrFewItems is wrapped by Sample's error when a task has fewer distinct items in a split
// than asked; the items it found come with it.
var ErrFewItems = errors.New("fewer items than asked")

// maxMisses bounds the draws in a row that Sample spends without finding a new item.
const maxMisses = 100_000

// Sample draws n distinct items of t's split, in an order fixed by seed (and t's name, so
// that tasks drawn with one seed are independent).
func Sample(t Task, split Split, seed uint64, n int) ([]Example, error) {
	h := fnv.New64a()
	io.WriteString(h, t.Name())
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	out := make([]Example, 0, n)
	seen := make(map[string]bool, n)
	for misses := 0; len(out) < n; {
		ex := t.Example(rng)
		if seen[ex.Input] || SplitOf(t, ex) != split {
			if misses++; misses == maxMisses {
				return out, fmt.Errorf("tasks: %s: %w: found only %d distinct %s items of %d asked", t.Name(), ErrFewItems, len(out), split, n)
			}
			continue
		}
		misses = 0
		seen[ex.Input] = true
		out = append(out, ex)
	}
	return out, nil
}

// WriteJSONL writes examples in the few-shot format of ARCHITECTURE.md §3, one
// {"input": …, "output": …} object per line.
func WriteJSONL(w io.Writer, examples []Example) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, ex := range examples {
		row := struct {
			Input  string `json:"input"`
			Output string `json:"output"`
		}{ex.Input, ex.Output}
		if err := enc.Encode(row); err != nil {
			return err
		}
	}
	return nil
}
