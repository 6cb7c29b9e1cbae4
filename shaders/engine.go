package shaders

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/svf"
)

// EngineOptions size a GPU engine.
type EngineOptions struct {
	MaxSeqs int // KV-cache slots; 1 when 0
	Context int // positions per slot; min(max_position_embeddings, 4096) when 0
	// QuantMerged stores the recomposed W' of an int8 pack's adapted matrices as Q8
	// (RecomposeQ8): a quarter of the memory and int8 matvecs, but W' then differs from
	// the CPU engine's float32 W' by its quantisation error (logits by ~1e-3, not 1e-4).
	// Without it W' is float32, recomposed from the Q8 factors (Recompose).
	QuantMerged bool
	// DeviceSampling draws tokens at a temperature on the device (the Sample kernel, only
	// the id read back) instead of reading the row back and drawing with the sampler on
	// the CPU. The device draw uses the sampler's own random number but sums in float32,
	// so it may pick a neighbouring token where the CPU's float64 sums differ: off by
	// default, so that a seed gives the CPU engine's tokens. Greedy decoding is always on
	// the device.
	DeviceSampling bool
}

// Engine is the GPU engine: a pack's weights, the KV cache and the activations in device
// buffers, the forward pass of model.CPU recorded once per batch shape as kernels of this
// package. Adapted matrices are held merged (ARCHITECTURE §2): their factors U, σ, V stay
// on the device and W' = U·diag(σ⊙z)·Vᵀ·c is recomposed there at load (z = 1) and on
// every SetZ. Per generated token only the token id comes back (Sample); Logits reads
// one row. It implements model.Engine.
type Engine struct {
	d    *Device
	cfg  *model.Config
	opt  EngineOptions
	lens []int // [MaxSeqs] cached positions per sequence, as model.CPU tracks them

	// weights
	embed    matrix // [V, D], f32 or Q8
	lmHead   matrix // [V, D]; the embedding when tied
	norm     *Buffer
	layers   []layer
	adapted  []*matrix // in pack order
	byName   map[string]*matrix
	recomp   *Batch // SVFScale + Recompose of every adapted matrix, from the z buffers
	owned    []*Buffer
	rope     *Buffer // [S, Dh/2, 2] RopeTable
	kc, vc   []*Buffer
	kvShape  KVCache
	capT     int  // rows the activation buffers hold
	capOut   int  // rows the logits buffer holds
	act      acts // activations for capT rows
	forwards map[[2]int]*Batch
	samples  map[sampleKey]*Batch
	argmax   map[int]*Batch

	nOut     int
	ids      []uint32 // argmax of every output row of the last Forward, once asked
	idsValid bool
}

// layer is one transformer block on the device.
type layer struct {
	attnNorm, mlpNorm *Buffer // [D]
	q, k, v, o        *matrix
	gate, up, down    *matrix
}

// matrix is a weight W[out,in] on the device: f32 or Q8, with an optional bias; an
// adapted one also holds its factors, z and the scales s = c·σ⊙z.
type matrix struct {
	name    string
	out, in int
	f32     *Buffer
	q8      Q8
	bias    *Buffer // [out] or nil
	fac     *Factors
	z, s    *Buffer // [R]
}

// apply records y[T,out] = x[T,in]·Wᵀ + b.
func (m *matrix) apply(b *Batch, y, x *Buffer, T int) {
	if m.q8.Q != nil {
		b.MatMulQ8(y, x, m.q8, m.bias, T)
		return
	}
	b.MatMul(y, x, m.f32, m.bias, T, m.in, m.out)
}

// acts are the per-batch activation buffers.
type acts struct {
	x, xb, xb2       *Buffer // [T, D]
	q, att           *Buffer // [T, H·Dh]
	k, v             *Buffer // [T, Hkv·Dh]
	hb, hb2, hb3     *Buffer // [T, F]
	tokens, pos, seq *Buffer // u32 [T]
	outIdx           *Buffer // u32 [T] the rows that give logits
	logits           *Buffer // [capOut, V]
	ids              *Buffer // u32 [capOut]
	row, scratch     *Buffer // [V] one row of logits for Sample, the kernel's scratch
	u, one           *Buffer // f32 [1] the uniform draw, u32 [1] the sampled id
}

type sampleKey struct {
	row int
	s   Sampling
}

// slot is the destination of one stored tensor (or of its Q8 scales): a device buffer
// filled in order, part after part, as the shards arrive.
type slot struct {
	name   string
	buf    *Buffer
	dtype  safetensors.DType
	cols   int    // the stored tensor's second dimension (0 for a vector)
	want   uint64 // bytes of the whole tensor
	filled uint64
	parts  int
	carry  []byte // bytes of an int8 part not yet on a 4-byte boundary
}

