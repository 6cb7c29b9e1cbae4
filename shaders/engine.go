package shaders

import (
	"fmt"
	"slices"

	"github.com/gogpu/gputypes"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
)

// EngineOptions size a GPU engine.
type EngineOptions struct {
	MaxSeqs int // KV-cache slots; 1 when 0
	Context int // positions per slot; min(max_position_embeddings, 4096) when 0
	// MergedF32 holds the recomposed W' of an int8 pack's adapted matrices as float32,
	// the exact reference: the CPU engine's W' to float32 rounding. By default W' is Q8
	// (recomposed straight to int8 with blocks of 32, as pack.QuantizeQ8 would quantise
	// it): a quarter of the memory and of the bytes each decoded token reads, at the
	// cost of W's quantisation error (logits move by ~1e-3 to 1e-2). An f32 pack's W'
	// is always float32.
	MergedF32 bool
	// DeviceSampling draws tokens at a temperature on the device (the Sample kernel, only
	// the id read back) instead of reading the row back and drawing with the sampler on
	// the CPU. The device draw uses the sampler's own random number but sums in float32,
	// so it may pick a neighbouring token where the CPU's float64 sums differ: off by
	// default, so that a seed gives the CPU engine's tokens. Greedy decoding is always on
	// the device.
	DeviceSampling bool
	// MaxBinding caps, in bytes, each part of a weight matrix split by rows (the
	// embedding and lm_head of a large vocabulary, big MLP matrices): 0, or more than the
	// device's largest storage binding (Device.MaxBinding), means the device's. Tests lower
	// it so that small models split. What is not split (activations, the KV cache, an
	// adapted matrix's V and σ) must fit the device's limit.
	MaxBinding uint64
}

// smallMergedF32 is the most float32 W' PreferMergedF32 holds on a CPU adapter.
const smallMergedF32 = 32 << 20

// PreferMergedF32 tells whether an engine of int8 pack p on d is better off holding W' in
// float32 (EngineOptions.MergedF32): on a CPU adapter (lavapipe; Chromium's SwiftShader)
// when W' in float32 is at most 32 MiB. There the kernels run on the CPU, whose caches
// hold a model this small, and unpacking int8 costs more than the bytes it saves. On the
// demo pack (9.4 MB of float32 W'), T²-prompt's first pass took 56 → 44 ms and the
// second 288 → 246 ms on lavapipe; in the page on SwiftShader the first pass 193–217 →
// 167–169 ms, the second unchanged. For a model of a few hundred MB (SmolLM2: 538 MB in
// float32) decoding reads W' from memory and int8 stays (issue 15). Between the two it is
// not measured. Callers that want the int8 path whatever the cost (tests of it) do not ask.
func PreferMergedF32(d *Device, p *pack.Pack) bool {
	if d.Info().DeviceType != gputypes.DeviceTypeCPU || p.Manifest.Quant != pack.QuantInt8 {
		return false
	}
	shapes := p.Config.MatrixShapes()
	var bytes int64
	for _, name := range p.Manifest.Matrices {
		bytes += 4 * int64(shapes[name][0]) * int64(shapes[name][1])
	}
	return bytes <= smallMergedF32
}

// Engine is the GPU engine: a pack's weights, the KV cache and the activations in device
// buffers, the forward pass of model.CPU recorded once per batch shape as kernels of this
// package. Adapted matrices are held merged (ARCHITECTURE §2): their factors U, σ, V stay
// on the device and W' = U·diag(σ⊙z)·Vᵀ·c is recomposed there at load (z = 1) and on
// every SetZ. Per generated token only the token id comes back (Sample); Logits reads
// one row. Population batches (model.Batch.Cand, SetPopulation) run the adapted matrices
// factored instead, every row with its candidate's scales (FactoredDown, then U per
// part), unless the population is one z held merged (merged.go). A weight larger than one storage binding is held in parts of whole rows, each
// kernel run per part. It implements model.Engine.
type Engine struct {
	d    *Device
	cfg  *model.Config
	opt  EngineOptions
	lens []int // [MaxSeqs] cached positions per sequence, as model.CPU tracks them

	// weights
	embed   matrix // [V, D], f32 or Q8
	lmHead  matrix // [V, D]; the embedding when tied
	norm    *Buffer
	layers  []layer
	adapted []*matrix // in pack order
	byName  map[string]*matrix
	recomp  *Batch // SVFScale + Recompose of every adapted matrix, from the z buffers
	maxR    int    // the largest rank of an adapted matrix
	owned   []*Buffer

	// population (SetPopulation)
	pop, popCap int    // candidates, and the rows the population buffers hold
	popScale    *Batch // SVFScale of every adapted matrix's population, for popScaleN rows
	popScaleN   int
	popZs       []map[string][]float32 // the population's z
	popScaled   bool                   // popZs uploaded and scaled (not done for a held z)

	// W' held merged beside the engine's own (merged.go): the base model's, made at load,
	// and a kept z's (KeepMerged); nil when none (or more than KeepMergedBytes).
	base, kept *held
	scratch    *Buffer // recomposition scratch of Q8 W' (load)

	// consts holds f32 vectors the fused kernels read: the RoPE table [S, Dh/2, 2]
	// (RopeTable) at ropeOff, each layer's norm weights and stacked biases, the final
	// norm weight at normOff (see loader.constants).
	consts           *Buffer
	ropeOff, normOff int
	kc, vc           []*Buffer
	forkTmp          *Buffer // Fork's scratch: one sequence's cached K and V of every layer
	kvShape          KVCache
	capT             int  // rows the activation buffers hold
	capOut           int  // rows the logits buffer holds
	act              acts // activations for capT rows
	forwards         map[fwdKey]*Batch
	samples          map[sampleKey]*Batch

	nOut       int
	ids        []uint32 // argmax of every output row of the last Forward, once read
	idsValid   bool
	hostLogits []float32 // every output row of the last Forward, once read (Logits)
	hostRows   int       // rows in hostLogits; 0: not read
}

