package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
)

// Float is the element type of a Model: float32 to train, float64 to check gradients.
type Float interface{ ~float32 | ~float64 }

// Options shapes a Model.
type Options struct {
	B, T    int    // a batch is B sequences of T tokens, each starting at position 0
	Seed    uint64 // initialisation; see New
	Workers int    // goroutines for the matmuls and attention; GOMAXPROCS when 0
	// MatMul, when set (float32 models only), runs every matmul (attention's small
	// ones too) as its MatMulF32, with the transposes that form needs, on one worker
	// (Workers is then 1: the transposes share scratch): the page's WebAssembly SIMD
	// kernels, where Go's own loops are several times slower, and wasm has one thread.
	// nil: the package's gemm on Workers goroutines.
	MatMul model.Kernels
}

// Model is a Llama-family model being trained, llm.c's GPT2 struct: the parameters and
// their gradients as one flat slice each, carved into a view per tensor kind, and the
// activations of one batch, planned once. Nothing is allocated per step.
//
// A step is ZeroGrad, Forward (the loss), Backward (gradients added to Grads) and an
// optimiser update of Params (AdamW.Update). A Model is not safe for concurrent use.
type Model[E Float] struct {
	Config *model.Config
	B, T   int
	Params []E // every weight; see Tensors for where each Hugging Face tensor lies
	Grads  []E // dloss/dParams, the same layout

	params, grads paramTensors[E]
	acts          activations[E]
	dacts         gradActivations[E]
	rope          rope[E]
	k             *kernels[E]
	tensors       []Tensor

	inputs, targets []int // [N] of the last Forward
	hasTargets      bool
}

// Tensor places one Hugging Face tensor of the model in Params:
// Params[Offset : Offset+product(Shape)], row-major, in model.Config.Bind's order and
// names (no lm_head.weight when the embeddings are tied).
type Tensor struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int    `json:"offset"`
}

// Len is the number of elements of t.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// paramTensors views Params (or Grads) by kind, llm.c's ParameterTensors: each kind of
// every layer together.
type paramTensors[E Float] struct {
	wte      []E // [V, D] model.embed_tokens
	ln1w     []E // [L, D] input_layernorm
	qkvw     []E // [L, QKV, D] q_proj | k_proj | v_proj
	qkvb     []E // [L, QKV] their biases; nil without QKVBias
	attprojw []E // [L, D, Q] o_proj
	attprojb []E // [L, D] its bias; nil without OBias
	ln2w     []E // [L, D] post_attention_layernorm
	fcw      []E // [L, 2F, D] gate_proj | up_proj
	fcprojw  []E // [L, D, F] down_proj
	lnfw     []E // [D] model.norm
	lmhead   []E // [V, D] lm_head; wte when tied
}

// activations is what the forward pass keeps for the backward pass, llm.c's
// ActivationTensors; one allocation.
type activations[E Float] struct {
	encoded   []E // [N, D] embedding rows, the residual stream into layer 0
	ln1       []E // [L, N, D] input_layernorm output
	ln1rstd   []E // [L, N]
	qkv       []E // [L, N, QKV] q | k | v, biased, q and k rotated
	att       []E // [L, B, H, T, T] attention weights
	atty      []E // [L, N, Q] attention output, o_proj's input
	residual2 []E // [L, N, D] residual stream after attention
	ln2       []E // [L, N, D] post_attention_layernorm output
	ln2rstd   []E // [L, N]
	fc        []E // [L, N, 2F] gate | up
	fch       []E // [L, N, F] silu(gate)⊙up, down_proj's input
	residual3 []E // [L, N, D] residual stream after the MLP: the layer's output
	lnf       []E // [N, D] final norm output
	lnfrstd   []E // [N]
	logits    []E // [N, V]
	probs     []E // [N, V] softmax(logits)
	losses    []E // [N] cross-entropy per row
	proj      []E // [N, D] o_proj or down_proj output before the residual add
}

