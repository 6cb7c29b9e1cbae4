package model

import (
	"fmt"
	"slices"
)

// Batch is a set of tokens run through the model in one forward pass, in the manner of
// llama.cpp's llama_batch: every row names the sequence (a KV-cache slot) it belongs to
// and its position there, so one batch can prefill a prompt, decode one token for each
// of many sequences, or score a whole population of candidates at once.
//
// Cand is empty when every row runs the weights of the engine's current z (SetZ); a
// population batch (rows added with AddCand) names for every row the candidate of the
// engine's population (SetPopulation) whose z its adapted matrices use, so one forward
// pass runs many experts side by side (ARCHITECTURE §2). A batch is one or the other.
type Batch struct {
	Tokens []int  // [T] token ids
	Pos    []int  // [T] position of each token within its sequence
	Seq    []int  // [T] sequence (KV-cache slot) of each token, 0 ≤ Seq < MaxSeqs
	Logits []bool // [T] whether this row produces an output row of logits
	Cand   []int  // [T] candidate of each row, 0 ≤ Cand < P; empty: the current z
}

// Add appends one row, under the engine's current z, to the batch.
func (b *Batch) Add(token, pos, seq int, logits bool) {
	b.Tokens = append(b.Tokens, token)
	b.Pos = append(b.Pos, pos)
	b.Seq = append(b.Seq, seq)
	b.Logits = append(b.Logits, logits)
}

// AddCand appends one row run under candidate cand of the engine's population.
func (b *Batch) AddCand(token, pos, seq, cand int, logits bool) {
	b.Add(token, pos, seq, logits)
	b.Cand = append(b.Cand, cand)
}

// Len is the number of rows of the batch.
func (b *Batch) Len() int { return len(b.Tokens) }

// Reset empties the batch, keeping its storage.
func (b *Batch) Reset() {
	b.Tokens, b.Pos, b.Seq, b.Logits, b.Cand = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0], b.Cand[:0]
}

// Check validates the batch for an engine of vocabulary vocab whose sequence s has
// lens[s] positions cached, of at most context, holding a population of pop candidates:
// tokens in the vocabulary, sequences, positions and candidates in range, and no gap in
// a sequence. It returns the number of output rows. Every engine checks a batch this way
// before running it.
func (b *Batch) Check(vocab, context int, lens []int, pop int) (int, error) {
	n := len(b.Tokens)
	if n == 0 {
		return 0, fmt.Errorf("model: empty batch")
	}
	if len(b.Pos) != n || len(b.Seq) != n || len(b.Logits) != n {
		return 0, fmt.Errorf("model: batch columns differ in length: tokens %d pos %d seq %d logits %d",
			n, len(b.Pos), len(b.Seq), len(b.Logits))
	}
	if len(b.Cand) != 0 {
		if len(b.Cand) != n {
			return 0, fmt.Errorf("model: batch has %d rows but %d candidates: either every row names a candidate (AddCand) or none does", n, len(b.Cand))
		}
		if pop == 0 {
			return 0, fmt.Errorf("model: batch rows name candidates but the engine holds no population (SetPopulation)")
		}
		for i, c := range b.Cand {
			if c < 0 || c >= pop {
				return 0, fmt.Errorf("model: batch row %d: candidate %d outside the population [0, %d)", i, c, pop)
			}
		}
	}
	length := slices.Clone(lens)
	out := 0
	for i, tok := range b.Tokens {
		seq, pos := b.Seq[i], b.Pos[i]
		switch {
		case tok < 0 || tok >= vocab:
			return 0, fmt.Errorf("model: batch row %d: token %d outside the vocabulary [0, %d)", i, tok, vocab)
		case seq < 0 || seq >= len(lens):
			return 0, fmt.Errorf("model: batch row %d: sequence %d outside [0, %d)", i, seq, len(lens))
		case pos < 0 || pos >= context:
			return 0, fmt.Errorf("model: batch row %d: position %d outside the context [0, %d)", i, pos, context)
		case pos > length[seq]:
			return 0, fmt.Errorf("model: batch row %d: position %d leaves a gap after the %d cached positions of sequence %d", i, pos, length[seq], seq)
		}
		length[seq] = pos + 1
		if b.Logits[i] {
			out++
		}
	}
	return out, nil
}

