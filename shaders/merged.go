package shaders

import (
	"fmt"

	"github.com/t2web/t2web/model"
)

// held is one more W' of every adapted matrix, for one z, beside the engine's current
// one: buffers twinned with the engine's own W' buffers (the same sizes and stacking),
// so that a part's view of rows maps across. A population batch whose every row is
// this z's runs plain on it (Forward), and SetZ to this z copies it instead of
// recomposing. The engine holds two: the base model's (made at load) and one kept z's
// (model.KeepsMerged, e.g. T²-cls-expert's classification expert).
type held struct {
	z      map[string][]float32 // the z held (nil: the base model's; for the kept copy, none yet)
	twin   map[*Buffer]*Buffer  // the engine's W' buffer → this copy's
	zb, sb []*Buffer            // kept only: per adapted matrix, the z and scales [R] it is recomposed from
	recomp *Batch               // kept only: SVFScale + Recompose into the twins
	copyIn *Batch               // the twins copied onto the engine's W' (SetZ)
}

// Which W' a recorded pass reads (fwdKey.w).
const (
	wCurrent = iota // the engine's own: SetZ's z
	wBase           // Engine.base
	wKept           // Engine.kept
)

// mergedBuffers returns the engine's W' buffers, each once, in the order of the adapted
// matrices and their parts, with their total size.
func (e *Engine) mergedBuffers() ([]*Buffer, uint64) {
	seen := map[*Buffer]bool{}
	var bufs []*Buffer
	var size uint64
	for _, m := range e.adapted {
		for _, pt := range m.parts {
			for _, b := range []*Buffer{pt.w.F, pt.w.Q.Q, pt.w.Q.Scale} {
				if b != nil && !seen[b] {
					seen[b] = true
					bufs = append(bufs, b)
					size += b.size
				}
			}
		}
	}
	return bufs, size
}

// newHeld makes the twin buffers of a copy, or returns nil when one more copy would pass
// model.KeepMergedBytes (its rows then run factored, as without it).
func (e *Engine) newHeld(name string) (*held, error) {
	bufs, size := e.mergedBuffers()
	if len(bufs) == 0 || size > model.KeepMergedBytes {
		return nil, nil
	}
	h := &held{twin: map[*Buffer]*Buffer{}}
	h.copyIn = e.d.NewBatch(name + " W' copied in")
	for _, b := range bufs {
		t, err := e.d.NewBuffer(name+" W'", b.size)
		if err != nil {
			h.release()
			return nil, fmt.Errorf("shaders: engine: %s W': %w", name, err)
		}
		h.twin[b] = t
		h.copyIn.CopyBuffer(b, 0, t, 0, b.size)
	}
	return h, nil
}

// view is w's rows in this copy (h nil: w itself).
func (h *held) view(w Linear) Linear {
	if h == nil {
		return w
	}
	if w.F != nil {
		w.F = h.twin[w.F]
	} else {
		w.Q.Q, w.Q.Scale = h.twin[w.Q.Q], h.twin[w.Q.Scale]
	}
	return w
}

func (h *held) release() {
	if h == nil {
		return
	}
	for _, b := range []*Batch{h.recomp, h.copyIn} {
		if b != nil {
			b.Release()
		}
	}
	for _, t := range h.twin {
		t.Release()
	}
	for i := range h.zb {
		h.zb[i].Release()
		h.sb[i].Release()
	}
	*h = held{}
}

// holdBase copies the engine's W' — the base model's, as load leaves it — into the base
// copy.
func (e *Engine) holdBase() error {
	h, err := e.newHeld("base")
	if err != nil || h == nil {
		return err
	}
	b := e.d.NewBatch("base W' held")
	defer b.Release()
	for orig, t := range h.twin {
		b.CopyBuffer(t, 0, orig, 0, orig.size)
	}
	if err := b.Submit(); err != nil {
		h.release()
		return err
	}
	e.base = h
	return nil
}

// KeepMerged holds z's adapted matrices merged beside the current and the base model's
// (see model.KeepsMerged): a population of z alone then runs as a plain batch on them,
// and SetZ(z) copies them. nil drops the copy. Nothing is held when one more copy would
// pass model.KeepMergedBytes.
func (e *Engine) KeepMerged(z map[string][]float32) error {
	if z == nil {
		return e.dropKept()
	}
	if e.kept != nil && model.SameZ(e.kept.z, z) {
		return nil
	}
	if err := e.checkZ("", z); err != nil {
		return err
	}
	if e.kept == nil {
		h, err := e.newHeld("kept")
		if err != nil || h == nil {
			return err
		}
		if err := e.recordKept(h); err != nil {
			h.release()
			return err
		}
		e.kept = h
	}
	// The copy holds no z until it is recomposed; one that fails to be is dropped.
	e.kept.z = nil
	for i, m := range e.adapted {
		if err := e.d.WriteF32(e.kept.zb[i], 0, zOrOnes(z[m.name], m.R)); err != nil {
			e.dropKept()
			return err
		}
	}
	if err := e.kept.recomp.Submit(); err != nil {
		e.dropKept()
		return err
	}
	e.kept.z = z
	return nil
}

// dropKept releases the kept copy, once the recorded passes that may read it are done
// (they are dropped too).
func (e *Engine) dropKept() error {
	if e.kept == nil {
		return nil
	}
	if err := e.d.Sync(); err != nil {
		return err
	}
	e.releaseBatches()
	e.kept.release()
	e.kept = nil
	return nil
}

// recordKept makes the kept copy's z and scale buffers and records its recomposition,
// as load records the engine's own (the same kernels: the same bits as SetZ).
func (e *Engine) recordKept(h *held) error {
	h.recomp = e.d.NewBatch("kept W' recomposed")
	cleared := map[*Buffer]bool{}
	for _, m := range e.adapted {
		for _, pt := range m.parts {
			if q := h.view(pt.w).Q.Q; pt.w.F == nil && !cleared[q] {
				h.recomp.Clear(q, 0, 0)
				cleared[q] = true
			}
		}
	}
	for _, m := range e.adapted {
		zb, err := e.d.NewBuffer(m.name+".kept z", uint64(4*m.R))
		if err != nil {
			return fmt.Errorf("shaders: engine: %w", err)
		}
		sb, err := e.d.NewBuffer(m.name+".kept s", uint64(4*m.R))
		if err != nil {
			zb.Release()
			return fmt.Errorf("shaders: engine: %w", err)
		}
		h.zb, h.sb = append(h.zb, zb), append(h.sb, sb)
		h.recomp.SVFScale(sb, m.parts[0].fac.Sigma, zb, 1, m.R)
		for _, pt := range m.parts {
			h.recomp.RecomposeInto(h.view(pt.w), pt.fac, sb, e.scratch)
		}
	}
	return h.recomp.Err()
}

// heldFor returns which held copy is z's (wBase, wKept), or false.
func (e *Engine) heldFor(z map[string][]float32) (int, bool) {
	switch {
	case z == nil:
		return wBase, e.base != nil
	case e.kept != nil && model.SameZ(e.kept.z, z):
		return wKept, true
	}
	return 0, false
}

// heldCopy returns the held copy w (wBase, wKept), nil for wCurrent: the engine's own.
func (e *Engine) heldCopy(w int) *held {
	switch w {
	case wBase:
		return e.base
	case wKept:
		return e.kept
	}
	return nil
}
