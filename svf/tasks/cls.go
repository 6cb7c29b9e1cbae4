package tasks

import (
	"math/rand/v2"
	"strings"
)

// Other is the label of a question that belongs to no expert: the first pass answers it
// with the base weights.
const Other = "other"

// Labels returns the labels of the first pass: the three training domains, then Other.
func Labels() []string { return []string{"code", "math", "reasoning", Other} }

// ClassificationPrompt is the question the first pass of Transformer² puts to the model
// (ARCHITECTURE.md §1): which of labels the question belongs to. The expected answer is
// the label alone ("math"); ExtractLabel also reads the reference implementation's
// "Classification: \boxed{math}". The prompt is the reference's system prompt cut to one
// line, so that a small model's context holds it:
//
//	Classify this question as code, math, reasoning or other:
//	Ann has 7 pens. Ann buys 5, then loses 3. How many pens does Ann have now?
func ClassificationPrompt(question string, labels []string) string {
	return "Classify this question as " + orList(labels) + ":\n" + question
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// clsTask is the classification task: the ClassificationPrompt of a question of a training
// task (math, code or reasoning, equally often), answered by the question's domain.
// Its items belong to the split of the question they wrap, so a test question is never a
// training classification item.
type clsTask struct{}

func (clsTask) Name() string   { return Cls }
func (clsTask) Domain() string { return Cls }
func (clsTask) Unseen() bool   { return false }

func (clsTask) Example(rng *rand.Rand) Example {
	from := [...]Task{mathTask(), codeTask(), reasoningTask()}[rng.IntN(3)]
	q := from.Example(rng)
	return Example{Input: ClassificationPrompt(q.Input, Labels()), Output: q.Domain, Task: Cls, Domain: q.Domain}
}

func (clsTask) Extract(answer string) (string, bool) { return ExtractLabel(answer, Labels()) }

func (t clsTask) Check(ex Example, answer string) bool { return check(t.Extract, ex.Output, answer) }

// splitKey is the wrapped question: what follows the prompt's first line.
func (clsTask) splitKey(ex Example) string {
	_, q, _ := strings.Cut(ex.Input, "\n")
	return q
}
