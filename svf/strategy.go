package svf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/chat"
	"github.com/t2web/t2web/svf/tasks"
)

// The first pass of Transformer² (ARCHITECTURE.md §1) chooses the z the second pass
// answers with. Every strategy returns a Choice: the z, the evidence it was chosen on and
// the time it took.

// Strategy is a first pass.
type Strategy interface {
	// Name is how users pick it: none, prompt, cls-expert or few-shot.
	Name() string
	// Choose picks the z for question. It may run the engine and change its z; the
	// second pass sets Choice.Z before answering.
	Choose(question string) (*Choice, error)
}

// Choice is what a first pass decided and why.
type Choice struct {
	Strategy string               `json:"strategy"`
	Expert   string               `json:"expert"` // the expert or mixture chosen; "base" for the base weights
	Z        map[string][]float32 `json:"-"`      // nil: the base weights
	// Labels are the label scores of prompt and cls-expert, best first.
	Labels []LabelScore `json:"labels,omitempty"`
	// Generated is the first pass's own answer in the generated-label variant.
	Generated string `json:"generated,omitempty"`
	// Alpha and Experts describe a few-shot mixture: Alpha[k] weighs Experts[k] (one
	// number, or one per layer).
	Experts []string    `json:"experts,omitempty"`
	Alpha   [][]float64 `json:"alpha,omitempty"`
	// CEM is the few-shot search, with its convergence history.
	CEM *CEMResult `json:"cem,omitempty"`
	// OnExamples is the greedy accuracy of the base weights and of the mixture on the
	// few-shot examples themselves, when the adaptation measured it.
	OnExamples *ExampleAccuracy `json:"on_examples,omitempty"`
	// Picked says what few-shot adaptation kept instead of the fitted mixture
	// (FewShotOptions.PickBest): an expert's name (Z is that expert's, Alpha one-hot),
	// PickedBase (Z = 1, Alpha 0), or "" for the mixture.
	Picked  string        `json:"picked,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// ExampleAccuracy is how many of N few-shot examples the base weights and the adapted
// mixture answer right, greedily (the examples' own check).
type ExampleAccuracy struct {
	N       int `json:"n"`
	Base    int `json:"base"`    // the base weights
	Mixture int `json:"mixture"` // the mixture CEM fitted
	Adapted int `json:"adapted"` // the result (Choice.Picked)
}

// LabelScore is the evidence for one label of the classification prompt.
type LabelScore struct {
	Label  string  `json:"label"`
	Expert string  `json:"expert"` // the expert the label dispatches to, "" for other
	LogP   float64 `json:"logp"`   // log-likelihood of the label and the end of the turn
	Tokens int     `json:"tokens"` // tokens scored
}

// NoStrategy answers with the base weights.
type NoStrategy struct{}

func (NoStrategy) Name() string { return "none" }

func (NoStrategy) Choose(string) (*Choice, error) {
	return &Choice{Strategy: "none", Expert: "base"}, nil
}

// Dispatch is the prompt strategy and, with a classification expert, cls-expert: the
// model is asked which domain the question belongs to (tasks.ClassificationPrompt) and
// the domain's expert answers; "other" is the base weights.
type Dispatch struct {
	m *model.Model
	e model.Engine
	// labels are the experts' domains, sorted, then tasks.Other; experts[i] serves labels[i]
	// (nil for Other).
	labels  []string
	experts []*Expert
	cls     *Expert // applied during the first pass; nil for the prompt strategy
	// Generate picks the label from a greedy answer of at most GenerateTokens tokens
	// (the reference implementation's way) instead of scoring every label.
	Generate       bool
	GenerateTokens int
	prefix         *PrefixCache // see KeepPrefix; nil: none
}

// PrefixCache is the last classification prompt kept in the last sequence of an engine
// between first passes (Dispatch.KeepPrefix): its keys and values, and what they were
// computed from. Each question's prompt begins the same way — the chat template's
// opening and "Classify this question as …:", 17 of the demo's 65 or so tokens — and
// keys and values depend only on the tokens before them and the weights, so the next
// first pass copies the tokens the two prompts share instead of computing them.
// The zero value holds nothing.
type PrefixCache struct {
	tokens []int                // the prompt held; nil: nothing
	z      map[string][]float32 // the first pass's z it ran with (nil: base weights)
	e      model.Engine         // the engine it ran on; its last sequence holds it
}

// Reset forgets what the sequence holds. Whoever owns the engine calls it when anything
// else may write the sequence (a population search, another model).
func (c *PrefixCache) Reset() { c.tokens, c.z, c.e = nil, nil, nil }

// KeepPrefix makes the first pass keep its prompt in c (see PrefixCache), in the
// engine's last sequence, and start from what c holds: the same answers, bit for bit on
// the CPU engine, for less work. It reports false, and keeps nothing, when the labels
// need every sequence of the engine.
func (d *Dispatch) KeepPrefix(c *PrefixCache) bool {
	if d.e.MaxSeqs() <= len(d.labels) {
		return false
	}
	d.prefix = c
	return true
}

// NewDispatch returns the prompt strategy over the pack's domain experts (every expert
// with a Domain other than cls; one per domain, the first listed), or with cls set, the
// cls-expert strategy that applies cls during the first pass. e needs a sequence per
// label.
func NewDispatch(m *model.Model, e model.Engine, experts []*Expert, cls *Expert) (*Dispatch, error) {
	byDomain := map[string]*Expert{}
	for _, x := range experts {
		if x.Domain == "" || x.Domain == tasks.Cls || x.Domain == tasks.Other || byDomain[x.Domain] != nil {
			continue
		}
		byDomain[x.Domain] = x
	}
	if len(byDomain) == 0 {
		return nil, fmt.Errorf("svf: dispatch: no expert has a domain for the first pass to choose (give one a domain when it is trained, e.g. t2 train-expert --domain math, or answer with one expert)")
	}
	d := &Dispatch{m: m, e: e, cls: cls, GenerateTokens: 16}
	for domain := range byDomain {
		d.labels = append(d.labels, domain)
	}
	slices.Sort(d.labels)
	for _, l := range d.labels {
		d.experts = append(d.experts, byDomain[l])
	}
	d.labels, d.experts = append(d.labels, tasks.Other), append(d.experts, nil)
	if n := len(d.labels); e.MaxSeqs() < n {
		return nil, fmt.Errorf("svf: dispatch: the engine holds %d sequences, the %d labels need %d", e.MaxSeqs(), n, n)
	}
	return d, nil
}

// ClsExpert returns the first of experts whose domain is cls, the expert T²-cls-expert's
// first pass applies; nil when none is.
func ClsExpert(experts []*Expert) *Expert {
	for _, x := range experts {
		if x.Domain == tasks.Cls {
			return x
		}
	}
	return nil
}

// Labels are the labels of the classification prompt, in its order.
func (d *Dispatch) Labels() []string { return slices.Clone(d.labels) }

func (d *Dispatch) Name() string {
	if d.cls != nil {
		return "cls-expert"
	}
	return "prompt"
}

// Choose asks the classification question and returns the expert of the likeliest label.
func (d *Dispatch) Choose(question string) (*Choice, error) {
	start := time.Now()
	// The first pass runs as a population of one: the engine's weights (and its current
	// z, which the second pass may keep) are left as they are, and no matrix is
	// recomposed for it.
	var z map[string][]float32
	if d.cls != nil {
		z = d.cls.Z
		// Every question runs the classification expert: an engine that can holds its
		// matrices merged, as the base model's are (made on the first question only).
		if k, ok := d.e.(model.KeepsMerged); ok {
			if err := k.KeepMerged(z); err != nil {
				return nil, err
			}
		}
	}
	if err := d.e.SetPopulation([]map[string][]float32{z}); err != nil {
		return nil, err
	}
	defer d.e.SetPopulation(nil)
	question = tasks.ClassificationPrompt(question, d.labels)
	prompt, err := Prompt(d.m, question)
	if err != nil {
		return nil, err
	}
	c := &Choice{Strategy: d.Name()}
	best := -1
	if d.Generate {
		d.e.Clear(0)
		out, _, err := model.GenerateCandidates(d.e, [][]int{prompt}, []int{0}, []*model.Sampler{model.Greedy()}, d.GenerateTokens, d.m.EOS)
		if err != nil {
			return nil, err
		}
		c.Generated = d.m.Tokenizer.Decode(out[0], true)
		if label, ok := tasks.ExtractLabel(c.Generated, d.labels); ok {
			best = slices.Index(d.labels, label)
		} else {
			best = len(d.labels) - 1 // no label, or two: other, as the reference does
		}
	} else {
		if c.Labels, err = d.score(question, prompt, z); err != nil {
			return nil, err
		}
		for i, l := range c.Labels {
			if best < 0 || l.LogP > c.Labels[best].LogP {
				best = i
			}
		}
		best = slices.Index(d.labels, c.Labels[best].Label)
		slices.SortStableFunc(c.Labels, func(a, b LabelScore) int {
			switch {
			case a.LogP > b.LogP:
				return -1
			case a.LogP < b.LogP:
				return 1
			}
			return 0
		})
	}
	c.Expert = "base"
	if x := d.experts[best]; x != nil {
		c.Expert, c.Z = x.Name, x.Z
	}
	c.Elapsed = time.Since(start)
	return c, nil
}

// score returns the log-likelihood of every label's answer after prompt, under the first
// pass's z. The prompt but its last token runs once, in sequence 0 (from where the kept
// prompt stops sharing it, see PrefixCache), without logits; sequence 0 is then forked
// into one sequence per label, and one batched forward pass runs, in each label's
// sequence, the prompt's last token and the label's answer. So a first pass waits for
// its logits once: on WebGPU each wait is a readback and the GPU's queue drained.
func (d *Dispatch) score(question string, prompt []int, z map[string][]float32) ([]LabelScore, error) {
	answers := make([][]int, len(d.labels))
	for i, label := range d.labels {
		ans, err := AnswerTokens(d.m, question, prompt, label)
		if err != nil {
			return nil, err
		}
		answers[i] = ans
		d.e.Clear(i)
	}
	defer func() {
		for i := range d.labels {
			d.e.Clear(i)
		}
	}()
	// The prompt but its last token. The tokens it shares with the kept prompt are
	// copied from there.
	last := len(prompt) - 1
	from := 0
	if c := d.prefix; c != nil && c.tokens != nil && c.e == d.e && model.SameZ(c.z, z) {
		for from < last && from < len(c.tokens) && c.tokens[from] == prompt[from] {
			from++
		}
		if from > 0 {
			if err := d.e.Fork(0, d.e.MaxSeqs()-1); err != nil {
				return nil, err
			}
		}
	}
	if c := d.prefix; c != nil {
		c.Reset() // until the sequence holds this prompt
	}
	if from < last {
		var b model.Batch
		for pos := from; pos < last; pos++ {
			b.AddCand(prompt[pos], pos, 0, 0, false)
		}
		if err := d.e.Forward(&b); err != nil {
			return nil, err
		}
	}
	if c := d.prefix; c != nil {
		if err := d.e.Fork(d.e.MaxSeqs()-1, 0); err != nil {
			return nil, err
		}
		c.tokens, c.z, c.e = slices.Clone(prompt[:last]), z, d.e
	}
	// Each label in its copy of the prompt: the prompt's last token, whose logits score
	// the answer's first token, then the answer's tokens but the last.
	var b model.Batch
	for i, ans := range answers {
		if i > 0 {
			if err := d.e.Fork(i, 0); err != nil {
				return nil, err
			}
		}
		b.AddCand(prompt[last], last, i, 0, true)
		for j, id := range ans[:len(ans)-1] {
			b.AddCand(id, last+1+j, i, 0, true)
		}
	}
	if err := d.e.Forward(&b); err != nil {
		return nil, err
	}
	logits := make([]float32, d.m.Config.VocabSize)
	out := make([]LabelScore, len(d.labels))
	row := 0
	for i, ans := range answers {
		name := ""
		if d.experts[i] != nil {
			name = d.experts[i].Name
		}
		lp, err := sumLogP(d.e, logits, row, ans, 0)
		if err != nil {
			return nil, err
		}
		out[i] = LabelScore{Label: d.labels[i], Expert: name, LogP: lp, Tokens: len(ans)}
		row += len(ans)
	}
	return out, nil
}

// AnswerTokens returns the tokens the model writes when it answers text to the user turn
// question whose prompt is prompt: with a chat template, what the rendered conversation
// adds to the prompt, up to and with the first end-of-generation token, so the end of the
// turn is scored too ("math" must not be the start of "mathematics"); without a template,
// or one whose answer does not extend its prompt, text's tokens alone.
func AnswerTokens(m *model.Model, question string, prompt []int, text string) ([]int, error) {
	plain := m.Tokenizer.Encode(text, false)
	if m.Chat == nil {
		return plain, nil
	}
	full, err := m.Chat.Render([]chat.Message{{Role: "user", Content: question}, {Role: "assistant", Content: text}}, false)
	if err != nil {
		return nil, err
	}
	ids := m.Tokenizer.Encode(full, false)
	if len(ids) <= len(prompt) || !slices.Equal(ids[:len(prompt)], prompt) {
		return plain, nil
	}
	ans := ids[len(prompt):]
	for i, id := range ans {
		if slices.Contains(m.EOS, id) {
			return ans[:i+1], nil
		}
	}
	return ans, nil
}

// addScored adds prompt then answer to sequence seq of b, asking for the logits of the rows
// that predict each answer token: the last prompt row and every answer row but the last.
// cand < 0 adds plain rows, else rows of that candidate.
func addScored(b *model.Batch, prompt, answer []int, seq, cand int) {
	ids := append(slices.Clone(prompt), answer...)
	for pos, id := range ids[:len(ids)-1] {
		want := pos >= len(prompt)-1
		if cand < 0 {
			b.Add(id, pos, seq, want)
		} else {
			b.AddCand(id, pos, seq, cand, want)
		}
	}
}

// sumLogP adds log p(answer[j]) over the output rows first … first+len(answer)−1 of the
// last Forward to sum, term by term in the order of the tokens, logits being scratch of
// the vocabulary's size.
func sumLogP(e model.Engine, logits []float32, first int, answer []int, sum float64) (float64, error) {
	for j, id := range answer {
		if err := e.Logits(logits, first+j); err != nil {
			return 0, err
		}
		sum += logSoftmaxAt(logits, id)
	}
	return sum, nil
}

// logSoftmaxAt returns log softmax(logits)[id], in float64.
func logSoftmaxAt(logits []float32, id int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return float64(logits[id]) - mx - math.Log(s)
}

// layerOf returns the layer index of an adapted matrix name ("model.layers.3.mlp.up_proj"),
// −1 when it has none.
func layerOf(matrix string) int {
	const key = "layers."
	i := strings.Index(matrix, key)
	if i < 0 {
		return -1
	}
	rest := matrix[i+len(key):]
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		rest = rest[:j]
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return -1
	}
	return n
}
