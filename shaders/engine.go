package shaders

import (
	"bytes"
	"fmt"
	"slices"
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
	// MaxBinding caps, in bytes, each part of a weight matrix split by rows (the
	// embedding and lm_head of a large vocabulary, big MLP matrices): 0, or more than the
	// device's largest storage binding (Device.MaxBinding), means the device's. Tests lower
	// it so that small models split. What is not split (activations, the KV cache, an
	// adapted matrix's V and σ) must fit the device's limit.
	MaxBinding uint64
}

// Engine is the GPU engine: a pack's weights, the KV cache and the activations in device
// buffers, the forward pass of model.CPU recorded once per batch shape as kernels of this
// package. Adapted matrices are held merged (ARCHITECTURE §2): their factors U, σ, V stay
// on the device and W' = U·diag(σ⊙z)·Vᵀ·c is recomposed there at load (z = 1) and on
// every SetZ. Per generated token only the token id comes back (Sample); Logits reads
// one row. Population batches (model.Batch.Cand, SetPopulation) run the adapted matrices
// factored instead, every row with its candidate's scales (FactoredDown, then U per
// part). A weight larger than one storage binding is held in parts of whole rows, each
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

	rope     *Buffer // [S, Dh/2, 2] RopeTable
	kc, vc   []*Buffer
	forkTmp  *Buffer // Fork's scratch: one sequence's cached K and V of every layer
	kvShape  KVCache
	capT     int  // rows the activation buffers hold
	capOut   int  // rows the logits buffer holds
	act      acts // activations for capT rows
	forwards map[fwdKey]*Batch
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

// fwdKey is the shape of a recorded forward pass: rows, output rows, and the
// population size of a population batch (0 for a plain one).
type fwdKey struct{ T, nOut, P int }

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
	R          int     // rank of an adapted matrix; 0 for the others
	z, s       *Buffer // [R]
	popZ, popS *Buffer // [popCap, R]
}

// part is rows r0…r0+rows−1 of a matrix: W (or W') as f32 or Q8 [rows, in], and for an
// adapted matrix the factors of these rows (U's rows; V, σ whole).
type part struct {
	r0, rows int
	f32      *Buffer
	q8       Q8
	fac      Factors
}

// apply records y[T,out] = x[T,in]·Wᵀ + b, part by part.
func (m *matrix) apply(b *Batch, y, x *Buffer, T int) {
	for _, p := range m.parts {
		if p.q8.Q != nil {
			b.MatMulQ8Part(y, x, p.q8, m.bias, T, m.out, p.r0)
		} else {
			b.MatMulPart(y, x, p.f32, m.bias, T, m.in, p.rows, m.out, p.r0)
		}
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
		if p.q8.Q != nil {
			b.EmbedQ8Part(dst, p.q8, tokens, T, p.r0, keep)
		} else {
			b.EmbedPart(dst, p.f32, tokens, T, m.in, p.rows, p.r0, keep)
		}
	}
}