// layer is one transformer block on the device. Its q, k, v are stacked by rows in one
// weight qkv [(H+2·Hkv)·Dh, D], and gate, up in gu [2F, D], when they fit one binding
// (nil otherwise): each matrix's parts are then views of its rows there. Offsets are in
// Engine.consts (−1: no bias).
type layer struct {
	attnNorm, mlpNorm       *Buffer // [D]
	q, k, v, o              *matrix
	gate, up, down          *matrix
	qkv, gu                 *Linear
	attnNormOff, mlpNormOff int
	qkvBiasOff, guBiasOff   int
}

// fwdKey is the shape of a recorded forward pass: rows, output rows, and the
// population size of a population batch (0 for a plain one, and for a population of one
// z held merged, which reads that copy's W'). A chained pass (Generate)
// takes its one token from the last pass's output on the device, and draws the next
// with s at a temperature (greedy: the argmax every pass ends with).
type fwdKey struct {
	T, nOut, P int
	w          int // the W' a plain pass reads: wCurrent, or a held copy's (merged.go)
	chain      bool
	s          Sampling
}

// matrix is a weight W[out,in] on the device, f32 or Q8, with an optional bias, held
// in parts of whole rows that each fit one storage binding (one part unless W is larger
// than that). An adapted matrix holds W' = U·diag(c·σ⊙z)·Vᵀ in its parts, U split at
// the same rows (each part's Factors), V and σ whole, z and s = c·σ⊙z of SetZ, and the
// population's z and scales [popCap, R].
type matrix struct {
	name       string
	out, in    int
	parts      []part
	bias       *Buffer // [out] or nil
	biasOff    int     // of the bias in Engine.consts, for the fused kernels; −1: none there
	R          int     // rank of an adapted matrix; 0 for the others
	z, s       *Buffer // [R]
	popZ, popS *Buffer // [popCap, R]
}

// part is rows r0…r0+rows−1 of a matrix: W (or W') as f32 or Q8 [rows, in] — its own
// buffers, or a view of rows of a stack — and for an adapted matrix the factors of these
// rows (U's rows; V, σ whole).
type part struct {
	r0, rows int
	w        Linear
	fac      Factors
}

// rows is the view of rows r0…r0+n−1 of l.
func (l *Linear) rows(r0, n int) Linear {
	v := *l
	v.Rows = n
	if v.F != nil {
		v.Row0 += r0
	} else {
		v.Q.Rows = n
		v.Q.Row0 += r0
	}
	return v
}

// apply records y[T,out] = x[T,in]·Wᵀ + b, part by part, W' of an adapted matrix read
// from the held copy h (nil: the engine's own).
func (m *matrix) apply(b *Batch, y, x *Buffer, T int, h *held) {
	for _, p := range m.parts {
		b.MatMulLinear(y, x, h.view(p.w), m.bias, T, m.out, p.r0)
	}
}

// applyFused records, for a one-row batch, y[D] += n(x)·Wᵀ + b part by part (MatVecFused,
// the residual connection in the epilogue).
func (m *matrix) applyFused(b *Batch, y, x *Buffer, mv MV) {
	mv.BiasOff = -1
	if m.biasOff >= 0 {
		mv.BiasOff = m.biasOff
	}
	for _, p := range m.parts {
		b.MatVecFused(y, m.out, p.r0, true, x, p.w, mv)
	}
}

// applyPop records the factored apply of an adapted matrix for a population batch,
// y[t] = c_p·U(σ⊙z_p ⊙ Vᵀx[t]) + b with p = cand[t] among P candidates; h [T,R] is
// scratch.
func (m *matrix) applyPop(b *Batch, y, x, h, cand *Buffer, T, P int) {
	b.FactoredDown(h, x, m.parts[0].fac, m.popS, cand, T, P)
	for _, p := range m.parts {
		if f := p.fac; f.UF != nil {
			b.MatMulPart(y, h, f.UF, m.bias, T, m.R, p.rows, m.out, p.r0)
		} else {
			b.MatMulQ8Part(y, h, f.U, m.bias, T, m.out, p.r0)
		}
	}
}

// embed records dst[T,D] = rows tokens[T] of m (the embedding table [V,D]), part by part.
func (m *matrix) embed(b *Batch, dst, tokens *Buffer, T int) {
	keep := len(m.parts) > 1
	for _, p := range m.parts {
		if p.w.F == nil {
			b.EmbedQ8Part(dst, p.w.Q, tokens, T, p.r0, keep)
		} else {
			b.EmbedPart(dst, p.w.F, tokens, T, m.in, p.rows, p.r0, keep)
		}
	}
}

