package model

import (
	"fmt"
	"runtime"
)

// CPUOptions sizes a CPU engine.
type CPUOptions struct {
	MaxSeqs int // KV-cache slots; 1 when 0
	Context int // positions per slot; min(max_position_embeddings, 4096) when 0
	// Kernels run the matmuls and attention's inner loops; GoKernels when nil. Every
	// implementation gives the same bits (see Kernels).
	Kernels Kernels
	// Threads share the matmuls' and attention's loops (see Threads): GOMAXPROCS when 0,
	// the caller alone when 1. Kernels already WithThreads keep theirs.
	Threads int
}

// CPU is the reference engine: weights in Go memory — float32, or int8 where a pack
// loaded for the int8 path holds them as Q8 (Q8Linear, Weights.EmbedQ8, LMHeadQ8) — a KV
// cache per sequence, the forward pass of run.c's shape spread over the cores for the
// matmuls, whose inner loops run in its Kernels.
type CPU struct {
	cfg   *Config
	w     *Weights
	k     Kernels
	rope  *Rope
	cache *KVCache
	st    runState
	nOut  int // output rows of the last Forward
	pop   int // candidates of the population (SetPopulation); 0: none
}

// runState is the per-batch activation memory, sized for T rows and grown only when a
// larger batch arrives.
type runState struct {
	T      int
	x      []float32 // [T, D] residual stream
	xb     []float32 // [T, D] normalised input of a sub-layer
	xb2    []float32 // [T, D] output of a sub-layer
	q      []float32 // [T, H*Dh]
	k, v   []float32 // [T, Hkv*Dh]
	att    []float32 // [T, H*Dh] attention output
	hb     []float32 // [T, F] gate, then silu(gate)⊙up
	hb2    []float32 // [T, F] up
	scores []float32 // [T, S] attention weights, per row
	logits []float32 // [T, V] output rows
	xq     Q8        // [T, D or F] the input of the int8 matrices, quantised
	// [T] positions, sequences and candidates of the rows the last layer runs on
	outPos, outSeq, outCand []int
}