// recompose records W' = U·diag(s)·Vᵀ of an adapted matrix into its parts.
func (m *matrix) recompose(b *Batch) {
	for _, p := range m.parts {
		if p.q8.Q != nil {
			b.RecomposeQ8(p.q8, p.fac, m.s)
		} else {
			b.Recompose(p.f32, p.fac, m.s)
		}
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
	cand             *Buffer // u32 [T] candidate of every row of a population batch
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

// slot is the destination of one stored tensor (or of its Q8 scales): device buffers
// (the parts of a tensor split by rows, each partBytes but the last) filled in order,
// as the shards arrive.
type slot struct {
	name      string
	bufs      []*Buffer
	partBytes uint64
	dtype     safetensors.DType
	cols      int    // the stored tensor's second dimension (0 for a vector)
	want      uint64 // bytes of the whole tensor
	filled    uint64
	parts     int
	carry     []byte // bytes of an int8 part not yet on a 4-byte boundary
	join      *exactJoin
}

// exactJoin makes an f32 factor X.U [rows, r] of a pack with an exact rank k from the
// tensors that store it, row range by row range: X.U.hi [rows, k] f32 and X.U
// [rows, r-k] with X.U.scale in Q8 (svf.Manifest.ExactRank). The shard writer keeps the
// three of a row range in one shard.
type exactJoin struct {
	k, r  int
	q     []int8    // [rows, r-k]
	scale []float32 // [rows, Q8Blocks(r-k)]
	hi    []float32 // [rows, k]
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
	// With an exact rank the factors are joined into f32 on the host (exactJoin): the
	// kernels read a factor as one dtype.
	factorQ8 := q8 && p.Manifest.ExactRank == 0
	if opt.QuantMerged && !q8 {
		return nil, fmt.Errorf("shaders: engine: QuantMerged needs an int8 pack, this one is %s", p.Manifest.Quant)
	}
	e := &Engine{d: d, cfg: c, opt: opt, lens: make([]int, opt.MaxSeqs), byName: map[string]*matrix{},
		forwards: map[fwdKey]*Batch{}, samples: map[sampleKey]*Batch{}, argmax: map[int]*Batch{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	limit := d.MaxBinding() // of one part of a weight split by rows
	if opt.MaxBinding > 0 {
		limit = min(limit, opt.MaxBinding)
	}
	slots := map[string]*slot{}
	newBuf := func(name string, size uint64) (*Buffer, error) {
		if size > d.MaxBinding() {
			return nil, fmt.Errorf("shaders: engine: %s is %d bytes, more than the device's largest storage binding, maxStorageBufferBindingSize = %d bytes, and the engine does not split it",
				name, size, d.MaxBinding())
		}
		b, err := d.NewBuffer(name, size)
		if err != nil {
			return nil, fmt.Errorf("shaders: engine: %w", err)
		}
		e.owned = append(e.owned, b)
		return b, nil
	}
	// addSlot makes the buffers of a stored tensor [rows, cols] (cols 0: a vector of
	// rows), in parts of partRows rows (0: whole).
	addSlot := func(name string, dt safetensors.DType, rows, cols, partRows int) ([]*Buffer, error) {
		rowBytes := uint64(max(cols, 1))
		if dt == safetensors.F32 {
			rowBytes *= 4
		}
		if partRows <= 0 || partRows > rows {
			partRows = rows
		}
		s := &slot{name: name, dtype: dt, cols: cols, want: uint64(rows) * rowBytes, partBytes: uint64(partRows) * rowBytes}
		for r0 := 0; r0 < rows; r0 += partRows {
			label := name
			if partRows < rows {
				label = fmt.Sprintf("%s rows %d…", name, r0)
			}
			b, err := newBuf(label, uint64(min(partRows, rows-r0))*rowBytes)
			if err != nil {
				return nil, err
			}
			s.bufs = append(s.bufs, b)
		}
		slots[name] = s
		return s.bufs, nil
	}
	// addParts fills the parts of a stored matrix [rows, cols]: f32, or Q8 (NAME and
	// NAME.scale) when quant, in parts of partRows rows (0: whole).
	addParts := func(parts []part, name string, rows, cols, partRows int, quant bool, set func(p *part, f *Buffer, q Q8)) error {
		if !quant {
			bufs, err := addSlot(name, safetensors.F32, rows, cols, partRows)
			for i, b := range bufs {
				set(&parts[i], b, Q8{})
			}
			return err
		}
		qs, err := addSlot(name, safetensors.I8, rows, cols, partRows)
		if err != nil {
			return err
		}
		ss, err := addSlot(name+".scale", safetensors.F32, rows, (cols+31)/32, partRows)
		if err != nil {
			return err
		}
		for i := range parts {
			set(&parts[i], nil, Q8{Q: qs[i], Scale: ss[i], Rows: parts[i].rows, Cols: cols})
		}
		return nil
	}

	// Plan: a buffer for every tensor the config needs, as the pack stores it, split by
	// rows where it is larger than the limit.
	adapted := map[string]bool{}
	for _, name := range p.Manifest.Matrices {
		adapted[name] = true
	}
	// rowBytes are the bytes of one row of an f32 or Q8 matrix with cols columns.
	rowBytes := func(quant bool, cols int) []uint64 {
		if !quant {
			return []uint64{4 * uint64(cols)}
		}
		return []uint64{uint64(cols), 4 * uint64((cols+31)/32)}
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
			m.R = R
			e.maxR = max(e.maxR, R)
			// W' and U are split at the same rows; V and σ stay whole.
			wq := opt.QuantMerged
			partRows, err := splitRows(base, m.out, append(rowBytes(wq, m.in), rowBytes(factorQ8, R)...), q8Align(wq, m.in, factorQ8, R), limit)
			if err != nil {
				return nil, err
			}
			m.parts = makeParts(m.out, partRows)
			var f Factors
			if err := addParts(m.parts, base+".U", m.out, R, partRows, factorQ8, func(p *part, u *Buffer, q Q8) { p.fac.UF, p.fac.U = u, q }); err != nil {
				return nil, err
			}
			vp := []part{{rows: m.in}}
			if err := addParts(vp, base+".V", m.in, R, 0, factorQ8, func(p *part, v *Buffer, q Q8) { f.VF, f.V = v, q }); err != nil {
				return nil, err
			}
			if k := p.Manifest.ExactRank; k > 0 {
				slots[base+".U"].join = &exactJoin{k: k, r: R}
				slots[base+".V"].join = &exactJoin{k: k, r: R}
			}
			sig, err := addSlot(base+".S", safetensors.F32, R, 0, 0)
			if err != nil {
				return nil, err
			}
			f.Sigma = sig[0]
			if m.z, err = newBuf(base+".z", uint64(4*R)); err != nil {
				return nil, err
			}
			if m.s, err = newBuf(base+".s", uint64(4*R)); err != nil {
				return nil, err
			}
			for i := range m.parts {
				pt := &m.parts[i]
				pt.fac.M, pt.fac.N, pt.fac.R = pt.rows, m.in, R
				pt.fac.V, pt.fac.VF, pt.fac.Sigma = f.V, f.VF, f.Sigma
				label := base + "'"
				if len(m.parts) > 1 {
					label = fmt.Sprintf("%s' rows %d…", base, pt.r0)
				}
				if wq {
					pt.q8 = Q8{Rows: pt.rows, Cols: m.in}
					if pt.q8.Q, err = newBuf(label, uint64(pt.rows*m.in)); err != nil {
						return nil, err
					}
					if pt.q8.Scale, err = newBuf(label+".scale", uint64(4*pt.rows*pt.q8.Blocks())); err != nil {
						return nil, err
					}
				} else if pt.f32, err = newBuf(label, uint64(4*pt.rows*m.in)); err != nil {
					return nil, err
				}
			}
			mats[base] = m
			e.adapted = append(e.adapted, m)
		case len(s.Shape) == 2:
			m := &matrix{name: base, out: s.Shape[0], in: s.Shape[1]}
			quant := q8 && !slices.Contains(p.Manifest.F32, s.Name)
			partRows, err := splitRows(base, m.out, rowBytes(quant, m.in), q8Align(quant, m.in, false, 0), limit)
			if err != nil {
				return nil, err
			}
			m.parts = makeParts(m.out, partRows)
			if err := addParts(m.parts, s.Name, m.out, m.in, partRows, quant, func(p *part, f *Buffer, q Q8) { p.f32, p.q8 = f, q }); err != nil {
				return nil, err
			}
			mats[base] = m
		default:
			b, err := addSlot(s.Name, safetensors.F32, s.Shape[0], 0, 0)
			if err != nil {
				return nil, err
			}
			vecs[s.Name] = b[0]
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
			if err := e.write(s, s.filled-uint64(len(s.carry)), pad); err != nil {
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
		e.recomp.SVFScale(m.s, m.parts[0].fac.Sigma, m.z, 1, m.R)
		m.recompose(e.recomp)
	}
	if err := e.SetZ(nil); err != nil {
		return nil, err
	}
	return e, nil
}

// splitRows returns the rows per part of a matrix [rows, *] stored in buffers whose
// rows take rowBytes bytes each, so that no part of any of them exceeds limit bytes;
// the count is a multiple of align (Q8 parts start on a 4-byte word). It is rows when
// the matrix fits whole, and an error when not even align rows fit.
func splitRows(name string, rows int, rowBytes []uint64, align int, limit uint64) (int, error) {
	n := rows
	for _, rb := range rowBytes {
		if uint64(n)*rb > limit {
			n = int(limit / rb)
		}
	}
	if n >= rows {
		return rows, nil
	}
	if n -= n % align; n <= 0 {
		return 0, fmt.Errorf("shaders: engine: matrix %s: %d rows of %v bytes do not fit one storage binding of %d bytes: it cannot be split by rows",
			name, align, rowBytes, limit)
	}
	return n, nil
}

// q8Align is the row multiple at which Q8 matrices of cols (and, when b, colsB)
// columns can be split: their parts must start on a u32 word.
func q8Align(a bool, cols int, b bool, colsB int) int {
	align := 1
	for _, m := range []struct {
		q    bool
		cols int
	}{{a, cols}, {b, colsB}} {
		if !m.q {
			continue
		}
		switch {
		case m.cols%4 == 0:
		case m.cols%2 == 0:
			align = max(align, 2)
		default:
			align = 4
		}
	}
	return align
}

// makeParts cuts rows into parts of partRows rows (the last may be shorter).
func makeParts(rows, partRows int) []part {
	var parts []part
	for r0 := 0; r0 < rows; r0 += partRows {
		parts = append(parts, part{r0: r0, rows: min(partRows, rows-r0)})
	}
	return parts
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
		if s, piece := joinSlot(slots, name); s != nil {
			raw, err := f.Raw(t.Name)
			if err != nil {
				return fmt.Errorf("pack: %w", err)
			}
			if err := e.joinPiece(s, piece, t, raw); err != nil {
				return fmt.Errorf("pack: shard %s: %w", file, err)
			}
			continue
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

// joinSlot returns the slot an exact-rank factor's tensor name feeds, and which piece of
// it the tensor is ("", ".scale" or ".hi"); nil for any other tensor.
func joinSlot(slots map[string]*slot, name string) (*slot, string) {
	if s := slots[name]; s != nil && s.join != nil {
		return s, ""
	}
	for _, piece := range []string{".scale", ".hi"} {
		if base, ok := strings.CutSuffix(name, piece); ok {
			if s := slots[base]; s != nil && s.join != nil {
				return s, piece
			}
		}
	}
	return nil, ""
}

// joinPiece takes one tensor of an exact-rank factor's row range; once the range's Q8
// columns, their scales and its f32 columns are all in, it uploads the joined f32 rows.
func (e *Engine) joinPiece(s *slot, piece string, t safetensors.TensorInfo, raw []byte) error {
	j := s.join
	cols, dt := j.r-j.k, safetensors.I8
	switch piece {
	case ".scale":
		cols, dt = svf.Q8Blocks(j.r-j.k), safetensors.F32
	case ".hi":
		cols, dt = j.k, safetensors.F32
	}
	if t.DType != dt || len(t.Shape) != 2 || t.Shape[1] != cols {
		return fmt.Errorf("tensor %s is %s %v, want %s [*, %d]", t.Name, t.DType, t.Shape, dt, cols)
	}
	switch piece {
	case "":
		j.q = make([]int8, len(raw))
		for i, b := range raw {
			j.q[i] = int8(b)
		}
	case ".scale":
		j.scale = safetensors.BytesFloat32(raw)
	case ".hi":
		j.hi = safetensors.BytesFloat32(raw)
	}
	if j.q == nil || j.scale == nil || j.hi == nil {
		return nil
	}
	rows := len(j.hi) / j.k
	if len(j.q) != rows*(j.r-j.k) || len(j.scale) != rows*svf.Q8Blocks(j.r-j.k) {
		return fmt.Errorf("tensor %s: its f32, int8 and scale parts hold different rows", s.name)
	}
	lo := make([]float32, len(j.q))
	svf.DequantizeQ8(lo, j.q, j.scale, rows, j.r-j.k)
	x, err := svf.JoinColumns(j.hi, lo, j.k, j.r-j.k)
	if err != nil {
		return fmt.Errorf("tensor %s: %w", s.name, err)
	}
	j.q, j.scale, j.hi = nil, nil, nil
	s.parts++
	return e.fill(s, safetensors.Float32Bytes(x))
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
	if err := e.write(s, start, buf[:n]); err != nil {
		return err
	}
	s.carry = append([]byte(nil), buf[n:]...)
	s.filled += uint64(len(raw))
	return nil
}

// write copies p (a multiple of 4 bytes) to the slot's tensor at byte offset off,
// across its parts.
func (e *Engine) write(s *slot, off uint64, p []byte) error {
	for len(p) > 0 {
		i, o := off/s.partBytes, off%s.partBytes
		n := min(uint64(len(p)), s.partBytes-o)
		if err := e.d.Write(s.bufs[i], o, p[:n]); err != nil {
			return fmt.Errorf("pack: tensor %s: %w", s.name, err)
		}
		p, off = p[n:], off+n
	}
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
			e.forkTmp.Release()
			e.forkTmp = nil
		}
		b, err := e.d.NewBuffer("kv fork", size)
		if err != nil {
			return fmt.Errorf("shaders: engine: fork: %w", err)
		}
		e.forkTmp = b
	}
	for _, out := range []bool{false, true} {
		b := e.d.NewBatch("fork")
		for i, cache := range caches {
			if out {
				b.CopyBuffer(cache, uint64(dst)*slot, e.forkTmp, uint64(i)*n, n)
			} else {
				b.CopyBuffer(e.forkTmp, uint64(i)*n, cache, uint64(src)*slot, n)
			}
		}
		err := b.Run()
		b.Release()
		if err != nil {
			return fmt.Errorf("shaders: engine: fork: %w", err)
		}
	}
	e.lens[dst] = e.lens[src]
	return nil
}

// SetZ uploads every adapted matrix's z (1 for those z does not name) and recomposes
// them all on the device; see model.Engine.
func (e *Engine) SetZ(z map[string][]float32) error {
	if err := e.checkZ("", z); err != nil {
		return err
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
	e.pop = 0
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
	for _, m := range e.adapted {
		rows := make([]float32, 0, P*m.R)
		for _, z := range zs {
			rows = append(rows, zOrOnes(z[m.name], m.R)...)
		}
		if err := e.d.WriteF32(m.popZ, 0, rows); err != nil {
			return err
		}
	}
	if err := e.popScale.Submit(); err != nil {
		return err
	}
	e.pop = P
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
	a.cand = mk("candidates", capT)
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
	for _, b := range []*Buffer{a.x, a.xb, a.xb2, a.q, a.att, a.k, a.v, a.hb, a.hb2, a.hb3, a.h,
		a.tokens, a.pos, a.seq, a.outIdx, a.cand, a.logits, a.ids, a.row, a.scratch, a.u, a.one} {
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
	}{{a.tokens, u32(b.Tokens)}, {a.pos, u32(b.Pos)}, {a.seq, u32(b.Seq)}, {a.outIdx, rows}, {a.cand, u32(b.Cand)}} {
		if err := e.d.WriteU32(w.buf, 0, w.x); err != nil {
			return err
		}
	}
	key := fwdKey{T, nOut, 0}
	if len(b.Cand) > 0 {
		key.P = e.pop
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

// record records the forward pass of k.T rows with k.nOut output rows, model.CPU.Forward's
// steps in the same order; with k.P > 0 the adapted matrices run factored, row t under
// candidate cand[t] of the population.
func (e *Engine) record(k fwdKey) *Batch {
	c, a := e.cfg, &e.act
	T, nOut := k.T, k.nOut
	D, H, Hkv, Dh, F := c.Dim, c.NHeads, c.NKVHeads, c.HeadDim, c.FFN
	b := e.d.NewBatch(fmt.Sprintf("forward T=%d out=%d P=%d", T, nOut, k.P))
	apply := func(m *matrix, y, x *Buffer) {
		if k.P > 0 && m.R > 0 {
			m.applyPop(b, y, x, a.h, a.cand, T, k.P)
			return
		}
		m.apply(b, y, x, T)
	}
	e.embed.embed(b, a.x, a.tokens, T)
	for l := range e.layers {
		ly := &e.layers[l]
		// attention: x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x))
		b.RMSNorm(a.xb, a.x, ly.attnNorm, T, D, c.RMSNormEps)
		apply(ly.q, a.q, a.xb)
		apply(ly.k, a.k, a.xb)
		apply(ly.v, a.v, a.xb)
		b.Rope(a.q, a.k, e.rope, a.pos, T, H, Hkv, Dh, e.opt.Context)
		b.StoreKV(e.kc[l], e.vc[l], a.k, a.v, a.pos, a.seq, e.kvShape, T)
		b.Attention(a.att, a.q, e.kc[l], e.vc[l], a.pos, a.seq, e.kvShape, T, H, c.SlidingWindow)
		apply(ly.o, a.xb2, a.att)
		b.Add(a.x, a.xb2, T*D)
		// MLP: x += Down·(silu(Gate·n(x)) ⊙ Up·n(x))
		b.RMSNorm(a.xb, a.x, ly.mlpNorm, T, D, c.RMSNormEps)
		apply(ly.gate, a.hb, a.xb)
		apply(ly.up, a.hb2, a.xb)
		b.SwiGLU(a.hb3, a.hb, a.hb2, T*F)
		apply(ly.down, a.xb2, a.hb3)
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