// gradActivations holds the gradients w.r.t. activations of one layer at a time, reused
// from layer to layer; one allocation.
type gradActivations[E Float] struct {
	dresidual  []E // [N, D] gradient w.r.t. the residual stream
	dln        []E // [N, D] w.r.t. a norm's output
	dqkv       []E // [N, QKV]
	datty      []E // [N, Q]
	dfc        []E // [N, 2F]
	dfch       []E // [N, F]
	dlogits    []E // [N, V]
	dlosses    []E // [N] weight of each row's loss in the mean
	attScratch []E // [B*H, attnForwardScratch] or [B*Hkv, attnBackwardScratch], attention's scratch
}

// slot is one buffer of a plan: where its view goes and its length.
type slot[E Float] struct {
	view *[]E
	n    int
}

// carve allocates the buffers of a plan as one slice and points each view at its part.
// A slot of length 0 gets nil.
func carve[E Float](plan []slot[E]) []E {
	total := 0
	for _, s := range plan {
		total += s.n
	}
	mem := make([]E, total)
	off := 0
	for _, s := range plan {
		*s.view = nil
		if s.n > 0 {
			*s.view = mem[off : off+s.n : off+s.n]
		}
		off += s.n
	}
	return mem
}

// dims are the sizes of a config in the package legend.
type dims struct {
	L, D, V, H, Hkv, Dh, Q, KV, QKV, F int
}

func dimsOf(c *model.Config) dims {
	q, kv := c.NHeads*c.HeadDim, c.NKVHeads*c.HeadDim
	return dims{L: c.NLayers, D: c.Dim, V: c.VocabSize, H: c.NHeads, Hkv: c.NKVHeads, Dh: c.HeadDim,
		Q: q, KV: kv, QKV: q + 2*kv, F: c.FFN}
}

// paramPlan lists the parameter tensors of c, llm.c's fill_in_parameter_sizes.
func paramPlan[E Float](c *model.Config, p *paramTensors[E]) []slot[E] {
	d := dimsOf(c)
	var qkvb, attprojb, lmhead int
	if c.QKVBias {
		qkvb = d.L * d.QKV
	}
	if c.OBias {
		attprojb = d.L * d.D
	}
	if !c.TieEmbeddings {
		lmhead = d.V * d.D
	}
	return []slot[E]{
		{&p.wte, d.V * d.D}, {&p.ln1w, d.L * d.D}, {&p.qkvw, d.L * d.QKV * d.D}, {&p.qkvb, qkvb},
		{&p.attprojw, d.L * d.D * d.Q}, {&p.attprojb, attprojb}, {&p.ln2w, d.L * d.D},
		{&p.fcw, d.L * 2 * d.F * d.D}, {&p.fcprojw, d.L * d.D * d.F}, {&p.lnfw, d.D}, {&p.lmhead, lmhead},
	}
}

// activationPlan lists the activations for batches of B×T, llm.c's
// fill_in_activation_sizes.
func activationPlan[E Float](c *model.Config, B, T int, a *activations[E]) []slot[E] {
	d, N := dimsOf(c), B*T
	L := d.L
	return []slot[E]{
		{&a.encoded, N * d.D}, {&a.ln1, L * N * d.D}, {&a.ln1rstd, L * N}, {&a.qkv, L * N * d.QKV},
		{&a.att, L * B * d.H * T * T}, {&a.atty, L * N * d.Q}, {&a.residual2, L * N * d.D},
		{&a.ln2, L * N * d.D}, {&a.ln2rstd, L * N}, {&a.fc, L * N * 2 * d.F}, {&a.fch, L * N * d.F},
		{&a.residual3, L * N * d.D}, {&a.lnf, N * d.D}, {&a.lnfrstd, N}, {&a.logits, N * d.V},
		{&a.probs, N * d.V}, {&a.losses, N}, {&a.proj, N * d.D},
	}
}