// NewCPU makes a CPU engine over m's weights.
func NewCPU(m *Model, opt CPUOptions) (*CPU, error) {
	c := m.Config
	if opt.MaxSeqs <= 0 {
		opt.MaxSeqs = 1
	}
	if opt.Context <= 0 {
		opt.Context = min(c.MaxPositions, 4096)
	}
	if opt.Context > c.MaxPositions {
		return nil, fmt.Errorf("model: context %d exceeds max_position_embeddings %d", opt.Context, c.MaxPositions)
	}
	if opt.Kernels == nil {
		opt.Kernels = GoKernels{}
	}
	if opt.Threads <= 0 {
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	if threadsOf(opt.Kernels) == nil {
		opt.Kernels = WithThreads(opt.Kernels, NewThreads(opt.Threads))
	}
	return &CPU{
		cfg:   c,
		w:     m.Weights,
		k:     opt.Kernels,
		rope:  NewRope(c, opt.Context),
		cache: NewKVCache(opt.MaxSeqs, c.NLayers, opt.Context, c.NKVHeads*c.HeadDim),
	}, nil
}

func (e *CPU) Config() *Config { return e.cfg }
func (e *CPU) MaxSeqs() int    { return e.cache.seqs }
func (e *CPU) Context() int    { return e.cache.S }
func (e *CPU) Close() error    { *e = CPU{cfg: e.cfg, k: e.k}; return nil }

// Kernels returns the kernels the engine runs.
func (e *CPU) Kernels() Kernels { return e.k }

// Threads returns how many threads share the engine's matmuls (CPUOptions.Threads).
func (e *CPU) Threads() int { return threadsOf(e.k).N() }

// SetZ switches the SVF expert of the engine's weights; see Engine.
func (e *CPU) SetZ(z map[string][]float32) error { return e.w.SetZ(z) }

// SetPopulation holds the candidates of population batches in the adapted matrices;
// see Engine. A candidate row runs its matrices factored, candidate by candidate within
// one pass (svf's ApplyPopulation).
func (e *CPU) SetPopulation(zs []map[string][]float32) error {
	if err := e.w.SetPopulation(zs); err != nil {
		return err
	}
	e.pop = len(zs)
	return nil
}

// KeepMergedBytes bounds each copy of the adapted matrices an engine holds merged beside
// its current one (KeepsMerged): one more int8 W' of every adapted matrix is small for
// the demo (2.4 MB) but about a gigabyte for a 1B model, where the page's 4 GiB of
// WebAssembly memory already holds the base and current copies.
const KeepMergedBytes = 256 << 20

// KeepMerged holds z's adapted matrices merged for population rows; see KeepsMerged.
// Population rows run the int8 kernels' path only with SIMD kernels (see Forward), so
// with Go's kernels nothing is held, nor when one more copy of the matrices would pass
// KeepMergedBytes: their rows run factored then, as without it.
func (e *CPU) KeepMerged(z map[string][]float32) error {
	if isGo(e.k) {
		return nil
	}
	bytes := 0
	for _, l := range e.w.Linears {
		if _, ok := l.(MergedKeeper); ok {
			out, in := l.Dims()
			bytes += out * in * 36 / 32 // int8 values and an f32 scale a block of 32
		}
	}
	if bytes > KeepMergedBytes {
		return e.w.KeepMerged(nil)
	}
	return e.w.KeepMerged(z)
}

// Clear forgets sequence seq.
func (e *CPU) Clear(seq int) {
	if seq >= 0 && seq < e.cache.seqs {
		e.cache.len[seq] = 0
	}
}

// Fork copies sequence src's cache into sequence dst.
func (e *CPU) Fork(dst, src int) error {
	c := e.cache
	if dst < 0 || dst >= c.seqs || src < 0 || src >= c.seqs {
		return fmt.Errorf("model: fork %d from %d: the engine has sequences 0…%d", dst, src, c.seqs-1)
	}
	if dst != src {
		n := c.len[src] * c.kvDim
		for l := range c.layers {
			a, b := c.at(dst, l, 0), c.at(src, l, 0)
			copy(c.k[a:a+n], c.k[b:b+n])
			copy(c.v[a:a+n], c.v[b:b+n])
		}
		c.len[dst] = c.len[src]
	}
	return nil
}

func (e *CPU) grow(T int) {
	if T <= e.st.T {
		return
	}
	c := e.cfg
	q, kv := c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim
	e.st = runState{
		T: T,
		x: make([]float32, T*c.Dim), xb: make([]float32, T*c.Dim), xb2: make([]float32, T*c.Dim),
		q: make([]float32, T*q), k: make([]float32, T*kv), v: make([]float32, T*kv), att: make([]float32, T*q),
		hb: make([]float32, T*c.FFN), hb2: make([]float32, T*c.FFN),
		scores: make([]float32, T*e.cache.S), logits: make([]float32, T*c.VocabSize),
		outPos: make([]int, 0, T), outSeq: make([]int, 0, T), outCand: make([]int, 0, T),
	}
}

// Forward runs the batch through every layer; see Engine.
func (e *CPU) Forward(b *Batch) error {
	nOut, err := b.Check(e.cfg.VocabSize, e.cache.S, e.cache.len, e.pop)
	if err != nil {
		return err
	}
	cand := b.Cand
	// apply runs a layer matrix on x[T,in]: under the current z, or row by row under its
	// candidate. An int8 matrix reads x quantised, which is done once for all the
	// matrices that read the same x (q, k, v; gate, up).
	quantized := false
	quantize := func(l Linear, x []float32, T int) {
		if !quantized {
			_, in := l.Dims()
			Quantize(e.k, &e.st.xq, x, T, in)
			quantized = true
		}
	}
	// Population batches run int8 where the kernels make int8 cheaper than f32: the SIMD
	// kernels do (16 int8 values a vector against 4 f32); Go's own do not (natively its
	// int8 dot runs 4–5× slower than its f32 one, BenchmarkPopulationApply), so with them
	// a population runs the f32 factored form.
	goKernels := isGo(e.k)
	apply := func(l Linear, y, x []float32, T int) {
		if a, ok := l.(Adaptable); ok && len(cand) > 0 {
			if p, ok := l.(Q8Population); ok && !goKernels {
				quantize(l, x, T)
				p.ApplyPopulationQ8(e.k, y, x, &e.st.xq, cand)
				return
			}
			a.ApplyPopulation(y, x, cand, T)
			return
		}
		switch l := l.(type) {
		case Q8Linear:
			quantize(l, x, T)
			l.ApplyQ8(e.k, y, x, &e.st.xq)
		case *Dense:
			MatMulF32(e.k, y, x, l.W, l.B, T, l.In, l.Out)
		default:
			l.Apply(y, x, T)
		}
	}
	c, w := e.cfg, e.w
	n, D, Dh := b.Len(), c.Dim, c.HeadDim
	H, Hkv, F := c.NHeads, c.NKVHeads, c.FFN
	qDim, kvDim := H*Dh, Hkv*Dh
	e.grow(n)
	s := &e.st
	for t, tok := range b.Tokens {
		if w.EmbedQ8 != nil {
			w.EmbedQ8.Dequantize(s.x[t*D:t*D+D], tok)
		} else {
			copy(s.x[t*D:t*D+D], w.Embed[tok*D:tok*D+D])
		}
	}
	// The layers run T rows at positions pos of sequences seq: every row of the batch
	// but in the last layer, where only the rows that ask for logits go on once their
	// keys and values are cached (what llama.cpp does with its output ids): the others'
	// attention and MLP outputs would reach nothing. A prompt's prefill then skips the
	// last layer's attention, O and MLP for all its rows but one. Each row is computed
	// on its own, so the logits are the same bits either way.
	T, rowPos, rowSeq := n, b.Pos, b.Seq
	last := len(w.Layers) - 1
	for l := range w.Layers {
		ly := &w.Layers[l]
		// attention: x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
		RMSNorm(s.xb, s.x, ly.AttnNorm, T, D, c.RMSNormEps)
		quantized = false
		apply(ly.Q, s.q, s.xb, T)
		apply(ly.K, s.k, s.xb, T)
		apply(ly.V, s.v, s.xb, T)
		for t := range T {
			pos := rowPos[t]
			e.rope.Apply(s.q[t*qDim:t*qDim+qDim], H, pos)
			e.rope.Apply(s.k[t*kvDim:t*kvDim+kvDim], Hkv, pos)
			off := e.cache.at(rowSeq[t], l, pos)
			copy(e.cache.k[off:off+kvDim], s.k[t*kvDim:t*kvDim+kvDim])
			copy(e.cache.v[off:off+kvDim], s.v[t*kvDim:t*kvDim+kvDim])
		}
		if l == last && nOut < T {
			T = nOut
			rowPos, rowSeq, cand = e.outRows(b, qDim)
			if T == 0 {
				break
			}
		}
		threadsOf(e.k).parallelFor(T, rowPos[T-1]*qDim, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				pos := rowPos[t]
				start := 0
				if c.SlidingWindow > 0 {
					start = max(0, pos-c.SlidingWindow+1)
				}
				e.cache.Attention(e.k, s.att[t*qDim:t*qDim+qDim], s.q[t*qDim:t*qDim+qDim],
					s.scores[t*e.cache.S:(t+1)*e.cache.S], rowSeq[t], l, pos, start, H, Hkv, Dh)
			}
		})
		quantized = false
		apply(ly.O, s.xb2, s.att, T)
		axpy(s.x[:T*D], 1, s.xb2)
		// MLP: x += Down·(silu(Gate·n(x)) ⊙ Up·n(x))
		RMSNorm(s.xb, s.x, ly.MLPNorm, T, D, c.RMSNormEps)
		quantized = false
		apply(ly.Gate, s.hb, s.xb, T)
		apply(ly.Up, s.hb2, s.xb, T)
		e.k.SwiGLU(s.hb[:T*F], s.hb[:T*F], s.hb2[:T*F])
		quantized = false
		apply(ly.Down, s.xb2, s.hb, T)
		axpy(s.x[:T*D], 1, s.xb2)
	}
	for t := range n {
		e.cache.len[b.Seq[t]] = b.Pos[t] + 1
	}
	// Output rows, rows 0… of x since the last layer: the final norm and lm_head.
	RMSNorm(s.xb, s.x, w.Norm, nOut, D, c.RMSNormEps)
	if w.LMHeadQ8 != nil {
		Quantize(e.k, &s.xq, s.xb, nOut, D)
		MatMulQ8(e.k, s.logits, &s.xq, w.LMHeadQ8, nil)
	} else {
		MatMulF32(e.k, s.logits, s.xb, w.LMHead, nil, nOut, D, c.VocabSize)
	}
	e.nOut = nOut
	return nil
}

