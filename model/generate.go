package model

import (
	"context"
	"fmt"
	"slices"
)

// Generate runs prompt through sequence 0 of e and then draws up to maxTokens tokens
// with s, one forward pass each, calling emit (when not nil) with every new token. A
// token in stop ends the generation and is neither emitted nor returned. It returns the
// generated tokens. Generation also ends when the context is full, and when ctx is
// cancelled: after the token under way, returning the tokens so far with ctx.Err().
func Generate(ctx context.Context, e Engine, prompt []int, s *Sampler, maxTokens int, stop []int, emit func(id int)) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(prompt) == 0 {
		return nil, fmt.Errorf("model: generate: empty prompt")
	}
	if len(prompt) >= e.Context() {
		return nil, fmt.Errorf("model: generate: the prompt has %d tokens, the context holds %d", len(prompt), e.Context())
	}
	e.Clear(0)
	var b Batch
	for i, id := range prompt {
		s.Accept(id)
		b.Add(id, i, 0, i == len(prompt)-1)
	}
	if err := e.Forward(&b); err != nil {
		return nil, err
	}
	var out []int
	for pos := len(prompt); len(out) < maxTokens; pos++ {
		id, err := e.Sample(0, s)
		if err != nil {
			return out, err
		}
		if slices.Contains(stop, id) {
			break
		}
		s.Accept(id)
		out = append(out, id)
		if emit != nil {
			emit(id)
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if len(out) == maxTokens || pos >= e.Context() {
			break
		}
		b.Reset()
		b.Add(id, pos, 0, true)
		if err := e.Forward(&b); err != nil {
			return out, err
		}
	}
	return out, nil
}

// GenerateBatch continues several prompts at once, prompt i in sequence slot i of e
// (len(prompts) ≤ e.MaxSeqs()), drawing with samplers[i]: one forward pass prefills
// them all, then each step decodes one token for every sequence still running, so the
// weights are read once per step for the whole batch. Each sequence ends at a stop
// token (not among the generated tokens; ends[i] is the stop token that ended prompt i,
// −1 for none), after maxTokens, or when its context is full. It returns the generated
// tokens of each prompt.
func GenerateBatch(e Engine, prompts [][]int, samplers []*Sampler, maxTokens int, stop []int) (out [][]int, ends []int, err error) {
	return GenerateCandidates(e, prompts, nil, samplers, maxTokens, stop)
}

// GenerateCandidates is GenerateBatch across a population (Engine.SetPopulation):
// prompt i runs under candidate cands[i], every row of its prefill and decode tagged
// with it, so many experts answer many prompts in the same forward passes. With greedy
// samplers this scores a CEM population by batched greedy generation. cands nil runs
// every prompt under the engine's current z (GenerateBatch).
func GenerateCandidates(e Engine, prompts [][]int, cands []int, samplers []*Sampler, maxTokens int, stop []int) (out [][]int, ends []int, err error) {
	if cands != nil && len(cands) != len(prompts) {
		return nil, nil, fmt.Errorf("model: generate: %d prompts but %d candidates", len(prompts), len(cands))
	}
	add := func(b *Batch, id, pos, seq int, logits bool) {
		if cands == nil {
			b.Add(id, pos, seq, logits)
		} else {
			b.AddCand(id, pos, seq, cands[seq], logits)
		}
	}
	if len(prompts) > e.MaxSeqs() {
		return nil, nil, fmt.Errorf("model: generate: %d prompts, the engine holds %d sequences", len(prompts), e.MaxSeqs())
	}
	if len(samplers) != len(prompts) {
		return nil, nil, fmt.Errorf("model: generate: %d prompts but %d samplers", len(prompts), len(samplers))
	}
	var b Batch
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, nil, fmt.Errorf("model: generate: prompt %d is empty", i)
		}
		if len(p) >= e.Context() {
			return nil, nil, fmt.Errorf("model: generate: prompt %d has %d tokens, the context holds %d", i, len(p), e.Context())
		}
		e.Clear(i)
		for j, id := range p {
			samplers[i].Accept(id)
			add(&b, id, j, i, j == len(p)-1)
		}
	}
	out, ends = make([][]int, len(prompts)), make([]int, len(prompts))
	for i := range ends {
		ends[i] = -1
	}
	if len(prompts) == 0 || maxTokens <= 0 {
		return out, ends, nil
	}
	if err := e.Forward(&b); err != nil {
		return nil, nil, err
	}
	active := make([]int, len(prompts)) // output row r of the last forward is sequence active[r]
	for i := range active {
		active[i] = i
	}
	for len(active) > 0 {
		var next []int
		b.Reset()
		for r, seq := range active {
			id, err := e.Sample(r, samplers[seq])
			if err != nil {
				return out, ends, err
			}
			if slices.Contains(stop, id) {
				ends[seq] = id
				continue
			}
			samplers[seq].Accept(id)
			out[seq] = append(out[seq], id)
			pos := len(prompts[seq]) + len(out[seq]) - 1
			if len(out[seq]) == maxTokens || pos >= e.Context() {
				continue
			}
			add(&b, id, pos, seq, true)
			next = append(next, seq)
		}
		active = next
		if len(active) == 0 {
			break
		}
		if err := e.Forward(&b); err != nil {
			return out, ends, err
		}
	}
	return out, ends, nil
}