// recompose records W' = U·diag(s)·Vᵀ of an adapted matrix into its parts (Q8 ones
// cleared before, in the same batch, and recomposed through scratch: NewEngine's recomp).
func (m *matrix) recompose(b *Batch, scratch *Buffer) {
	for _, p := range m.parts {
		b.RecomposeInto(p.w, p.fac, m.s, scratch)
	}
}

// acts are the per-batch activation buffers.
type acts struct {
	x, xb, xb2       *Buffer // [T, D]
	q, att           *Buffer // [T, H·Dh]
	k, v             *Buffer // [T, Hkv·Dh]
	hb, hb2, hb3     *Buffer // [T, F]
	h                *Buffer // [T, maxR] factored scratch of population batches
	tokens, pos, seq *Buffer // u32 [T]
	meta             *Buffer // u32 [T, 2]: (pos, seq) of every row, for QKVFused
	cand             *Buffer // u32 [T] candidate of every row of a population batch
	outIdx           *Buffer // u32 [T] the rows that give logits
	outPos, outSeq   *Buffer // u32 [capOut] their positions and sequences,
	outCand          *Buffer // u32 [capOut] and candidates (population batches)
	qOut, xOut       *Buffer // [capOut, H·Dh], [capOut, D]: their queries and residuals in the last layer
	logits           *Buffer // [capOut, V]
	ids              *Buffer // u32 [capOut]
	row, scratch     *Buffer // [V] one row of logits for Sample, the kernel's scratch
	part             *Buffer // AttentionSplit's scratch for a decode row
	u, one           *Buffer // f32 [1] the uniform draw, u32 [1] the sampled id
}

type sampleKey struct {
	row int
	s   Sampling
}

func (e *Engine) Config() *model.Config { return e.cfg }
func (e *Engine) MaxSeqs() int          { return e.opt.MaxSeqs }
func (e *Engine) Context() int          { return e.opt.Context }

// Clear forgets sequence seq.
func (e *Engine) Clear(seq int) {
	if seq >= 0 && seq < len(e.lens) {
		e.lens[seq] = 0
	}
}

// Fork copies sequence src's cached keys and values into sequence dst through a
// scratch buffer, in two submissions (all layers into it, then out of it): WebGPU copies
// no region of a buffer into the same buffer, and wgpu refuses a buffer as both the
// source and the destination of copies in one encoder.
func (e *Engine) Fork(dst, src int) error {
	if dst < 0 || dst >= len(e.lens) || src < 0 || src >= len(e.lens) {
		return fmt.Errorf("shaders: engine: fork %d from %d: the engine has sequences 0…%d", dst, src, len(e.lens)-1)
	}
	if dst == src || e.lens[src] == 0 {
		e.lens[dst] = e.lens[src]
		return nil
	}
	kvd := uint64(4 * e.kvShape.Hkv * e.kvShape.Dh)
	slot := uint64(e.kvShape.S) * kvd
	n := uint64(e.lens[src]) * kvd
	caches := make([]*Buffer, 0, 2*len(e.kc))
	for l := range e.kc {
		caches = append(caches, e.kc[l], e.vc[l])
	}
	if need := n * uint64(len(caches)); e.forkTmp == nil || e.forkTmp.size < need {
		// Room for the positions cached now, doubled, so that a growing prompt seldom
		// reallocates; at most every layer's whole slot.
		size := min(2*need, slot*uint64(len(caches)))
		if e.forkTmp != nil {
			// An earlier fork's copies may still read it.
			if err := e.d.Sync(); err != nil {
				return fmt.Errorf("shaders: engine: fork: %w", err)
			}
			e.forkTmp.Release()
			e.forkTmp = nil
		}
		b, err := e.d.NewBuffer("kv fork", size)
		if err != nil {
			return fmt.Errorf("shaders: engine: fork: %w", err)
		}
		e.forkTmp = b
	}
	// Through forkTmp (a copy may not read and write one buffer), in two submissions
	// (gogpu's encoder refuses a buffer copied from and to in one) and without waiting
	// for them: the queue runs them before whatever is submitted next, and in the page
	// every wait is a readback (the first pass forks up to six times).
	for _, out := range []bool{false, true} {
		b := e.d.NewBatch("fork")
		for i, cache := range caches {
			if out {
				b.CopyBuffer(cache, uint64(dst)*slot, e.forkTmp, uint64(i)*n, n)
			} else {
				b.CopyBuffer(e.forkTmp, uint64(i)*n, cache, uint64(src)*slot, n)
			}
		}
		err := b.Submit()
		b.Release()
		if err != nil {
			return fmt.Errorf("shaders: engine: fork: %w", err)
		}
	}
	e.lens[dst] = e.lens[src]
	return nil
}

// SetZ uploads every adapted matrix's z (1 for those z does not name) and recomposes
// them all on the device; see model.Engine. The base model's z (nil) and a kept one
// (KeepMerged) are copied from their held W' instead.
func (e *Engine) SetZ(z map[string][]float32) error {
	if err := e.checkZ("", z); err != nil {
		return err
	}
	if w, ok := e.heldFor(z); ok {
		return e.heldCopy(w).copyIn.Submit()
	}
	for _, m := range e.adapted {
		if err := e.d.WriteF32(m.z, 0, zOrOnes(z[m.name], m.R)); err != nil {
			return err
		}
	}
	if len(e.adapted) == 0 {
		return nil
	}
	return e.recomp.Submit()
}

