package model

import (
	"fmt"
	"slices"
)

// Generate runs prompt through sequence 0 of e and then draws up to maxTokens tokens
// with s, one forward pass each, calling emit with every new token (emit returns false
// to stop). A token in stop ends the generation and is neither emitted nor returned.
// It returns the generated tokens. Generation also ends when the context is full.
func Generate(e Engine, prompt []int, s *Sampler, maxTokens int, stop []int, emit func(id int) bool) ([]int, error) {
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
		if emit != nil && !emit(id) {
			break
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