func gradActivationPlan[E Float](c *model.Config, B, T int, g *gradActivations[E]) []slot[E] {
	d, N := dimsOf(c), B*T
	return []slot[E]{
		{&g.dresidual, N * d.D}, {&g.dln, N * d.D}, {&g.dqkv, N * d.QKV}, {&g.datty, N * d.Q},
		{&g.dfc, N * 2 * d.F}, {&g.dfch, N * d.F}, {&g.dlogits, N * d.V}, {&g.dlosses, N},
		{&g.attScratch, max(B*d.H*attnForwardScratch(T, d.Dh), B*d.Hkv*attnBackwardScratch(T, d.Dh))},
	}
}

// kernels is what the parallel layers share: the worker pool, a transpose buffer and
// the task of each parallel layer kind, kept here so that starting one allocates nothing.
type kernels[E Float] struct {
	pool       *pool
	simd       bool // float32 with the vector gemm (GOEXPERIMENT=simd on amd64 with AVX2+FMA)
	scratch    []E
	ext        *extMatMul // Options.MatMul's path, nil without
	gemmTask   gemmTask[E]
	attTask    attentionTask[E]
	normTask   normTask[E]
	swigluTask swigluTask[E]
}

// New makes a Model for c with weights drawn as GPT-2 does, the same for the same seed:
// matrices and embeddings from N(0, 0.02²), the residual projections (o_proj, down_proj)
// from N(0, (0.02/√(2L))²), norms 1, biases 0.
func New[E Float](c *model.Config, opt Options) (*Model[E], error) {
	if c == nil {
		return nil, errors.New("train: nil config")
	}
	if opt.B <= 0 || opt.T <= 0 {
		return nil, fmt.Errorf("train: batch B=%d T=%d, want both > 0", opt.B, opt.T)
	}
	if opt.T > c.MaxPositions {
		return nil, fmt.Errorf("train: T=%d exceeds max_position_embeddings %d", opt.T, c.MaxPositions)
	}
	d := dimsOf(c)
	if d.Hkv <= 0 || d.H%d.Hkv != 0 || d.Dh%2 != 0 {
		return nil, fmt.Errorf("train: heads %d/%d with head_dim %d: want Hkv dividing H and an even head_dim", d.H, d.Hkv, d.Dh)
	}
	m := &Model[E]{Config: c, B: opt.B, T: opt.T}
	m.Params = carve(paramPlan(c, &m.params))
	m.Grads = carve(paramPlan(c, &m.grads))
	if c.TieEmbeddings {
		m.params.lmhead, m.grads.lmhead = m.params.wte, m.grads.wte
	}
	carve(activationPlan(c, opt.B, opt.T, &m.acts))
	carve(gradActivationPlan(c, opt.B, opt.T, &m.dacts))
	N := opt.B * opt.T
	m.inputs, m.targets = make([]int, N), make([]int, N)
	m.rope = newRope[E](c, opt.T)
	// The transpose buffer: the largest weight (vector forward) or output gradient.
	scratch := max(d.V, d.QKV, 2*d.F, d.D) * max(N, d.D, d.F, d.Q)
	if opt.MatMul != nil {
		opt.Workers = 1
	}
	m.k = &kernels[E]{pool: newPool(opt.Workers), simd: useVector[E](), scratch: make([]E, scratch)}
	if opt.MatMul != nil {
		var e E
		if unsafe.Sizeof(e) != 4 {
			return nil, errors.New("train: Options.MatMul runs float32 models only")
		}
		m.k.ext, m.k.simd = &extMatMul{k: opt.MatMul}, false
	}
	runtime.AddCleanup(m, func(p *pool) { p.close() }, m.k.pool)
	if err := m.layout(); err != nil {
		m.Close()
		return nil, err
	}
	m.init(opt.Seed)
	return m, nil
}

// Close stops the model's worker goroutines (which a model also does when it is
// garbage-collected); the model must not be used after.
func (m *Model[E]) Close() {
	if m.k != nil && m.k.pool != nil {
		m.k.pool.close()
	}
}

// useVector reports whether Model[E] runs the vector kernels: float32 in a build that has them.
func useVector[E Float]() bool {
	var e E
	return unsafe.Sizeof(e) == 4 && haveVector
}