// NewEngine loads pack p into the device, shard by shard (each is read, checked against
// its sha256, uploaded and dropped), and recomposes the adapted matrices at z = 1.
func NewEngine(d *Device, p *svf.Pack, opt EngineOptions) (eng *Engine, err error) {
	c := p.Config
	if opt.MaxSeqs <= 0 {
		opt.MaxSeqs = 1
	}
	if opt.Context <= 0 {
		opt.Context = min(c.MaxPositions, 4096)
	}
	if opt.Context > c.MaxPositions {
		return nil, fmt.Errorf("shaders: engine: context %d exceeds max_position_embeddings %d", opt.Context, c.MaxPositions)
	}
	if c.HeadDim%2 != 0 || c.HeadDim > 256 || c.NKVHeads <= 0 || c.NHeads%c.NKVHeads != 0 {
		return nil, fmt.Errorf("shaders: engine: heads H=%d Hkv=%d Dh=%d: the kernels need H a multiple of Hkv and an even Dh ≤ 256: %w",
			c.NHeads, c.NKVHeads, c.HeadDim, model.ErrUnsupported)
	}
	q8 := p.Manifest.Quant == svf.QuantInt8
	if opt.QuantMerged && !q8 {
		return nil, fmt.Errorf("shaders: engine: QuantMerged needs an int8 pack, this one is %s", p.Manifest.Quant)
	}
	e := &Engine{d: d, cfg: c, opt: opt, lens: make([]int, opt.MaxSeqs), byName: map[string]*matrix{},
		forwards: map[[2]int]*Batch{}, samples: map[sampleKey]*Batch{}, argmax: map[int]*Batch{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	slots := map[string]*slot{}
	newBuf := func(name string, size uint64) (*Buffer, error) {
		if size > d.MaxBinding() {
			return nil, fmt.Errorf("shaders: engine: tensor %s is %d bytes, more than the device's largest storage binding, maxStorageBufferBindingSize = %d bytes; splitting a tensor across bindings is not implemented yet",
				name, size, d.MaxBinding())
		}
		b, err := d.NewBuffer(name, size)
		if err != nil {
			return nil, fmt.Errorf("shaders: engine: %w", err)
		}
		e.owned = append(e.owned, b)
		return b, nil
	}
	// addSlot makes the buffer of a stored tensor [rows, cols] (cols 0: a vector of rows).
	addSlot := func(name string, dt safetensors.DType, rows, cols int) (*Buffer, error) {
		n := uint64(rows * max(cols, 1))
		if dt == safetensors.F32 {
			n *= 4
		}
		b, err := newBuf(name, n)
		if err != nil {
			return nil, err
		}
		slots[name] = &slot{name: name, buf: b, dtype: dt, cols: cols, want: n}
		return b, nil
	}
	// addMatrix makes the buffers of a stored matrix: f32, or Q8 (NAME and NAME.scale).
	addMatrix := func(name string, rows, cols int) (f *Buffer, q Q8, err error) {
		if !q8 {
			f, err = addSlot(name, safetensors.F32, rows, cols)
			return f, q, err
		}
		q = Q8{Rows: rows, Cols: cols}
		if q.Q, err = addSlot(name, safetensors.I8, rows, cols); err != nil {
			return nil, q, err
		}
		q.Scale, err = addSlot(name+".scale", safetensors.F32, rows, q.Blocks())
		return nil, q, err
	}

	// Plan: a buffer for every tensor the config needs, as the pack stores it.
	adapted := map[string]bool{}
	for _, name := range p.Manifest.Matrices {
		adapted[name] = true
	}
	mats := map[string]*matrix{}
	vecs := map[string]*Buffer{}
	var w model.Weights
	for _, s := range c.Bind(&w) {
		base := strings.TrimSuffix(s.Name, ".weight")
		switch {
		case len(s.Shape) == 2 && adapted[base]:
			m := &matrix{name: base, out: s.Shape[0], in: s.Shape[1]}
			R, _ := p.Rank(base)
			f := &Factors{M: m.out, N: m.in, R: R}
			if f.UF, f.U, err = addMatrix(base+".U", m.out, R); err != nil {
				return nil, err
			}
			if f.VF, f.V, err = addMatrix(base+".V", m.in, R); err != nil {
				return nil, err
			}
			if f.Sigma, err = addSlot(base+".S", safetensors.F32, R, 0); err != nil {
				return nil, err
			}
			if m.z, err = newBuf(base+".z", uint64(4*R)); err != nil {
				return nil, err
			}
			if m.s, err = newBuf(base+".s", uint64(4*R)); err != nil {
				return nil, err
			}
			if opt.QuantMerged {
				m.q8 = Q8{Rows: m.out, Cols: m.in}
				if m.q8.Q, err = newBuf(base+"'", uint64(m.out*m.in)); err != nil {
					return nil, err
				}
				if m.q8.Scale, err = newBuf(base+"'.scale", uint64(4*m.out*m.q8.Blocks())); err != nil {
					return nil, err
				}
			} else if m.f32, err = newBuf(base+"'", uint64(4*m.out*m.in)); err != nil {
				return nil, err
			}
			m.fac = f
			mats[base] = m
			e.adapted = append(e.adapted, m)
		case len(s.Shape) == 2:
			m := &matrix{name: base, out: s.Shape[0], in: s.Shape[1]}
			if m.f32, m.q8, err = addMatrix(s.Name, m.out, m.in); err != nil {
				return nil, err
			}
			mats[base] = m
		default:
			b, err := addSlot(s.Name, safetensors.F32, s.Shape[0], 0)
			if err != nil {
				return nil, err
			}
			vecs[s.Name] = b
		}
	}
	for name, b := range vecs {
		if base, ok := strings.CutSuffix(name, ".bias"); ok {
			m := mats[base]
			if m == nil {
				return nil, fmt.Errorf("shaders: engine: bias %s without its matrix", name)
			}
			m.bias = b
		}
	}
	e.embed = *mats["model.embed_tokens"]
	if c.TieEmbeddings {
		e.lmHead = e.embed
	} else {
		e.lmHead = *mats["lm_head"]
	}
	e.norm = vecs["model.norm.weight"]
	for l := range c.NLayers {
		pre := fmt.Sprintf("model.layers.%d.", l)
		names := model.MatrixNames(l)
		e.layers = append(e.layers, layer{
			attnNorm: vecs[pre+"input_layernorm.weight"], mlpNorm: vecs[pre+"post_attention_layernorm.weight"],
			q: mats[names[0]], k: mats[names[1]], v: mats[names[2]], o: mats[names[3]],
			gate: mats[names[4]], up: mats[names[5]], down: mats[names[6]],
		})
	}
	for name, m := range mats {
		e.byName[name] = m
	}

	// Load, shard by shard.
	for i := range p.Manifest.Shards {
		if err := e.loadShard(p, i, slots); err != nil {
			return nil, err
		}
	}
	for _, s := range slots {
		if len(s.carry) > 0 {
			pad := append(s.carry, make([]byte, 4-len(s.carry))...)
			if err := d.Write(s.buf, s.filled-uint64(len(s.carry)), pad); err != nil {
				return nil, err
			}
		}
		if s.filled != s.want {
			return nil, fmt.Errorf("pack: tensor %s: %d of its %d bytes are in the shards", s.name, s.filled, s.want)
		}
	}

	// KV cache, RoPE table, recomposition at z = 1.
	kvd := c.NKVHeads * c.HeadDim
	e.kvShape = KVCache{Seqs: opt.MaxSeqs, S: opt.Context, Hkv: c.NKVHeads, Dh: c.HeadDim}
	for l := range c.NLayers {
		kc, err := newBuf(fmt.Sprintf("kv cache %d: k", l), uint64(4*opt.MaxSeqs*opt.Context*kvd))
		if err != nil {
			return nil, err
		}
		vc, err := newBuf(fmt.Sprintf("kv cache %d: v", l), uint64(4*opt.MaxSeqs*opt.Context*kvd))
		if err != nil {
			return nil, err
		}
		e.kc, e.vc = append(e.kc, kc), append(e.vc, vc)
	}
	if e.rope, err = d.NewBufferF32("rope", RopeTable(c.InvFreq(), opt.Context)); err != nil {
		return nil, fmt.Errorf("shaders: engine: %w", err)
	}
	e.owned = append(e.owned, e.rope)
	e.recomp = d.NewBatch("recompose")
	for _, m := range e.adapted {
		e.recomp.SVFScale(m.s, m.fac.Sigma, m.z, 1, m.fac.R)
		if opt.QuantMerged {
			e.recomp.RecomposeQ8(m.q8, *m.fac, m.s)
		} else {
			e.recomp.Recompose(m.f32, *m.fac, m.s)
		}
	}
	if err := e.SetZ(nil); err != nil {
		return nil, err
	}
	return e, nil
}

// loadShard uploads every tensor of shard i into its slot.
func (e *Engine) loadShard(p *svf.Pack, i int, slots map[string]*slot) error {
	data, err := p.ReadShard(i)
	if err != nil {
		return err
	}
	file := p.Manifest.Shards[i].File
	f, err := safetensors.Open(bytes.NewReader(data), int64(len(data)), file)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	for _, t := range f.Tensors() {
		name, part := t.Name, -1
		if h := strings.IndexByte(name, '#'); h >= 0 {
			rest := name[h+1:]
			num, suffix, _ := strings.Cut(rest, ".")
			k, err := strconv.Atoi(num)
			if err != nil {
				return fmt.Errorf("pack: shard %s: tensor %s: bad part number", file, t.Name)
			}
			part, name = k, name[:h]
			if suffix != "" {
				name += "." + suffix
			}
		}
		s := slots[name]
		if s == nil {
			return fmt.Errorf("pack: shard %s: tensor %s is not one the model needs", file, t.Name)
		}
		if t.DType != s.dtype {
			return fmt.Errorf("pack: shard %s: tensor %s is %s, want %s", file, t.Name, t.DType, s.dtype)
		}
		if s.cols > 0 && (len(t.Shape) != 2 || t.Shape[1] != s.cols) || s.cols == 0 && len(t.Shape) != 1 {
			return fmt.Errorf("pack: shard %s: tensor %s has shape %v, want [*, %d]", file, t.Name, t.Shape, s.cols)
		}
		if part >= 0 && part != s.parts {
			return fmt.Errorf("pack: shard %s: tensor %s: part %d arrives after %d parts", file, t.Name, part, s.parts)
		}
		s.parts++
		raw, err := f.Raw(t.Name)
		if err != nil {
			return fmt.Errorf("pack: %w", err)
		}
		if err := e.fill(s, raw); err != nil {
			return err
		}
	}
	return nil
}

// fill appends raw to the slot's buffer, keeping writes on 4-byte boundaries.
func (e *Engine) fill(s *slot, raw []byte) error {
	start := s.filled - uint64(len(s.carry))
	if s.filled+uint64(len(raw)) > s.want {
		return fmt.Errorf("pack: tensor %s: more data than its shape holds (%d bytes)", s.name, s.want)
	}
	buf := raw
	if len(s.carry) > 0 {
		buf = append(s.carry, raw...)
	}
	n := len(buf) &^ 3
	if err := e.d.Write(s.buf, start, buf[:n]); err != nil {
		return fmt.Errorf("pack: tensor %s: %w", s.name, err)
	}
	s.carry = append([]byte(nil), buf[n:]...)
	s.filled += uint64(len(raw))
	return nil
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

// SetZ uploads every adapted matrix's z (1 for those z does not name) and recomposes
// them all on the device; see model.Engine.
func (e *Engine) SetZ(z map[string][]float32) error {
	for name, v := range z {
		m := e.byName[name]
		switch {
		case m == nil:
			return fmt.Errorf("shaders: engine: z for %s: the model has no such matrix", name)
		case m.fac == nil:
			return fmt.Errorf("shaders: engine: z for %s: the matrix is not adapted (not a target of the pack)", name)
		case len(v) != m.fac.R:
			return fmt.Errorf("shaders: engine: z for %s has %d values, the matrix has rank %d", name, len(v), m.fac.R)
		}
	}
	for _, m := range e.adapted {
		v := z[m.name]
		if v == nil {
			v = make([]float32, m.fac.R)
			for i := range v {
				v[i] = 1
			}
		}
		if err := e.d.WriteF32(m.z, 0, v); err != nil {
			return err
		}
	}
	if len(e.adapted) == 0 {
		return nil
	}
	return e.recomp.Submit()
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
	a.tokens, a.pos, a.seq, a.outIdx = mk("tokens", capT), mk("pos", capT), mk("seq", capT), mk("out rows", capT)
	a.logits, a.ids = mk("logits", capOut*V), mk("ids", capOut)
	a.row, a.scratch = mk("row", V), mk("sample scratch", V)
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
	for _, b := range []*Buffer{a.x, a.xb, a.xb2, a.q, a.att, a.k, a.v, a.hb, a.hb2, a.hb3,
		a.tokens, a.pos, a.seq, a.outIdx, a.logits, a.ids, a.row, a.scratch, a.u, a.one} {
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
	for k, b := range e.argmax {
		b.Release()
		delete(e.argmax, k)
	}
}

// Forward uploads the batch's ids, positions and sequences and submits the forward
// pass recorded for its shape; see model.Engine. It does not wait for the GPU.
func (e *Engine) Forward(b *model.Batch) error {
	nOut, err := b.Check(e.cfg.VocabSize, e.opt.Context, e.lens)
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
	rows := make([]uint32, 0, nOut)
	for t, want := range b.Logits {
		if want {
			rows = append(rows, uint32(t))
		}
	}
	a := &e.act
	for _, w := range []struct {
		buf *Buffer
		x   []uint32
	}{{a.tokens, u32(b.Tokens)}, {a.pos, u32(b.Pos)}, {a.seq, u32(b.Seq)}, {a.outIdx, rows}} {
		if err := e.d.WriteU32(w.buf, 0, w.x); err != nil {
			return err
		}
	}
	key := [2]int{T, nOut}
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
		fb = e.record(T, nOut)
		e.forwards[key] = fb
	}
	e.idsValid = false
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

// record records the forward pass of T rows with nOut output rows, model.CPU.Forward's
// steps in the same order.
func (e *Engine) record(T, nOut int) *Batch {
	c, a := e.cfg, &e.act
	D, H, Hkv, Dh, F, V := c.Dim, c.NHeads, c.NKVHeads, c.HeadDim, c.FFN, c.VocabSize
	b := e.d.NewBatch(fmt.Sprintf("forward T=%d out=%d", T, nOut))
	if e.embed.q8.Q != nil {
		b.EmbedQ8(a.x, e.embed.q8, a.tokens, T)
	} else {
		b.Embed(a.x, e.embed.f32, a.tokens, T, D, V)
	}
	for l := range e.layers {
		ly := &e.layers[l]
		// attention: x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
		b.RMSNorm(a.xb, a.x, ly.attnNorm, T, D, c.RMSNormEps)
		ly.q.apply(b, a.q, a.xb, T)
		ly.k.apply(b, a.k, a.xb, T)
		ly.v.apply(b, a.v, a.xb, T)
		b.Rope(a.q, a.k, e.rope, a.pos, T, H, Hkv, Dh, e.opt.Context)
		b.StoreKV(e.kc[l], e.vc[l], a.k, a.v, a.pos, a.seq, e.kvShape, T)
		b.Attention(a.att, a.q, e.kc[l], e.vc[l], a.pos, a.seq, e.kvShape, T, H, c.SlidingWindow)
		ly.o.apply(b, a.xb2, a.att, T)
		b.Add(a.x, a.xb2, T*D)
		// MLP: x += Down·(silu(Gate·n(x)) ⊙ Up·n(x))
		b.RMSNorm(a.xb, a.x, ly.mlpNorm, T, D, c.RMSNormEps)
		ly.gate.apply(b, a.hb, a.xb, T)
		ly.up.apply(b, a.hb2, a.xb, T)
		b.SwiGLU(a.hb3, a.hb, a.hb2, T*F)
		ly.down.apply(b, a.xb2, a.hb3, T)
		b.Add(a.x, a.xb2, T*D)
	}
	// Output rows: gather the rows that asked for logits (Embed over x as a table of T
	// rows), final norm, lm_head.
	b.Embed(a.xb2, a.x, a.outIdx, nOut, D, T)
	b.RMSNorm(a.xb, a.xb2, e.norm, nOut, D, c.RMSNormEps)
	e.lmHead.apply(b, a.logits, a.xb, nOut)
	return b
}

// Logits copies output row i of the last Forward into dst[V], waiting for the GPU.
func (e *Engine) Logits(dst []float32, i int) error {
	if i < 0 || i >= e.nOut {
		return fmt.Errorf("shaders: engine: output row %d of %d", i, e.nOut)
	}
	V := e.cfg.VocabSize
	if len(dst) < V {
		return fmt.Errorf("shaders: engine: Logits into %d values, the vocabulary has %d", len(dst), V)
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
		if !e.idsValid {
			b := e.argmax[e.nOut]
			if b == nil {
				b = e.d.NewBatch("argmax")
				b.Argmax(a.ids, a.logits, e.nOut, V)
				e.argmax[e.nOut] = b
			}
			if err := b.Submit(); err != nil {
				return 0, err
			}
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
	e.act.release()
	for _, b := range e.owned {
		b.Release()
	}
	e.owned = nil
	e.capT, e.capOut = 0, 0
	return nil
}

var _ model.Engine = (*Engine)(nil)
