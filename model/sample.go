package model

import (
	"math"
	"math/rand/v2"
	"slices"
)

// SamplerParams choose how the next token is drawn from a row of logits. They follow
// Hugging Face's generate: repetition penalty, then temperature, top-k, top-p.
type SamplerParams struct {
	Temperature   float32 // 0: greedy (argmax, ties to the lowest id)
	TopK          int     // keep the k most likely tokens; 0: all
	TopP          float32 // keep the smallest set whose probability reaches p; 0 or 1: all
	RepeatPenalty float32 // divide positive (multiply negative) logits of seen tokens; 0 or 1: off
	RepeatLastN   int     // how many recent tokens the penalty sees; 0: all
	Seed          uint64  // seeds the random draws
}

// Sampler draws tokens with fixed parameters and a seeded random stream, remembering
// the tokens it has accepted for the repetition penalty.
type Sampler struct {
	p       SamplerParams
	rng     *rand.Rand
	history []int
	scratch []float32
	order   []int
	probs   []float64
	blocks  []float32 // [ceil(V/16)] block maxima of the logits (Kernels.BlockMax)
}

// NewSampler makes a sampler; the same params and seed give the same tokens.
func NewSampler(p SamplerParams) *Sampler {
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x7432776562))}
}

// Greedy is a sampler that always takes the most likely token.
func Greedy() *Sampler { return NewSampler(SamplerParams{}) }

// Params returns the sampler's parameters (a GPU engine samples on the device with them).
func (s *Sampler) Params() SamplerParams { return s.p }

// History returns the tokens the repetition penalty sees.
func (s *Sampler) History() []int {
	if n := s.p.RepeatLastN; n > 0 && len(s.history) > n {
		return s.history[len(s.history)-n:]
	}
	return s.history
}

// Uniform draws the sampler's next random number in [0, 1), the one Sample would use
// for its draw: an engine that samples on a device takes it from here, so both engines
// draw the same tokens for the same seed.
func (s *Sampler) Uniform() float64 { return s.rng.Float64() }

// Accept records a token of the prompt or of the output.
func (s *Sampler) Accept(id int) { s.history = append(s.history, id) }

// Sample draws a token from logits[V]; logits is not modified.
func (s *Sampler) Sample(logits []float32) int { return s.sample(GoKernels{}, logits) }

// sample is Sample with k's BlockMax: greedy decoding and top-k selection look into a
// block of 16 logits only when its maximum can change the answer (the same answer).
func (s *Sampler) sample(k Kernels, logits []float32) int {
	if pen := s.p.RepeatPenalty; pen > 0 && pen != 1 && len(s.history) > 0 {
		s.scratch = append(s.scratch[:0], logits...)
		for _, id := range s.History() {
			if id < 0 || id >= len(s.scratch) {
				continue
			}
			if v := logits[id]; v > 0 {
				s.scratch[id] = v / pen
			} else {
				s.scratch[id] = v * pen
			}
		}
		logits = s.scratch
	}
	nb := (len(logits) + MaxBlock - 1) / MaxBlock
	if cap(s.blocks) < nb {
		s.blocks = make([]float32, nb)
	}
	s.blocks = s.blocks[:nb]
	k.BlockMax(s.blocks, logits)
	if s.p.Temperature <= 0 {
		return argmaxBlocks(logits, s.blocks)
	}
	// Candidates by logit, descending; ties keep the lower id first. With top-k, only
	// the k best are selected (a heap, one comparison for most tokens) and sorted: the
	// same candidates in the same order as a full sort, without sorting V logits.
	if k := s.p.TopK; k > 0 && k < len(logits) {
		s.order = topK(s.order[:0], logits, s.blocks, k)
	} else {
		s.order = s.order[:0]
		for i := range logits {
			s.order = append(s.order, i)
		}
		slices.SortStableFunc(s.order, func(a, b int) int { return byLogit(logits, a, b) })
	}
	n := len(s.order)
	if k := s.p.TopK; k > 0 && k < n {
		n = k
	}
	// Softmax of logit/T over the kept candidates, in float64.
	s.probs = s.probs[:0]
	top := float64(logits[s.order[0]])
	var sum float64
	for _, id := range s.order[:n] {
		p := math.Exp((float64(logits[id]) - top) / float64(s.p.Temperature))
		s.probs = append(s.probs, p)
		sum += p
	}
	if tp := float64(s.p.TopP); tp > 0 && tp < 1 {
		var cum float64
		for i, p := range s.probs {
			cum += p / sum
			if cum >= tp {
				n = i + 1
				break
			}
		}
		sum = 0
		for _, p := range s.probs[:n] {
			sum += p
		}
	}
	r := s.Uniform() * sum
	for i, p := range s.probs[:n] {
		r -= p
		if r < 0 {
			return s.order[i]
		}
	}
	return s.order[n-1]
}

// byLogit orders candidates a and b: the higher logit first, the lower id among ties.
func byLogit(logits []float32, a, b int) int {
	switch {
	case logits[a] > logits[b]:
		return -1
	case logits[a] < logits[b]:
		return 1
	}
	return a - b
}

// topK appends to order the k best ids of logits (0 < k < len(logits)) in byLogit order.
// order[:k] is kept as a heap whose root is the worst of the k; a later id replaces it
// only with a strictly higher logit (an equal logit with a higher id is worse), so a
// block whose maximum (blocks, BlockMax's) is not above the root's logit is skipped.
func topK(order []int, logits, blocks []float32, k int) []int {
	h := order
	for i := range k {
		h = append(h, i)
	}
	worse := func(a, b int) bool { return byLogit(logits, a, b) > 0 }
	down := func(i int) {
		for {
			l, w := 2*i+1, i
			if l < k && worse(h[l], h[w]) {
				w = l
			}
			if r := l + 1; r < k && worse(h[r], h[w]) {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	thr := logits[h[0]]
	for b := k / MaxBlock; b < len(blocks); b++ {
		if blocks[b] <= thr {
			continue
		}
		for i := max(k, b*MaxBlock); i < min((b+1)*MaxBlock, len(logits)); i++ {
			if v := logits[i]; v > thr {
				h[0] = i
				down(0)
				thr = logits[h[0]]
			}
		}
	}
	slices.SortFunc(h, func(a, b int) int { return byLogit(logits, a, b) })
	return h
}

// argmaxBlocks is Argmax(x) given the maxima of its blocks of 16: the first block that
// holds the maximum, then the first index there that does.
func argmaxBlocks(x, blocks []float32) int {
	best := 0
	for b, m := range blocks {
		if m > blocks[best] {
			best = b
		}
	}
	i := best * MaxBlock
	for j := i; j < min(i+MaxBlock, len(x)); j++ {
		if x[j] > x[i] {
			i = j
		}
	}
	return i
}

// Argmax is the index of the largest value, the lowest index among ties.
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
