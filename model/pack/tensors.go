package pack

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
)

// Tensors are a pack's tensors as its shards store them, split tensors joined, by name;
// a Q8 tensor NAME's scales are NAME.scale. Each is taken once: Float32, Q8 and Factor
// remove the tensor they return.
type Tensors struct {
	raw map[string]*rawTensor
}

// readTensors reads every shard, checking its size and sha256 against pack.json, and
// returns its tensors. Each shard is hashed while the next one is read: in the page,
// Pack.SHA256 waits for the browser's SubtleCrypto, which hashes on a thread of its own
// (0.4 s a 64 MiB shard); natively crypto/sha256 runs on its own goroutine. It returns
// once the last shard is read, that shard's check under way: checked waits for the
// checks and returns the first failed shard's error, in pack.json's order, which comes
// before err (a shard that fails its check is reported as that, not as what it holds).
func (p *Pack) readTensors() (_ *Tensors, checked func() error, _ error) {
	raw := map[string]*rawTensor{}
	checks := make([]chan error, 0, len(p.Manifest.Shards))
	// checked waits for the hashes started so far: the error of the first shard that
	// failed its check, if any.
	var first error
	checked = func() error {
		for _, c := range checks {
			if err := <-c; err != nil && first == nil {
				first = err
			}
		}
		checks = nil
		return first
	}
	for i, sh := range p.Manifest.Shards {
		data, err := p.readShard(i)
		if err != nil {
			return nil, checked, err
		}
		c := make(chan error, 1)
		checks = append(checks, c)
		go func() { c <- p.checkShard(i, data) }()
		f, err := safetensors.OpenBytes(data, sh.File)
		if err == nil {
			for _, t := range f.Tensors() {
				b, rerr := f.Raw(t.Name)
				if rerr != nil {
					err = rerr
					break
				}
				raw[t.Name] = &rawTensor{info: t, data: b}
			}
		}
		if err != nil {
			return nil, checked, fmt.Errorf("pack: %w", err)
		}
	}
	// Join split tensors.
	for name, n := range p.Manifest.Parts {
		for _, piece := range Pieces() {
			var parts []*rawTensor
			for k := range n {
				r, ok := raw[piece.Of(Part(name, k))]
				if !ok {
					if piece != Values && k == 0 { // a piece the tensor does not have
						break
					}
					return nil, checked, fmt.Errorf("pack: tensor %s: part %d of %d is missing", name, k, n)
				}
				parts = append(parts, r)
				delete(raw, piece.Of(Part(name, k)))
			}
			if len(parts) == 0 {
				continue
			}
			joined := &rawTensor{info: parts[0].info}
			joined.info.Shape = slices.Clone(parts[0].info.Shape)
			joined.info.Shape[0] = 0
			for _, r := range parts {
				joined.info.Shape[0] += r.info.Shape[0]
				joined.data = append(joined.data, r.data...)
			}
			raw[piece.Of(name)] = joined
		}
	}
	return &Tensors{raw: raw}, checked, nil
}

// take removes tensor name and returns it.
func (t *Tensors) take(name string) (*rawTensor, error) {
	r, ok := t.raw[name]
	if !ok {
		return nil, fmt.Errorf("pack: tensor %s is missing from every shard", name)
	}
	delete(t.raw, name)
	return r, nil
}

// Float32 takes tensor name as float32, a Q8 one dequantised.
func (t *Tensors) Float32(name string) ([]float32, error) {
	r, err := t.take(name)
	if err != nil {
		return nil, err
	}
	x, err := r.float32(name, t.raw[Scales.Of(name)])
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	return x, nil
}

// Q8 takes the Q8 matrix name, which must be [rows, cols], as stored: int8 values and
// their scales.
func (t *Tensors) Q8(name string, rows, cols int) (*model.Q8, error) {
	r, err := t.take(name)
	if err != nil {
		return nil, err
	}
	q, err := r.q8(name, t.raw[Scales.Of(name)])
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if q.Rows != rows || q.Cols != cols {
		return nil, fmt.Errorf("pack: tensor %s is %d×%d, want %d×%d", name, q.Rows, q.Cols, rows, cols)
	}
	return q, nil
}

// Factor takes factor name (an adapted matrix's U or V, e.g. "X.U") of rank r as
// float32 [rows, r]: with an exact rank k its f32 columns name.hi [rows, k] joined to
// the dequantised rest name [rows, r-k] (JoinColumns).
func (t *Tensors) Factor(name string, rows, r, k int) ([]float32, error) {
	x, err := t.Float32(name)
	if err != nil {
		return nil, err
	}
	if k > 0 {
		hi, err := t.Float32(Exact.Of(name))
		if err != nil {
			return nil, err
		}
		if x, err = JoinColumns(hi, x, k, r-k); err != nil {
			return nil, fmt.Errorf("pack: tensor %s: %w", name, err)
		}
	}
	if len(x) != rows*r {
		return nil, fmt.Errorf("pack: tensor %s has %d values, want %d", name, len(x), rows*r)
	}
	return x, nil
}