// checkZ validates the z of an expert (who names it in errors) against the pack.
func (e *Engine) checkZ(who string, z map[string][]float32) error {
	for name, v := range z {
		m := e.byName[name]
		switch {
		case m == nil:
			return fmt.Errorf("shaders: engine: %sz for %s: the model has no such matrix", who, name)
		case m.R == 0:
			return fmt.Errorf("shaders: engine: %sz for %s: the matrix is not adapted (not a target of the pack)", who, name)
		case v != nil && len(v) != m.R:
			return fmt.Errorf("shaders: engine: %sz for %s has %d values, the matrix has rank %d", who, name, len(v), m.R)
		}
	}
	return nil
}

// zOrOnes is z, or R ones when z is nil.
func zOrOnes(z []float32, R int) []float32 {
	if z != nil {
		return z
	}
	v := make([]float32, R)
	for i := range v {
		v[i] = 1
	}
	return v
}

// SetPopulation uploads the z of every candidate (1 where a map does not name a
// matrix; a nil map is the base model) and computes their scales c_p·σ⊙z_p on the
// device (SVFScale); see model.Engine. A population batch then runs each adapted
// matrix as FactoredDown (x·V, times its row's candidate's scales) and the matmul by U.
func (e *Engine) SetPopulation(zs []map[string][]float32) error {
	for p, z := range zs {
		if err := e.checkZ(fmt.Sprintf("candidate %d: ", p), z); err != nil {
			return err
		}
	}
	P := len(zs)
	e.pop, e.popZs = 0, nil
	if P == 0 || len(e.adapted) == 0 {
		e.pop = P
		return nil
	}
	if P > e.popCap {
		// The recorded passes use the old buffers: wait for them, then drop them all.
		if err := e.d.Sync(); err != nil {
			return err
		}
		e.releaseBatches()
		e.releasePop()
		for _, m := range e.adapted {
			var err error
			if m.popZ, err = e.d.NewBuffer(m.name+".population z", uint64(4*P*m.R)); err != nil {
				return fmt.Errorf("shaders: engine: %w", err)
			}
			if m.popS, err = e.d.NewBuffer(m.name+".population s", uint64(4*P*m.R)); err != nil {
				return fmt.Errorf("shaders: engine: %w", err)
			}
		}
		e.popCap = P
	}
	if e.popScale == nil || e.popScaleN != P {
		if e.popScale != nil {
			if err := e.d.Sync(); err != nil {
				return err
			}
			e.popScale.Release()
		}
		e.popScale = e.d.NewBatch(fmt.Sprintf("population scales P=%d", P))
		for _, m := range e.adapted {
			e.popScale.SVFScale(m.popS, m.parts[0].fac.Sigma, m.popZ, P, m.R)
		}
		e.popScaleN = P
	}
	e.popZs, e.popScaled = zs, false
	if _, ok := e.popHeld(); !ok {
		if err := e.scalePopulation(); err != nil {
			e.popZs = nil
			return err
		}
	}
	e.pop = P
	return nil
}

// ScoringCost returns the multiply-adds of the adapted matrices for P candidates of rows
// rows each, batched (factored, (M+N)·R a row) and sequential (SetZ's recomposition,
// M·N·R, then M·N a row); see model.ScoringCoster. Sequential scoring gives the batched
// scores only with W' in float32: the population's factored rows are float32, a Q8 W'
// is not. Measured on the demo pack on lavapipe (BenchmarkAdaptDemo: W' in float32, 10
// examples of 888 rows in all, population 32, likelihood score): 29.3 s an iteration
// batched, 24.2 s sequential, 1.21 to 1, where these counts give 1.23 to 1. In the page
// on SwiftShader (BenchmarkPageAdapt/gpu, population 8) one quiet run each took 117.7 s
// batched and 126.4 s sequential, inside this machine's noise (the counts leave out
// how fast each kernel runs on an adapter).
func (e *Engine) ScoringCost(P, rows int) (batched, sequential float64, same bool) {
	same = true
	for _, m := range e.adapted {
		M, N, R := float64(m.out), float64(m.in), float64(m.R)
		batched += float64(P) * float64(rows) * (M + N) * R
		sequential += float64(P) * (M*N*R + float64(rows)*M*N)
		for _, pt := range m.parts {
			if pt.w.F == nil {
				same = false
			}
		}
	}
	return batched, sequential, same
}

// popHeld says whether population batches run plain, on a held copy (which it
// returns): a population of one z held merged.
func (e *Engine) popHeld() (int, bool) {
	if len(e.popZs) != 1 {
		return 0, false
	}
	return e.heldFor(e.popZs[0])
}

// scalePopulation uploads the population's z and computes the scales of its factored
// rows (SVFScale), once per SetPopulation.
func (e *Engine) scalePopulation() error {
	P := len(e.popZs)
	for _, m := range e.adapted {
		rows := make([]float32, 0, P*m.R)
		for _, z := range e.popZs {
			rows = append(rows, zOrOnes(z[m.name], m.R)...)
		}
		if err := e.d.WriteF32(m.popZ, 0, rows); err != nil {
			return err
		}
	}
	if err := e.popScale.Submit(); err != nil {
		return err
	}
	e.popScaled = true
	return nil
}

// releasePop frees the population buffers and their batch.
func (e *Engine) releasePop() {
	for _, m := range e.adapted {
		m.popZ.Release()
		m.popS.Release()
		m.popZ, m.popS = nil, nil
	}
	if e.popScale != nil {
		e.popScale.Release()
		e.popScale = nil
	}
	e.popCap = 0
}