// outRows moves the rows of b that ask for logits to the front of the residual stream
// and the queries, in order, and returns their positions, sequences and candidates (nil
// without a population).
func (e *CPU) outRows(b *Batch, qDim int) (pos, seq, cand []int) {
	s, D := &e.st, e.cfg.Dim
	pos, seq = s.outPos[:0], s.outSeq[:0]
	if b.Cand != nil {
		cand = s.outCand[:0]
	}
	for t, want := range b.Logits {
		if !want {
			continue
		}
		if o := len(pos); o != t {
			copy(s.x[o*D:o*D+D], s.x[t*D:t*D+D])
			copy(s.q[o*qDim:o*qDim+qDim], s.q[t*qDim:t*qDim+qDim])
		}
		pos, seq = append(pos, b.Pos[t]), append(seq, b.Seq[t])
		if cand != nil {
			cand = append(cand, b.Cand[t])
		}
	}
	return pos, seq, cand
}

// Logits copies output row i of the last Forward into dst[V].
func (e *CPU) Logits(dst []float32, i int) error {
	row, err := e.row(i)
	if err != nil {
		return err
	}
	copy(dst, row)
	return nil
}

// Sample draws the next token from output row i of the last Forward.
func (e *CPU) Sample(i int, s *Sampler) (int, error) {
	row, err := e.row(i)
	if err != nil {
		return 0, err
	}
	return s.sample(e.k, row), nil
}

func (e *CPU) row(i int) ([]float32, error) {
	if i < 0 || i >= e.nOut {
		return nil, fmt.Errorf("model: output row %d of %d", i, e.nOut)
	}
	V := e.cfg.VocabSize
	return e.st.logits[i*V : i*V+V], nil
}