// Load reads the pack's tokenizer and weights into a model for the CPU engine, checking
// every shard's sha256 against pack.json, all but the adapted matrices: an adapted
// matrix is left a model.Dense holding only its bias, and build makes its linear from
// its factors (package svf: Tensors.Factor, Q8, Float32).
//
// With q8 false every tensor loads as float32, the Q8 ones dequantised. With q8 the
// int8 matrices of an int8 pack stay int8 — model.Q8Dense, the embedding and lm_head
// Weights.EmbedQ8 and LMHeadQ8 — and the f32 ones (Manifest.F32, vectors) stay f32.
//
// build runs while the last shard's sha256 is checked, and a failed check is the error
// Load returns: in the page that check waits for SubtleCrypto (0.35–0.5 s a shard),
// which the recomposition of the adapted matrices (build) now overlaps.
func (p *Pack) Load(q8 bool, build func(m *model.Model, t *Tensors) error) (*model.Model, error) {
	m, err := model.LoadText(p.fsys, p.Config)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	t, checked, err := p.readTensors()
	if err == nil {
		// The last shard's check is a goroutine that has not run yet: let it start its
		// hash before build takes the one thread Go has in the page.
		runtime.Gosched()
		err = p.fill(m, t, q8)
	}
	if err == nil {
		err = build(m, t)
	}
	if cerr := checked(); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// fill loads into m every tensor of t but the adapted matrices' factors (Load).
func (p *Pack) fill(m *model.Model, t *Tensors, q8 bool) error {
	w := &model.Weights{}
	dense := map[string]*model.Q8{} // unadapted int8 matrices, by Linears name
	for _, s := range p.Config.Bind(w) {
		name, isWeight := strings.CutSuffix(s.Name, ".weight")
		if _, adapted := p.ranks[name]; adapted && isWeight {
			continue
		}
		if r, ok := t.raw[s.Name]; q8 && ok && r.info.DType == safetensors.I8 && len(s.Shape) == 2 {
			q, err := t.Q8(s.Name, s.Shape[0], s.Shape[1])
			if err != nil {
				return err
			}
			switch s.Name {
			case "model.embed_tokens.weight":
				w.EmbedQ8 = q
			case "lm_head.weight":
				w.LMHeadQ8 = q
			default:
				dense[name] = q
			}
			continue
		}
		x, err := t.Float32(s.Name)
		if err != nil {
			return err
		}
		if len(x) != numel(s.Shape) {
			return fmt.Errorf("pack: tensor %s has %d values, the config implies %v", s.Name, len(x), s.Shape)
		}
		*s.Data = x
	}
	for name, q := range dense {
		d := w.Linears[name].(*model.Dense)
		if err := w.Replace(name, &model.Q8Dense{W: q, B: d.B}); err != nil {
			return fmt.Errorf("pack: %w", err)
		}
	}
	if p.Config.TieEmbeddings {
		w.LMHead, w.LMHeadQ8 = w.Embed, w.EmbedQ8
	}
	m.Weights = w
	return nil
}

// rawTensor is a tensor's bytes as a shard stores them.
type rawTensor struct {
	info safetensors.TensorInfo
	data []byte
}

// float32 decodes the tensor; an I8 tensor needs its Q8 scales.
func (r *rawTensor) float32(name string, scale *rawTensor) ([]float32, error) {
	switch r.info.DType {
	case safetensors.F32:
		return safetensors.BytesFloat32(r.data), nil
	case safetensors.I8:
		if scale == nil || len(r.info.Shape) != 2 {
			return nil, fmt.Errorf("tensor %s: int8 without a 2-D shape and %s", name, Scales.Of(name))
		}
		rows, cols := r.info.Shape[0], r.info.Shape[1]
		s := safetensors.BytesFloat32(scale.data)
		if len(s) != rows*((cols+Q8Block-1)/Q8Block) {
			return nil, fmt.Errorf("tensor %s has %d values, want %d×%d", Scales.Of(name), len(s), rows, (cols+Q8Block-1)/Q8Block)
		}
		x := make([]float32, rows*cols)
		DequantizeQ8(x, safetensors.BytesInt8(r.data), s, rows, cols)
		return x, nil
	}
	return nil, fmt.Errorf("tensor %s: dtype %s, a pack holds F32 and I8", name, r.info.DType)
}

// q8 returns an I8 tensor [rows, cols] and its scales as a model.Q8 (rows padded to
// whole blocks).
func (r *rawTensor) q8(name string, scale *rawTensor) (*model.Q8, error) {
	if r.info.DType != safetensors.I8 || scale == nil || len(r.info.Shape) != 2 {
		return nil, fmt.Errorf("tensor %s: %s %v is not a Q8 matrix with %s", name, r.info.DType, r.info.Shape, Scales.Of(name))
	}
	rows, cols := r.info.Shape[0], r.info.Shape[1]
	s := safetensors.BytesFloat32(scale.data)
	nb := Q8Blocks(cols)
	if len(s) != rows*nb || len(r.data) != rows*cols {
		return nil, fmt.Errorf("tensor %s: %d values and %d scales, want %d×%d and %d×%d", name, len(r.data), len(s), rows, cols, rows, nb)
	}
	src := safetensors.BytesInt8(r.data)
	if cols%model.Q8Block == 0 {
		// Rows need no padding to whole blocks: the values are the shard's own bytes, not
		// a copy (they are most of a pack; copying them took 6 % of the engine worker's
		// time loading one in the page).
		return &model.Q8{Q: src, Scale: s, Rows: rows, Cols: cols}, nil
	}
	q := model.NewQ8(rows, cols)
	copy(q.Scale, s)
	stride := q.Stride()
	for i := range rows {
		copy(q.Q[i*stride:i*stride+cols], src[i*cols:(i+1)*cols])
	}
	return q, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