// grow makes the activation buffers hold T rows and the logits nOut rows, dropping the
// recorded batches that used the old ones.
func (e *Engine) grow(T, nOut int) error {
	if T <= e.capT && nOut <= e.capOut {
		return nil
	}
	// Nothing in flight may still use what is released.
	if err := e.d.Sync(); err != nil {
		return err
	}
	e.releaseBatches()
	e.act.release()
	c, d := e.cfg, e.d
	capT := max(T, 16, e.capT)
	capOut := max(nOut, 1, e.capOut)
	q, kv, V := c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim, c.VocabSize
	a := acts{}
	var err error
	mk := func(name string, n int) *Buffer {
		if err != nil {
			return nil
		}
		var b *Buffer
		if uint64(4*n) > d.MaxBinding() {
			err = fmt.Errorf("shaders: engine: activation %s needs %d bytes, more than the device's largest storage binding (%d bytes): use smaller batches", name, 4*n, d.MaxBinding())
			return nil
		}
		b, err = d.NewBuffer(name, uint64(4*n))
		return b
	}
	a.x, a.xb, a.xb2 = mk("x", capT*c.Dim), mk("xb", capT*c.Dim), mk("xb2", capT*c.Dim)
	a.q, a.att = mk("q", capT*q), mk("att", capT*q)
	a.k, a.v = mk("k", capT*kv), mk("v", capT*kv)
	a.hb, a.hb2, a.hb3 = mk("hb", capT*c.FFN), mk("hb2", capT*c.FFN), mk("hb3", capT*c.FFN)
	a.h = mk("factored h", capT*max(e.maxR, 1))
	a.tokens, a.pos, a.seq, a.outIdx = mk("tokens", capT), mk("pos", capT), mk("seq", capT), mk("out rows", capT)
	a.meta = mk("pos and seq", 2*capT)
	a.cand = mk("candidates", capT)
	a.outPos, a.outSeq, a.outCand = mk("out rows' positions", capOut), mk("out rows' sequences", capOut), mk("out rows' candidates", capOut)
	a.qOut, a.xOut = mk("out rows' q", capOut*q), mk("out rows' x", capOut*c.Dim)
	a.logits, a.ids = mk("logits", capOut*V), mk("ids", capOut)
	a.row, a.scratch = mk("row", V), mk("sample scratch", V)
	a.part = mk("attention parts", AttentionSplitParts(max(capT, attnChunks), c.NHeads, c.HeadDim, 1))
	a.u, a.one = mk("u", 1), mk("id", 1)
	e.act = a
	if err != nil {
		e.act.release()
		e.capT, e.capOut = 0, 0
		return err
	}
	e.capT, e.capOut = capT, capOut
	return nil
}

func (a *acts) release() {
	for _, b := range []*Buffer{a.x, a.xb, a.xb2, a.q, a.att, a.k, a.v, a.hb, a.hb2, a.hb3, a.h,
		a.tokens, a.pos, a.seq, a.meta, a.outIdx, a.outPos, a.outSeq, a.outCand, a.qOut, a.xOut,
		a.cand, a.logits, a.ids, a.row, a.scratch, a.part, a.u, a.one} {
		if b != nil {
			b.Release()
		}
	}
	*a = acts{}
}

func (e *Engine) releaseBatches() {
	for k, b := range e.forwards {
		b.Release()
		delete(e.forwards, k)
	}
	for k, b := range e.samples {
		b.Release()
		delete(e.samples, k)
	}
}

// Forward uploads the batch's ids, positions and sequences and submits the forward
// pass recorded for its shape; see model.Engine. It does not wait for the GPU.
func (e *Engine) Forward(b *model.Batch) error {
	nOut, err := b.Check(e.cfg.VocabSize, e.opt.Context, e.lens, e.pop)
	if err != nil {
		return fmt.Errorf("shaders: engine: %w", err)
	}
	T := b.Len()
	if err := e.grow(T, nOut); err != nil {
		return err
	}
	u32 := func(xs []int) []uint32 {
		out := make([]uint32, len(xs))
		for i, x := range xs {
			out[i] = uint32(x)
		}
		return out
	}
	var rows, rowPos, rowSeq, rowCand []uint32 // of the rows that give logits
	for t, want := range b.Logits {
		if want {
			rows, rowPos, rowSeq = append(rows, uint32(t)), append(rowPos, uint32(b.Pos[t])), append(rowSeq, uint32(b.Seq[t]))
			if len(b.Cand) > 0 {
				rowCand = append(rowCand, uint32(b.Cand[t]))
			}
		}
	}
	meta := make([]uint32, 0, 2*T)
	for t := range T {
		meta = append(meta, uint32(b.Pos[t]), uint32(b.Seq[t]))
	}
	a := &e.act
	for _, w := range []struct {
		buf *Buffer
		x   []uint32
	}{{a.tokens, u32(b.Tokens)}, {a.pos, u32(b.Pos)}, {a.seq, u32(b.Seq)}, {a.meta, meta}, {a.outIdx, rows},
		{a.outPos, rowPos}, {a.outSeq, rowSeq}, {a.outCand, rowCand}, {a.cand, u32(b.Cand)}} {
		if err := e.d.WriteU32(w.buf, 0, w.x); err != nil {
			return err
		}
	}
	key := fwdKey{T: T, nOut: nOut}
	if len(b.Cand) > 0 {
		key.P = e.pop
		if w, ok := e.popHeld(); ok {
			key.P, key.w = 0, w
		} else if len(e.adapted) > 0 && !e.popScaled {
			// The copy the population was to run on was dropped since SetPopulation.
			if err := e.scalePopulation(); err != nil {
				return err
			}
		}
	}
	fb := e.forwards[key]
	if fb == nil {
		if len(e.forwards) >= 16 {
			if err := e.d.Sync(); err != nil {
				return err
			}
			for k, old := range e.forwards {
				old.Release()
				delete(e.forwards, k)
			}
		}
		fb = e.record(key)
		// The same pass for another number of rows lends its bind groups.
		for k, old := range e.forwards {
			other := key
			other.T = k.T
			if k == other && fb.Adopt(old) {
				old.Release()
				delete(e.forwards, k)
				break
			}
		}
		e.forwards[key] = fb
	}
	e.outputChanged()
	e.nOut = 0
	if err := fb.Submit(); err != nil {
		return err
	}
	for t := range T {
		e.lens[b.Seq[t]] = b.Pos[t] + 1
	}
	e.nOut = nOut
	return nil
}