// ScoringCoster is an engine that can tell which way of scoring a population of z on
// the same rows costs less: batched, the whole population in the same forward passes
// (SetPopulation; each adapted matrix applied factored, (M+N)·R multiply-adds a row), or
// sequential, one candidate after another (SetZ recomposes W', M·N·R, then M·N a row).
// Engines without it score batched.
type ScoringCoster interface {
	// ScoringCost returns the multiply-adds of the adapted matrices for P candidates of
	// rows rows each, batched and sequential, and whether sequential scoring gives the
	// batched scores (false where SetZ quantises W' and population rows do not).
	ScoringCost(P, rows int) (batched, sequential float64, same bool)
}

// KeepsMerged is an engine whose adapted matrices can hold one more z merged for
// population batches (Weights.KeepMerged): a first pass that runs the same z on every
// question (T²-cls-expert's classification expert) then costs what the base model's
// does, for one more copy of those matrices. Engines without it run such rows factored.
type KeepsMerged interface {
	// KeepMerged holds z (keyed by matrix name as for SetZ; nil drops it) for the
	// population rows of z from the next SetPopulation on. z's slices must not change
	// while held; asking again for the same z costs nothing.
	KeepMerged(z map[string][]float32) error
}

// SameZ tells whether a and b are the same z: both nil (the base weights), or maps whose
// every matrix has the same slice (an expert's own Z, not an equal copy). Engines that
// hold merged copies (KeepsMerged) know a z again by it.
func SameZ(a, b map[string][]float32) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		u, ok := b[k]
		if !ok || len(u) != len(v) || len(v) > 0 && &u[0] != &v[0] {
			return false
		}
	}
	return true
}

// Engine runs a model's forward pass. The CPU engine ([CPU]) and the GPU engine
// (package shaders) implement it; results stay inside the engine and only what is asked
// for comes out (a GPU engine reads back one token id per Sample).
type Engine interface {
	// Config is the architecture the engine runs.
	Config() *Config
	// MaxSeqs is the number of sequences (KV-cache slots); Context the positions per slot.
	MaxSeqs() int
	Context() int
	// Forward runs the batch: each row's K and V are written to its sequence's cache at its
	// position, and attention sees positions 0..Pos of the same sequence. The rows with
	// Logits set become output rows 0, 1, … of this call, replacing the previous call's.
	Forward(b *Batch) error
	// Logits copies output row i of the last Forward into dst[V].
	Logits(dst []float32, i int) error
	// Sample draws the next token from output row i of the last Forward.
	Sample(i int, s *Sampler) (int, error)
	// SetZ switches the SVF expert: every adapted matrix gets its z from z, keyed by
	// matrix name (see Weights.SetZ); nil is the base model. Cached keys and values were
	// computed with the previous weights: clear the sequences that must not mix them.
	SetZ(z map[string][]float32) error
	// SetPopulation holds P candidate experts at once for population batches (rows
	// added with Batch.AddCand): zs[c] is candidate c's z keyed by matrix name as for
	// SetZ (a nil map is the base model), and a row of candidate c gives the logits
	// SetZ(zs[c]) would give on a plain batch. Adapted matrices run factored there,
	// y = c_p·U(σ⊙z_p ⊙ Vᵀx) per row. A nil or empty zs drops the population. The
	// current z of plain batches is unchanged. The KV-cache note of SetZ applies.
	SetPopulation(zs []map[string][]float32) error
	// Clear forgets everything cached for sequence seq.
	Clear(seq int)
	// Fork makes sequence dst a copy of sequence src: its cached positions, so that
	// continuations of one prompt need the prompt's forward pass once.
	Fork(dst, src int) error
	// Close releases the engine's memory.
	Close() error
}