// layout finds each Hugging Face tensor of the config in Params.
func (m *Model[E]) layout() error {
	c, d := m.Config, dimsOf(m.Config)
	base := func(view []E) int {
		if len(view) == 0 {
			return -1
		}
		return int(uintptr(unsafe.Pointer(&view[0]))-uintptr(unsafe.Pointer(&m.Params[0]))) / int(unsafe.Sizeof(view[0]))
	}
	p := &m.params
	var w model.Weights
	covered := 0
	for _, s := range c.Bind(&w) {
		t := Tensor{Name: s.Name, Shape: s.Shape, Offset: -1}
		var layer int
		var rest string
		if after, ok := strings.CutPrefix(s.Name, "model.layers."); ok {
			if _, err := fmt.Sscanf(after, "%d.", &layer); err != nil {
				return fmt.Errorf("train: tensor %s: %v", s.Name, err)
			}
			rest = after[strings.IndexByte(after, '.')+1:]
		}
		at := func(view []E, stride, off int) int { return base(view) + layer*stride + off }
		switch {
		case s.Name == "model.embed_tokens.weight":
			t.Offset = base(p.wte)
		case s.Name == "model.norm.weight":
			t.Offset = base(p.lnfw)
		case s.Name == "lm_head.weight":
			t.Offset = base(p.lmhead)
		case rest == "input_layernorm.weight":
			t.Offset = at(p.ln1w, d.D, 0)
		case rest == "post_attention_layernorm.weight":
			t.Offset = at(p.ln2w, d.D, 0)
		case rest == "self_attn.q_proj.weight":
			t.Offset = at(p.qkvw, d.QKV*d.D, 0)
		case rest == "self_attn.k_proj.weight":
			t.Offset = at(p.qkvw, d.QKV*d.D, d.Q*d.D)
		case rest == "self_attn.v_proj.weight":
			t.Offset = at(p.qkvw, d.QKV*d.D, (d.Q+d.KV)*d.D)
		case rest == "self_attn.q_proj.bias":
			t.Offset = at(p.qkvb, d.QKV, 0)
		case rest == "self_attn.k_proj.bias":
			t.Offset = at(p.qkvb, d.QKV, d.Q)
		case rest == "self_attn.v_proj.bias":
			t.Offset = at(p.qkvb, d.QKV, d.Q+d.KV)
		case rest == "self_attn.o_proj.weight":
			t.Offset = at(p.attprojw, d.D*d.Q, 0)
		case rest == "self_attn.o_proj.bias":
			t.Offset = at(p.attprojb, d.D, 0)
		case rest == "mlp.gate_proj.weight":
			t.Offset = at(p.fcw, 2*d.F*d.D, 0)
		case rest == "mlp.up_proj.weight":
			t.Offset = at(p.fcw, 2*d.F*d.D, d.F*d.D)
		case rest == "mlp.down_proj.weight":
			t.Offset = at(p.fcprojw, d.D*d.F, 0)
		}
		if t.Offset < 0 || t.Offset+t.Len() > len(m.Params) {
			return fmt.Errorf("train: tensor %s %v has no place in the parameters", s.Name, s.Shape)
		}
		covered += t.Len()
		m.tensors = append(m.tensors, t)
	}
	if covered != len(m.Params) {
		return fmt.Errorf("train: the config's tensors hold %d weights, the parameters %d", covered, len(m.Params))
	}
	return nil
}

// Tensors lists every Hugging Face tensor of the model and where it lies in Params (and,
// at the same offsets, in Grads).
func (m *Model[E]) Tensors() []Tensor { return m.tensors }