// record records the forward pass of k.T rows with k.nOut output rows, model.CPU.Forward's
// steps in the same order, ending with the argmax of every output row (greedy Sample
// reads it back). With k.P > 0 the adapted matrices run factored, row t under candidate
// cand[t] of the population. A one-row plain batch (decode) takes the fused kernels.
func (e *Engine) record(k fwdKey) *Batch {
	b, _ := e.recordCounting(k)
	return b
}

// recordCounting is record, also counting the kernels each layer records.
func (e *Engine) recordCounting(k fwdKey) (b *Batch, perLayer []int) {
	c := e.cfg
	b = e.d.NewBatch(fmt.Sprintf("forward T=%d out=%d P=%d chain=%v", k.T, k.nOut, k.P, k.chain))
	tokens := e.act.tokens
	if k.chain {
		tokens = e.act.ids
	}
	e.embed.embed(b, e.act.x, tokens, k.T)
	fused := k.T == 1 && k.P == 0 && k.w == wCurrent
	for l := range e.layers {
		n := b.Dispatches()
		if fused {
			e.layerFused(b, l)
		} else {
			e.layerApart(b, l, k)
		}
		perLayer = append(perLayer, b.Dispatches()-n)
	}
	a := &e.act
	if k.nOut > 0 {
		if fused {
			// Final norm and lm_head over the rows that ask for logits (outIdx), one dispatch
			// a part.
			mv := MV{T: k.nOut, Norm: true, NormOff: e.normOff, Eps: c.RMSNormEps, Gather: a.outIdx, Consts: e.consts, BiasOff: e.lmHead.biasOff}
			for _, p := range e.lmHead.parts {
				b.MatVecFused(a.logits, c.VocabSize, p.r0, false, a.x, p.w, mv)
			}
		} else {
			// Final norm and lm_head over the rows that asked for logits: gathered by the
			// last layer into xOut, or every row.
			x := a.x
			if k.nOut < k.T {
				x = a.xOut
			}
			b.RMSNorm(a.xb, x, e.norm, k.nOut, c.Dim, c.RMSNormEps)
			e.lmHead.apply(b, a.logits, a.xb, k.nOut, nil)
		}
		b.Argmax(a.ids, a.logits, k.nOut, c.VocabSize)
		if k.s.Temperature > 0 {
			b.Sample(a.ids, a.logits, a.u, a.scratch, 1, c.VocabSize, k.s)
		}
	}
	return b, perLayer
}

// DecodeDispatches returns the kernels one decode step records (a token of one sequence,
// its logits and their argmax): in each layer, and outside the layers.
func (e *Engine) DecodeDispatches() (perLayer []int, outside int, err error) {
	if err := e.grow(1, 1); err != nil {
		return nil, 0, err
	}
	b, perLayer := e.recordCounting(fwdKey{T: 1, nOut: 1})
	defer b.Release()
	if err := b.Err(); err != nil {
		return nil, 0, err
	}
	outside = b.Dispatches()
	for _, n := range perLayer {
		outside -= n
	}
	return perLayer, outside, nil
}

// layerFused records layer l of a one-row batch in five dispatches when q, k, v and gate,
// up are stacked (and O, down whole): QKVFused (RMSNorm, the q/k/v matvec, RoPE, the KV
// cache store), Attention, O with the residual add, SwiGLUFused (RMSNorm, gate and up,
// SiLU·up), down with the residual add — six on CPU adapters, whose attention is
// AttentionSplit's two.
func (e *Engine) layerFused(b *Batch, l int) {
	c, a, ly := e.cfg, &e.act, &e.layers[l]
	mv := MV{T: 1, Norm: true, Eps: c.RMSNormEps, Consts: e.consts}
	if ly.qkv != nil {
		mv.NormOff, mv.BiasOff = ly.attnNormOff, ly.qkvBiasOff
		b.QKVFused(a.q, e.kc[l], e.vc[l], a.meta, a.x, *ly.qkv, e.kvShape, c.NHeads, e.ropeOff, mv)
	} else {
		e.qkvApart(b, l, fwdKey{T: 1}, e.allRows(fwdKey{T: 1}))
	}
	if e.splitAttention() {
		b.AttentionSplit(a.att, a.q, e.kc[l], e.vc[l], a.pos, a.seq, a.part, e.kvShape, 1, c.NHeads, c.SlidingWindow, splitChunks(1))
	} else {
		b.Attention(a.att, a.q, e.kc[l], e.vc[l], a.pos, a.seq, e.kvShape, 1, c.NHeads, c.SlidingWindow)
	}
	ly.o.applyFused(b, a.x, a.att, MV{T: 1})
	if ly.gu != nil {
		mv.NormOff, mv.BiasOff = ly.mlpNormOff, ly.guBiasOff
		b.SwiGLUFused(a.hb3, a.x, *ly.gu, mv)
	} else {
		e.guApart(b, l, fwdKey{T: 1}, e.allRows(fwdKey{T: 1}))
	}
	ly.down.applyFused(b, a.x, a.hb3, MV{T: 1})
}

