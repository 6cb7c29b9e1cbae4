package shaders

import (
	"fmt"
	"slices"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
	"github.com/t2web/t2web/model/safetensors"
)

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
	base      uint64 // byte offset of the tensor in bufs[0] (a matrix stacked with others)
}

// exactJoin makes an f32 factor X.U [rows, r] of a pack with an exact rank k from the
// tensors that store it, row range by row range: X.U.hi [rows, k] f32 and X.U
// [rows, r-k] with X.U.scale in Q8 (pack.Manifest.ExactRank). The shard writer keeps the
// three of a row range in one shard.
type exactJoin struct {
	k, r  int
	q     []int8    // [rows, r-k]
	scale []float32 // [rows, Q8Blocks(r-k)]
	hi    []float32 // [rows, k]
}

// NewEngine loads pack p into the device, shard by shard (each is read, checked against
// its sha256, uploaded and dropped), and recomposes the adapted matrices at z = 1.
func NewEngine(d *Device, p *pack.Pack, opt EngineOptions) (eng *Engine, err error) {
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
	e := &Engine{d: d, cfg: c, opt: opt, lens: make([]int, opt.MaxSeqs), byName: map[string]*matrix{},
		forwards: map[fwdKey]*Batch{}, samples: map[sampleKey]*Batch{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	l := &loader{e: e, d: d, p: p, slots: map[string]*slot{}, limit: d.MaxBinding()}
	if opt.MaxBinding > 0 {
		l.limit = min(l.limit, opt.MaxBinding)
	}
	l.q8 = p.Manifest.Quant == pack.QuantInt8
	// With an exact rank the factors are joined into f32 on the host (exactJoin): the
	// kernels read a factor as one dtype.
	l.factorQ8 = l.q8 && p.Manifest.ExactRank == 0
	l.mergedQ8 = l.q8 && !opt.MergedF32
	if err := l.plan(); err != nil {
		return nil, err
	}

	// Load, shard by shard.
	for i := range p.Manifest.Shards {
		if err := e.loadShard(p, i, l.slots); err != nil {
			return nil, err
		}
	}
	for _, s := range l.slots {
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

	// KV cache, constants, recomposition at z = 1.
	kvd := c.NKVHeads * c.HeadDim
	e.kvShape = KVCache{Seqs: opt.MaxSeqs, S: opt.Context, Hkv: c.NKVHeads, Dh: c.HeadDim}
	for i := range c.NLayers {
		kc, err := l.newBuf(fmt.Sprintf("kv cache %d: k", i), uint64(4*opt.MaxSeqs*opt.Context*kvd))
		if err != nil {
			return nil, err
		}
		vc, err := l.newBuf(fmt.Sprintf("kv cache %d: v", i), uint64(4*opt.MaxSeqs*opt.Context*kvd))
		if err != nil {
			return nil, err
		}
		e.kc, e.vc = append(e.kc, kc), append(e.vc, vc)
	}
	if err := l.constants(); err != nil {
		return nil, err
	}
	// Q8 W' is recomposed in f32 through a scratch buffer, as many rows at a time as it
	// holds: one part's worth, within one binding.
	var scratchBytes uint64
	for _, m := range e.adapted {
		for _, pt := range m.parts {
			if pt.w.F == nil {
				scratchBytes = max(scratchBytes, min(uint64(4*pt.rows*m.in), max(l.limit, uint64(4*m.in))))
			}
		}
	}
	var scratch *Buffer
	if scratchBytes > 0 {
		if scratch, err = l.newBuf("recompose scratch", scratchBytes); err != nil {
			return nil, err
		}
	}
	e.recomp = d.NewBatch("recompose")
	cleared := map[*Buffer]bool{}
	for _, m := range e.adapted {
		for _, pt := range m.parts {
			// Q8 bytes are OR-ed in: clear each W' buffer once, before any matrix stacked in
			// it is recomposed.
			if q := pt.w.Q.Q; pt.w.F == nil && !cleared[q] {
				e.recomp.Clear(q, 0, 0)
				cleared[q] = true
			}
		}
	}
	for _, m := range e.adapted {
		e.recomp.SVFScale(m.s, m.parts[0].fac.Sigma, m.z, 1, m.R)
		m.recompose(e.recomp, scratch)
	}
	e.scratch = scratch
	if err := e.SetZ(nil); err != nil {
		return nil, err
	}
	if err := e.holdBase(); err != nil {
		return nil, err
	}
	return e, nil
}

// loader plans and fills an engine's buffers from a pack.
type loader struct {
	e     *Engine
	d     *Device
	p     *pack.Pack
	slots map[string]*slot
	limit uint64 // bytes of one part of a weight split by rows

	q8       bool // an int8 pack
	factorQ8 bool // adapted matrices' factors held as Q8 (else f32)
	mergedQ8 bool // adapted matrices' W' held as Q8 (else f32)

	vecs map[string]*Buffer // the config's vectors (norm weights, biases), by tensor name
}

// newBuf makes an engine-owned buffer of size bytes.
func (l *loader) newBuf(name string, size uint64) (*Buffer, error) {
	if size > l.d.MaxBinding() {
		return nil, fmt.Errorf("shaders: engine: %s is %d bytes, more than the device's largest storage binding, maxStorageBufferBindingSize = %d bytes, and the engine does not split it",
			name, size, l.d.MaxBinding())
	}
	b, err := l.d.NewBuffer(name, size)
	if err != nil {
		return nil, fmt.Errorf("shaders: engine: %w", err)
	}
	l.e.owned = append(l.e.owned, b)
	return b, nil
}

// rowBytes is the bytes of one row of a stored tensor with cols columns (0: a vector).
func rowBytesOf(dt safetensors.DType, cols int) uint64 {
	n := uint64(max(cols, 1))
	if dt == safetensors.F32 {
		n *= 4
	}
	return n
}

// addSlot makes the buffers of a stored tensor [rows, cols] (cols 0: a vector of rows),
// in parts of partRows rows (0: whole).
func (l *loader) addSlot(name string, dt safetensors.DType, rows, cols, partRows int) ([]*Buffer, error) {
	rb := rowBytesOf(dt, cols)
	if partRows <= 0 || partRows > rows {
		partRows = rows
	}
	s := &slot{name: name, dtype: dt, cols: cols, want: uint64(rows) * rb, partBytes: uint64(partRows) * rb}
	for r0 := 0; r0 < rows; r0 += partRows {
		label := name
		if partRows < rows {
			label = fmt.Sprintf("%s rows %d…", name, r0)
		}
		b, err := l.newBuf(label, uint64(min(partRows, rows-r0))*rb)
		if err != nil {
			return nil, err
		}
		s.bufs = append(s.bufs, b)
	}
	l.slots[name] = s
	return s.bufs, nil
}

// addSlotAt makes the slot of a stored tensor [rows, cols] that fills buf from byte base
// (a matrix stacked with others in one buffer; base a multiple of 4).
func (l *loader) addSlotAt(name string, dt safetensors.DType, rows, cols int, buf *Buffer, base uint64) {
	rb := rowBytesOf(dt, cols)
	l.slots[name] = &slot{name: name, dtype: dt, cols: cols, want: uint64(rows) * rb, partBytes: uint64(rows) * rb,
		bufs: []*Buffer{buf}, base: base}
}

// addParts fills the parts of a stored matrix [rows, cols]: f32, or Q8 (NAME and
// NAME.scale) when quant, in parts of partRows rows (0: whole).
func (l *loader) addParts(parts []part, name string, rows, cols, partRows int, quant bool, set func(p *part, w Linear)) error {
	if !quant {
		bufs, err := l.addSlot(name, safetensors.F32, rows, cols, partRows)
		for i, b := range bufs {
			set(&parts[i], LinearF32(b, parts[i].rows, cols))
		}
		return err
	}
	qs, err := l.addSlot(name, safetensors.I8, rows, cols, partRows)
	if err != nil {
		return err
	}
	ss, err := l.addSlot(pack.Scales.Of(name), safetensors.F32, rows, pack.Q8Blocks(cols), partRows)
	if err != nil {
		return err
	}
	for i := range parts {
		set(&parts[i], LinearQ8(Q8{Q: qs[i], Scale: ss[i], Rows: parts[i].rows, Cols: cols}))
	}
	return nil
}

// weightRowBytes are the bytes of one row of an f32 or Q8 matrix with cols columns, in
// each of its buffers.
func weightRowBytes(quant bool, cols int) []uint64 {
	if !quant {
		return []uint64{4 * uint64(cols)}
	}
	return []uint64{uint64(cols), 4 * uint64(pack.Q8Blocks(cols))}
}

// stackRef is where a matrix stacked with others lives: the stack and its first row.
type stackRef struct {
	lin  *Linear
	row0 int
}

// plan makes a buffer for every tensor the config needs, as the pack stores it, split by
// rows where it is larger than the limit — but q, k, v of a layer in one buffer, and gate
// and up in another, when they fit one binding (stacks: the fused decode kernels read
// each stack in one dispatch).
func (l *loader) plan() error {
	e, p, c := l.e, l.p, l.e.cfg
	adapted := map[string]bool{}
	for _, name := range p.Manifest.Matrices {
		adapted[name] = true
	}
	// heldQ8: the matrix is held as Q8 (W' of an adapted one, or as the pack stores it).
	heldQ8 := func(base string) bool {
		if adapted[base] {
			return l.mergedQ8
		}
		return l.q8 && !slices.Contains(p.Manifest.F32, base+".weight")
	}
	shapes := map[string][]int{}
	var order []string
	l.vecs = map[string]*Buffer{}
	var w model.Weights
	for _, s := range c.Bind(&w) {
		if len(s.Shape) == 2 {
			base := strings.TrimSuffix(s.Name, ".weight")
			shapes[base] = s.Shape
			order = append(order, base)
			continue
		}
		b, err := l.addSlot(s.Name, safetensors.F32, s.Shape[0], 0, 0)
		if err != nil {
			return err
		}
		l.vecs[s.Name] = b[0]
	}

	stacked := map[string]stackRef{}
	stacks := make([][2]*Linear, c.NLayers)
	for i := range c.NLayers {
		names := model.MatrixNames(i)
		for k, group := range [][]string{names[0:3], names[4:6]} {
			st, err := l.stack(i, group, shapes, adapted, heldQ8, stacked)
			if err != nil {
				return err
			}
			stacks[i][k] = st
		}
	}

	mats := map[string]*matrix{}
	for _, base := range order {
		m := &matrix{name: base, out: shapes[base][0], in: shapes[base][1], biasOff: -1}
		wq := heldQ8(base)
		if adapted[base] {
			R, _ := p.Rank(base)
			m.R = R
			e.maxR = max(e.maxR, R)
		}
		if ref, ok := stacked[base]; ok {
			m.parts = []part{{rows: m.out, w: ref.lin.rows(ref.row0, m.out)}}
			if !adapted[base] {
				if !wq {
					l.addSlotAt(base+".weight", safetensors.F32, m.out, m.in, ref.lin.F, uint64(4*ref.row0*m.in))
				} else {
					l.addSlotAt(base+".weight", safetensors.I8, m.out, m.in, ref.lin.Q.Q, uint64(ref.row0*m.in))
					nb := pack.Q8Blocks(m.in)
					l.addSlotAt(base+".weight.scale", safetensors.F32, m.out, nb, ref.lin.Q.Scale, uint64(4*ref.row0*nb))
				}
			}
		} else {
			rb := weightRowBytes(wq, m.in)
			align := q8Align(wq, m.in, false, 0)
			if adapted[base] {
				// W' and U are split at the same rows; V and σ stay whole.
				rb = append(rb, weightRowBytes(l.factorQ8, m.R)...)
				align = q8Align(wq, m.in, l.factorQ8, m.R)
			}
			partRows, err := splitRows(base, m.out, rb, align, l.limit)
			if err != nil {
				return err
			}
			m.parts = makeParts(m.out, partRows)
			if adapted[base] {
				for i := range m.parts {
					if err := l.mergedPart(m, &m.parts[i], wq); err != nil {
						return err
					}
				}
			} else if err := l.addParts(m.parts, base+".weight", m.out, m.in, partRows, wq, func(p *part, w Linear) { p.w = w }); err != nil {
				return err
			}
		}
		if adapted[base] {
			if err := l.factors(m); err != nil {
				return err
			}
			e.adapted = append(e.adapted, m)
		}
		mats[base] = m
	}
	for name, b := range l.vecs {
		if base, ok := strings.CutSuffix(name, ".bias"); ok {
			m := mats[base]
			if m == nil {
				return fmt.Errorf("shaders: engine: bias %s without its matrix", name)
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
	e.norm = l.vecs["model.norm.weight"]
	for i := range c.NLayers {
		pre := fmt.Sprintf("model.layers.%d.", i)
		names := model.MatrixNames(i)
		e.layers = append(e.layers, layer{
			attnNorm: l.vecs[pre+"input_layernorm.weight"], mlpNorm: l.vecs[pre+"post_attention_layernorm.weight"],
			q: mats[names[0]], k: mats[names[1]], v: mats[names[2]], o: mats[names[3]],
			gate: mats[names[4]], up: mats[names[5]], down: mats[names[6]],
			qkv: stacks[i][0], gu: stacks[i][1],
		})
	}
	for name, m := range mats {
		e.byName[name] = m
	}
	return nil
}

// stack makes one buffer (two for Q8) for the matrices of group (layer i's q, k, v, or
// gate, up) stacked by rows, and records where each lives in stacked; it returns nil,
// stacking nothing, when they cannot share one: different input sizes or dtypes, an input
// size that is not a multiple of 4 (Q8 rows on word boundaries), adapted and not, or more
// than one binding (or, for adapted ones, U factors that must be split).
func (l *loader) stack(i int, group []string, shapes map[string][]int, adapted map[string]bool, heldQ8 func(string) bool, stacked map[string]stackRef) (*Linear, error) {
	rows, in := 0, 0
	for k, name := range group {
		sh := shapes[name]
		if sh == nil || k > 0 && (sh[1] != in || heldQ8(name) != heldQ8(group[0]) || adapted[name] != adapted[group[0]]) {
			return nil, nil
		}
		in = sh[1]
		rows += sh[0]
		if adapted[name] {
			R, _ := l.p.Rank(name)
			if n, err := splitRows(name, sh[0], weightRowBytes(l.factorQ8, R), 1, l.limit); err != nil || n < sh[0] {
				return nil, nil
			}
		}
	}
	quant := heldQ8(group[0])
	if in%4 != 0 {
		return nil, nil
	}
	for _, rb := range weightRowBytes(quant, in) {
		if uint64(rows)*rb > l.limit {
			return nil, nil
		}
	}
	label := fmt.Sprintf("layer %d %s", i, strings.Join(group, "+"))
	var lin Linear
	if quant {
		q, err := l.newBuf(label, uint64(rows*in))
		if err != nil {
			return nil, err
		}
		s, err := l.newBuf(label+".scale", uint64(4*rows*pack.Q8Blocks(in)))
		if err != nil {
			return nil, err
		}
		lin = LinearQ8(Q8{Q: q, Scale: s, Rows: rows, Cols: in})
	} else {
		f, err := l.newBuf(label, uint64(4*rows*in))
		if err != nil {
			return nil, err
		}
		lin = LinearF32(f, rows, in)
	}
	row0 := 0
	for _, name := range group {
		stacked[name] = stackRef{&lin, row0}
		row0 += shapes[name][0]
	}
	return &lin, nil
}

// mergedPart makes the W' buffers of part pt of adapted matrix m, Q8 when wq.
func (l *loader) mergedPart(m *matrix, pt *part, wq bool) error {
	label := m.name + "'"
	if len(m.parts) > 1 {
		label = fmt.Sprintf("%s' rows %d…", m.name, pt.r0)
	}
	if !wq {
		f, err := l.newBuf(label, uint64(4*pt.rows*m.in))
		pt.w = LinearF32(f, pt.rows, m.in)
		return err
	}
	q := Q8{Rows: pt.rows, Cols: m.in}
	var err error
	if q.Q, err = l.newBuf(label, uint64(pt.rows*m.in)); err != nil {
		return err
	}
	if q.Scale, err = l.newBuf(label+".scale", uint64(4*pt.rows*q.Blocks())); err != nil {
		return err
	}
	pt.w = LinearQ8(q)
	return nil
}

// factors makes the buffers of adapted matrix m's factors: U split at its parts' rows,
// V and σ whole, and z, s.
func (l *loader) factors(m *matrix) error {
	base, R := m.name, m.R
	var f Factors
	partRows := m.parts[0].rows
	if err := l.addParts(m.parts, pack.U(base), m.out, R, partRows, l.factorQ8, func(p *part, u Linear) { p.fac.UF, p.fac.U = u.F, u.Q }); err != nil {
		return err
	}
	vp := []part{{rows: m.in}}
	if err := l.addParts(vp, pack.V(base), m.in, R, 0, l.factorQ8, func(p *part, v Linear) { f.VF, f.V = v.F, v.Q }); err != nil {
		return err
	}
	if k := l.p.Manifest.ExactRank; k > 0 {
		l.slots[pack.U(base)].join = &exactJoin{k: k, r: R}
		l.slots[pack.V(base)].join = &exactJoin{k: k, r: R}
	}
	sig, err := l.addSlot(pack.S(base), safetensors.F32, R, 0, 0)
	if err != nil {
		return err
	}
	f.Sigma = sig[0]
	if m.z, err = l.newBuf(base+".z", uint64(4*R)); err != nil {
		return err
	}
	if m.s, err = l.newBuf(base+".s", uint64(4*R)); err != nil {
		return err
	}
	for i := range m.parts {
		pt := &m.parts[i]
		pt.fac.M, pt.fac.N, pt.fac.R = pt.rows, m.in, R
		pt.fac.V, pt.fac.VF, pt.fac.Sigma = f.V, f.VF, f.Sigma
	}
	return nil
}

// constants lays out and fills the engine's constants buffer (Engine.consts): the RoPE
// table, then each layer's norm weights and the biases of its fused kernels, the final
// norm weight and lm_head's bias, each at a multiple of 4 floats.
func (l *loader) constants() error {
	e, c := l.e, l.e.cfg
	off := 0
	alloc := func(n int) int {
		o := off
		off += (n + 3) &^ 3
		return o
	}
	type copyOp struct {
		src *Buffer
		off int
		n   int
	}
	var copies []copyOp
	vec := func(src *Buffer, n int) int {
		o := alloc(n)
		copies = append(copies, copyOp{src, o, n})
		return o
	}
	// stackBias lays out the biases of matrices stacked by rows (zeros where one has
	// none); −1 when none has one.
	stackBias := func(ms ...*matrix) int {
		rows, any := 0, false
		for _, m := range ms {
			rows += m.out
			any = any || m.bias != nil
		}
		if !any {
			return -1
		}
		o := alloc(rows)
		r := o
		for _, m := range ms {
			if m.bias != nil {
				copies = append(copies, copyOp{m.bias, r, m.out})
			}
			r += m.out
		}
		return o
	}
	matBias := func(m *matrix) {
		if m.bias != nil {
			m.biasOff = vec(m.bias, m.out)
		}
	}
	rope := RopeTable(c.InvFreq(), e.opt.Context)
	e.ropeOff = alloc(len(rope))
	for i := range e.layers {
		ly := &e.layers[i]
		ly.attnNormOff = vec(ly.attnNorm, c.Dim)
		ly.mlpNormOff = vec(ly.mlpNorm, c.Dim)
		ly.qkvBiasOff, ly.guBiasOff = -1, -1
		if ly.qkv != nil {
			ly.qkvBiasOff = stackBias(ly.q, ly.k, ly.v)
		}
		if ly.gu != nil {
			ly.guBiasOff = stackBias(ly.gate, ly.up)
		}
		matBias(ly.o)
		matBias(ly.down)
	}
	e.normOff = vec(e.norm, c.Dim)
	e.lmHead.biasOff = -1
	if e.lmHead.bias != nil {
		e.lmHead.biasOff = vec(e.lmHead.bias, e.lmHead.out)
	}
	var err error
	if e.consts, err = l.newBuf("constants", uint64(4*off)); err != nil {
		return err
	}
	if err := l.d.WriteF32(e.consts, uint64(4*e.ropeOff), rope); err != nil {
		return err
	}
	b := l.d.NewBatch("constants")
	defer b.Release()
	for _, cp := range copies {
		b.CopyBuffer(e.consts, uint64(4*cp.off), cp.src, 0, uint64(4*cp.n))
	}
	if err := b.Submit(); err != nil {
		return fmt.Errorf("shaders: engine: constants: %w", err)
	}
	return nil
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
func (e *Engine) loadShard(p *pack.Pack, i int, slots map[string]*slot) error {
	data, err := p.ReadShard(i)
	if err != nil {
		return err
	}
	file := p.Manifest.Shards[i].File
	f, err := safetensors.OpenBytes(data, file)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	for _, t := range f.Tensors() {
		name, part, err := pack.CutPart(t.Name)
		if err != nil {
			return fmt.Errorf("pack: shard %s: %w", file, err)
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
// it the tensor is; nil for any other tensor.
func joinSlot(slots map[string]*slot, name string) (*slot, pack.Piece) {
	if s := slots[name]; s != nil && s.join != nil {
		return s, pack.Values
	}
	if base, piece := pack.CutPiece(name); piece != pack.Values {
		if s := slots[base]; s != nil && s.join != nil {
			return s, piece
		}
	}
	return nil, pack.Values
}

// joinPiece takes one tensor of an exact-rank factor's row range; once the range's Q8
// columns, their scales and its f32 columns are all in, it uploads the joined f32 rows.
func (e *Engine) joinPiece(s *slot, piece pack.Piece, t safetensors.TensorInfo, raw []byte) error {
	j := s.join
	cols, dt := j.r-j.k, safetensors.I8
	switch piece {
	case pack.Scales:
		cols, dt = pack.Q8Blocks(j.r-j.k), safetensors.F32
	case pack.Exact:
		cols, dt = j.k, safetensors.F32
	}
	if t.DType != dt || len(t.Shape) != 2 || t.Shape[1] != cols {
		return fmt.Errorf("tensor %s is %s %v, want %s [*, %d]", t.Name, t.DType, t.Shape, dt, cols)
	}
	switch piece {
	case pack.Values:
		j.q = safetensors.BytesInt8(raw)
	case pack.Scales:
		j.scale = safetensors.BytesFloat32(raw)
	case pack.Exact:
		j.hi = safetensors.BytesFloat32(raw)
	}
	if j.q == nil || j.scale == nil || j.hi == nil {
		return nil
	}
	rows := len(j.hi) / j.k
	if len(j.q) != rows*(j.r-j.k) || len(j.scale) != rows*pack.Q8Blocks(j.r-j.k) {
		return fmt.Errorf("tensor %s: its f32, int8 and scale parts hold different rows", s.name)
	}
	lo := make([]float32, len(j.q))
	pack.DequantizeQ8(lo, j.q, j.scale, rows, j.r-j.k)
	x, err := pack.JoinColumns(j.hi, lo, j.k, j.r-j.k)
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
		if err := e.d.Write(s.bufs[i], s.base+o, p[:n]); err != nil {
			return fmt.Errorf("pack: tensor %s: %w", s.name, err)
		}
		p, off = p[n:], off+n
	}
	return nil
}