// MatrixSpans returns the [start, end) ranges of Params that hold matrices — embeddings,
// lm_head and the projections — and not norms or biases: where weight decay applies.
// The ranges are sorted, and adjacent ones merged.
func (m *Model[E]) MatrixSpans() [][2]int {
	var s [][2]int
	for _, t := range m.tensors {
		if len(t.Shape) == 2 {
			s = append(s, [2]int{t.Offset, t.Offset + t.Len()})
		}
	}
	slices.SortFunc(s, func(a, b [2]int) int { return a[0] - b[0] })
	merged := s[:0]
	for _, r := range s {
		if n := len(merged); n > 0 && merged[n-1][1] == r[0] {
			merged[n-1][1] = r[1]
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func (m *Model[E]) init(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x747261696e))
	resid := 0.02 / math.Sqrt(2*float64(m.Config.NLayers))
	for _, t := range m.tensors {
		x := m.Params[t.Offset : t.Offset+t.Len()]
		switch {
		case len(t.Shape) == 2:
			std := 0.02
			if strings.HasSuffix(t.Name, "o_proj.weight") || strings.HasSuffix(t.Name, "down_proj.weight") {
				std = resid
			}
			for i := range x {
				x[i] = E(rng.NormFloat64() * std)
			}
		case strings.HasSuffix(t.Name, "norm.weight"):
			for i := range x {
				x[i] = 1
			}
		default:
			clear(x)
		}
	}
}

// Weights returns the model's weights as package model holds them, for model.NewCPU or
// to write a checkpoint. For a Model[float32] the slices are Params itself: an optimiser
// step changes them.
func (m *Model[E]) Weights() *model.Weights {
	w := &model.Weights{}
	p32, alias := any(m.Params).([]float32)
	for i, s := range m.Config.Bind(w) {
		t := m.tensors[i]
		if alias {
			*s.Data = p32[t.Offset : t.Offset+t.Len() : t.Offset+t.Len()]
			continue
		}
		x := make([]float32, t.Len())
		for j, v := range m.Params[t.Offset : t.Offset+t.Len()] {
			x[j] = float32(v)
		}
		*s.Data = x
	}
	if m.Config.TieEmbeddings {
		w.LMHead = w.Embed
	}
	return w
}

// SetWeights copies w, weights of the model's config with every matrix dense, into
// Params. A missing tensor, a wrong length or an adapted (non-dense) matrix is an error
// naming the tensor.
func (m *Model[E]) SetWeights(w *model.Weights) error {
	src := map[string][]float32{"model.embed_tokens.weight": w.Embed, "model.norm.weight": w.Norm}
	if !m.Config.TieEmbeddings {
		src["lm_head.weight"] = w.LMHead
	}
	for i, l := range w.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		src[p+"input_layernorm.weight"] = l.AttnNorm
		src[p+"post_attention_layernorm.weight"] = l.MLPNorm
		for j, lin := range []model.Linear{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			name := model.MatrixNames(i)[j]
			d, ok := lin.(*model.Dense)
			if !ok {
				return fmt.Errorf("train: weights: %s is %T, want *model.Dense", name, lin)
			}
			src[name+".weight"] = d.W
			if d.B != nil {
				src[name+".bias"] = d.B
			}
		}
	}
	for _, t := range m.tensors {
		x, ok := src[t.Name]
		if !ok {
			return fmt.Errorf("train: weights: tensor %s is missing", t.Name)
		}
		if len(x) != t.Len() {
			return fmt.Errorf("train: weights: tensor %s has %d values, want %d (shape %v)", t.Name, len(x), t.Len(), t.Shape)
		}
		for j, v := range x {
			m.Params[t.Offset+j] = E(v)
		}
	}
	return nil
}

// WriteSafetensors writes the weights as one Hugging Face safetensors file of float32
// tensors (the model.safetensors of a checkpoint folder that model.Load reads), with
// metadata {"format": "pt"}.
func (m *Model[E]) WriteSafetensors(w io.Writer) error {
	ts := make([]safetensors.Tensor, len(m.tensors))
	for i, t := range m.tensors {
		x := make([]float32, t.Len())
		for j, v := range m.Params[t.Offset : t.Offset+t.Len()] {
			x[j] = float32(v)
		}
		ts[i] = safetensors.Tensor{Name: t.Name, DType: "F32", Shape: t.Shape, Data: safetensors.Float32Bytes(x)}
	}
	return safetensors.Write(w, ts, map[string]string{"format": "pt"})
}