// attnChunks is the number of chunks AttentionSplit cuts a decode row's positions into.
const attnChunks = 16

// splitChunks is the number of chunks AttentionSplit cuts each row's positions into for
// a batch of T rows: attnChunks for one, fewer for more (a prompt's rows are threads
// enough), so that T·chunks ≤ max(T, attnChunks) and the scratch (acts.part) holds them.
func splitChunks(T int) int { return max(1, attnChunks/T) }

// splitAttention says whether a batch's attention takes AttentionSplit (two dispatches, no
// barrier: CPU adapters, with Dh a multiple of 4) rather than Attention.
func (e *Engine) splitAttention() bool {
	return e.d.cpuLayout() && e.cfg.HeadDim%4 == 0
}

// layerApart records layer l kernel by kernel (batches of more than one row, population
// batches).
//
// The last layer runs its K and V on every row (the cache needs them) and the rest only
// on the rows that give logits, as the CPU engine does (llama.cpp's output ids): a
// prompt's other rows skip its attention, O and MLP.
func (e *Engine) layerApart(b *Batch, l int, k fwdKey) {
	c, a, ly := e.cfg, &e.act, &e.layers[l]
	D := c.Dim
	// attention: x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
	r := e.allRows(k)
	e.qkvApart(b, l, k, r)
	q := a.q
	if l == len(e.layers)-1 && k.nOut < k.T {
		if k.nOut == 0 {
			return // nothing reads the last layer's output
		}
		// The rows that give logits: their queries and residuals gathered (Embed over q
		// and x as tables of T rows), the last layer's output in xOut (record).
		r = rowSet{T: k.nOut, x: a.xOut, pos: a.outPos, seq: a.outSeq, cand: a.outCand}
		b.Embed(a.qOut, a.q, a.outIdx, r.T, c.NHeads*c.HeadDim, k.T)
		b.Embed(a.xOut, a.x, a.outIdx, r.T, D, k.T)
		q = a.qOut
	}
	if e.splitAttention() {
		b.AttentionSplit(a.att, q, e.kc[l], e.vc[l], r.pos, r.seq, a.part, e.kvShape, r.T, c.NHeads, c.SlidingWindow, splitChunks(r.T))
	} else {
		b.Attention(a.att, q, e.kc[l], e.vc[l], r.pos, r.seq, e.kvShape, r.T, c.NHeads, c.SlidingWindow)
	}
	e.apply(b, k, r, ly.o, a.xb2, a.att)
	b.Add(r.x, a.xb2, r.T*D)
	// MLP: x += Down·(silu(Gate·n(x)) ⊙ Up·n(x))
	e.guApart(b, l, k, r)
	e.apply(b, k, r, ly.down, a.xb2, a.hb3)
	b.Add(r.x, a.xb2, r.T*D)
}

// rowSet is the rows a layer's kernels run on: every row of the batch, or only those
// that give logits, gathered (the last layer after its K and V).
type rowSet struct {
	T              int
	x              *Buffer // the residual stream [T, D]
	pos, seq, cand *Buffer // u32 [T]
}

// allRows is every row of a batch of shape k.
func (e *Engine) allRows(k fwdKey) rowSet {
	a := &e.act
	return rowSet{T: k.T, x: a.x, pos: a.pos, seq: a.seq, cand: a.cand}
}

// qkvApart records RMSNorm, the q, k, v matmuls, RoPE and the KV-cache store of layer l.
func (e *Engine) qkvApart(b *Batch, l int, k fwdKey, r rowSet) {
	c, a, ly := e.cfg, &e.act, &e.layers[l]
	b.RMSNorm(a.xb, r.x, ly.attnNorm, r.T, c.Dim, c.RMSNormEps)
	e.apply(b, k, r, ly.q, a.q, a.xb)
	e.apply(b, k, r, ly.k, a.k, a.xb)
	e.apply(b, k, r, ly.v, a.v, a.xb)
	b.Rope(a.q, a.k, e.consts, r.pos, r.T, c.NHeads, c.NKVHeads, c.HeadDim, e.opt.Context)
	b.StoreKV(e.kc[l], e.vc[l], a.k, a.v, r.pos, r.seq, e.kvShape, r.T)
}

// guApart records RMSNorm, the gate and up matmuls and SwiGLU of layer l into hb3.
func (e *Engine) guApart(b *Batch, l int, k fwdKey, r rowSet) {
	c, a, ly := e.cfg, &e.act, &e.layers[l]
	b.RMSNorm(a.xb, r.x, ly.mlpNorm, r.T, c.Dim, c.RMSNormEps)
	e.apply(b, k, r, ly.gate, a.hb, a.xb)
	e.apply(b, k, r, ly.up, a.hb2, a.xb)
	b.SwiGLU(a.hb3, a.hb, a.hb2, r.T*c.FFN)
}

