package svf

import (
	"math"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf/tasks"
)

// EvalItem is one answered example.
type EvalItem struct {
	Input     string `json:"input"`
	Reference string `json:"reference"`
	Answer    string `json:"answer"`
	Correct   bool   `json:"correct"`
}

// EvalResult is the accuracy of a model on a set of examples, with every item.
type EvalResult struct {
	N       int        `json:"n"`
	Correct int        `json:"correct"`
	Items   []EvalItem `json:"items"`
}

// Accuracy is Correct/N.
func (r *EvalResult) Accuracy() float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.Correct) / float64(r.N)
}

// Wilson returns the 95 % Wilson score interval of a proportion of correct out of n.
func Wilson(correct, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p, nf := float64(correct)/float64(n), float64(n)
	center := (p + z*z/(2*nf)) / (1 + z*z/nf)
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / (1 + z*z/nf)
	return max(0, center-half), min(1, center+half)
}

// Prompt is the token ids the model answers an example's question from: the question as
// a user turn of the chat template when the model has one, else the text itself.
func Prompt(m *model.Model, question string) ([]int, error) {
	return m.Prompt(question, m.Chat != nil)
}

// Evaluate answers every example greedily with e, which runs m's weights with whatever
// z they hold, up to maxTokens tokens, and checks each answer with check. Examples are
// answered e.MaxSeqs() at a time in one batch.
func Evaluate(m *model.Model, e model.Engine, examples []tasks.Example, check func(tasks.Example, string) bool, maxTokens int) (*EvalResult, error) {
	res := &EvalResult{N: len(examples)}
	for lo := 0; lo < len(examples); lo += e.MaxSeqs() {
		chunk := examples[lo:min(lo+e.MaxSeqs(), len(examples))]
		prompts := make([][]int, len(chunk))
		samplers := make([]*model.Sampler, len(chunk))
		for i, ex := range chunk {
			var err error
			if prompts[i], err = Prompt(m, ex.Input); err != nil {
				return nil, err
			}
			samplers[i] = model.Greedy()
		}
		outs, _, err := model.GenerateBatch(e, prompts, samplers, maxTokens, m.EOS)
		if err != nil {
			return nil, err
		}
		for i, ex := range chunk {
			answer := m.Tokenizer.Decode(outs[i], true)
			ok := check(ex, answer)
			if ok {
				res.Correct++
			}
			res.Items = append(res.Items, EvalItem{Input: ex.Input, Reference: ex.Output, Answer: answer, Correct: ok})
		}
	}
	return res, nil
}