// apply records y = x·Wᵀ + b for matrix m over the rows r: factored under each row's
// candidate in a population batch, else from W (or W', the engine's own or the held
// copy k reads).
func (e *Engine) apply(b *Batch, k fwdKey, r rowSet, m *matrix, y, x *Buffer) {
	switch {
	case k.P > 0 && m.R > 0:
		m.applyPop(b, y, x, e.act.h, r.cand, r.T, k.P)
	case m.R > 0:
		m.apply(b, y, x, r.T, e.heldCopy(k.w))
	default:
		m.apply(b, y, x, r.T, nil)
	}
}

// outputChanged forgets what was read back of the last pass's output rows.
func (e *Engine) outputChanged() {
	e.idsValid = false
	e.hostRows = 0
}

// logitsReadAll bounds, in bytes, the logits Logits reads back at once.
const logitsReadAll = 4 << 20

// Logits copies output row i of the last Forward into dst[V], waiting for the GPU. When
// every output row fits logitsReadAll, the first call reads them all and the others copy
// from there: a first pass's label answers wait once, not once a row (each wait is a
// round trip to the GPU process in a browser).
func (e *Engine) Logits(dst []float32, i int) error {
	if i < 0 || i >= e.nOut {
		return fmt.Errorf("shaders: engine: output row %d of %d", i, e.nOut)
	}
	V := e.cfg.VocabSize
	if len(dst) < V {
		return fmt.Errorf("shaders: engine: Logits into %d values, the vocabulary has %d", len(dst), V)
	}
	n := e.nOut * V
	if e.hostRows == 0 && e.nOut > 1 && 4*n <= logitsReadAll {
		e.hostLogits = slices.Grow(e.hostLogits[:0], n)[:n]
		if err := e.d.ReadF32(e.hostLogits, e.act.logits, 0); err != nil {
			return err
		}
		e.hostRows = e.nOut
	}
	if e.hostRows > 0 {
		copy(dst[:V], e.hostLogits[i*V:(i+1)*V])
		return nil
	}
	return e.d.ReadF32(dst[:V], e.act.logits, uint64(4*i*V))
}

// Sample draws the next token from output row i of the last Forward. Greedy runs on the
// device and reads back only ids (Argmax of every output row at once, on the first
// Sample after a Forward). At a temperature, or with a repetition penalty, the row is
// read back and s.Sample draws from it on the CPU, exactly as model.CPU does — unless
// EngineOptions.DeviceSampling, where the Sample kernel draws with the uniform number the
// sampler would use (model.Sampler.Uniform) and only the id comes back.
func (e *Engine) Sample(i int, s *model.Sampler) (int, error) {
	if i < 0 || i >= e.nOut {
		return 0, fmt.Errorf("shaders: engine: output row %d of %d", i, e.nOut)
	}
	p := s.Params()
	V := e.cfg.VocabSize
	if p.Temperature > 0 && !e.opt.DeviceSampling || p.RepeatPenalty > 0 && p.RepeatPenalty != 1 && len(s.History()) > 0 {
		row := make([]float32, V)
		if err := e.Logits(row, i); err != nil {
			return 0, err
		}
		return s.Sample(row), nil
	}
	a := &e.act
	if p.Temperature <= 0 {
		// The forward pass ended with the argmax of its output rows: read them, once.
		if !e.idsValid {
			if cap(e.ids) < e.nOut {
				e.ids = make([]uint32, e.nOut)
			}
			e.ids = e.ids[:e.nOut]
			if err := e.d.ReadU32(e.ids, a.ids, 0); err != nil {
				return 0, err
			}
			e.idsValid = true
		}
		return int(e.ids[i]), nil
	}
	key := sampleKey{row: i, s: Sampling{Temperature: p.Temperature, TopK: p.TopK, TopP: p.TopP}}
	b := e.samples[key]
	if b == nil {
		b = e.d.NewBatch("sample")
		b.CopyBuffer(a.row, 0, a.logits, uint64(4*i*V), uint64(4*V))
		b.Sample(a.one, a.row, a.u, a.scratch, 1, V, key.s)
		e.samples[key] = b
	}
	if err := e.d.WriteF32(a.u, 0, []float32{float32(s.Uniform())}); err != nil {
		return 0, err
	}
	if err := b.Submit(); err != nil {
		return 0, err
	}
	var id [1]uint32
	if err := e.d.ReadU32(id[:], a.one, 0); err != nil {
		return 0, err
	}
	return int(id[0]), nil
}

// Close releases the engine's buffers and batches (not the device), once the GPU is
// done with them.
func (e *Engine) Close() error {
	if e.d != nil {
		e.d.Sync()
	}
	e.releaseBatches()
	if e.recomp != nil {
		e.recomp.Release()
	}
	e.base.release()
	e.kept.release()
	e.base, e.kept = nil, nil
	e.releasePop()
	e.act.release()
	for _, b := range e.owned {
		b.Release()
	}
	e.owned = nil
	if e.forkTmp != nil {
		e.forkTmp.Release()
		e.forkTmp = nil
	}
	e.capT, e.capOut = 0, 0
	return nil
}

var _ model.Engine = (*Engine)(nil)
