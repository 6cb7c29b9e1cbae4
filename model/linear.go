package model

import "fmt"

// Linear is a weight matrix W[out,in], with an optional bias b[out], applied to rows:
// y[T,out] = x[T,in]·Wᵀ + b. Dense holds W itself; package svf holds it as its singular
// value decomposition, which an expert's z rescales (see Adaptable).
type Linear interface {
	Apply(y, x []float32, T int)
	Dims() (out, in int)
}

// Adaptable is a Linear whose singular values an SVF expert rescales:
// W' = U·diag(σ⊙z)·Vᵀ·(Σσ/Σ(σ⊙z)).
type Adaptable interface {
	Linear
	// Rank is r, the length of z.
	Rank() int
	// SetZ makes the matrix W' for z[r]; nil restores the base weights (z = 1).
	SetZ(z []float32) error
	// SetPopulation holds the z of P candidates, zs[p] of length r (nil: z = 1), for
	// ApplyPopulation; an empty zs drops them. SetZ's W' is unchanged.
	SetPopulation(zs [][]float32) error
	// ApplyPopulation writes y[T,out] = x[T,in]·W'_pᵀ + b for every row t, with
	// p = cand[t] a candidate of the last SetPopulation: the rows of one call may each
	// run a different z (ARCHITECTURE §2, the factored form).
	ApplyPopulation(y, x []float32, cand []int, T int)
}

// MergedKeeper is an Adaptable matrix that can hold the W' of one more z merged, beside
// the base model's and SetZ's, for population rows of that z: they then cost what a
// plain batch's rows do instead of the factored form's (M+N)·R a row.
type MergedKeeper interface {
	// KeepMerged makes and holds W' for z[r] (until the next KeepMerged; nil drops it),
	// for the population rows of z from the next SetPopulation on. z is held as the
	// caller's slice, which must not change while held: asking again for the same
	// slice costs nothing.
	KeepMerged(z []float32) error
}

// Dense is a Linear held as a row-major float32 matrix.
type Dense struct {
	W       []float32 // [Out, In]
	B       []float32 // [Out], nil without a bias
	Out, In int
}

// Apply writes y[T,Out] = x[T,In]·Wᵀ + B.
func (d *Dense) Apply(y, x []float32, T int) { MatMul(y, x, d.W, d.B, T, d.In, d.Out) }

// Dims returns (Out, In).
func (d *Dense) Dims() (out, in int) { return d.Out, d.In }

// SetZ gives every Adaptable matrix of w its z from z, keyed by matrix name (the Hugging
// Face tensor name without ".weight", e.g. "model.layers.0.mlp.up_proj"); matrices z does
// not name go back to their base weights. nil restores the base model.
func (w *Weights) SetZ(z map[string][]float32) error {
	for name := range z {
		l, ok := w.Linears[name]
		if !ok {
			return fmt.Errorf("model: z for %s: the model has no such matrix", name)
		}
		if _, ok := l.(Adaptable); !ok {
			return fmt.Errorf("model: z for %s: the matrix is not adapted (not a target of the pack)", name)
		}
	}
	for name, l := range w.Linears {
		a, ok := l.(Adaptable)
		if !ok {
			continue
		}
		if err := a.SetZ(z[name]); err != nil {
			return fmt.Errorf("model: z for %s: %w", name, err)
		}
	}
	return nil
}

// SetPopulation gives every Adaptable matrix of w the z of P candidates, zs[p] keyed
// by matrix name as for SetZ (a nil map: the base model); empty zs drops them. It
// returns an error, and changes nothing, when a map names a matrix that is not adapted
// or a z of the wrong length.
func (w *Weights) SetPopulation(zs []map[string][]float32) error {
	for p, z := range zs {
		for name, v := range z {
			l, ok := w.Linears[name]
			if !ok {
				return fmt.Errorf("model: candidate %d: z for %s: the model has no such matrix", p, name)
			}
			a, ok := l.(Adaptable)
			if !ok {
				return fmt.Errorf("model: candidate %d: z for %s: the matrix is not adapted (not a target of the pack)", p, name)
			}
			if v != nil && len(v) != a.Rank() {
				return fmt.Errorf("model: candidate %d: z for %s has %d values, the matrix has rank %d", p, name, len(v), a.Rank())
			}
		}
	}
	for name, l := range w.Linears {
		a, ok := l.(Adaptable)
		if !ok {
			continue
		}
		var per [][]float32
		if len(zs) > 0 {
			per = make([][]float32, len(zs))
			for p, z := range zs {
				per[p] = z[name]
			}
		}
		if err := a.SetPopulation(per); err != nil {
			return fmt.Errorf("model: population for %s: %w", name, err)
		}
	}
	return nil
}

// KeepMerged has every adapted matrix of w that can (MergedKeeper) hold its z from z
// merged, keyed by matrix name as for SetZ; nil drops what they hold. A matrix z does
// not name runs its base weights in population rows, merged already.
func (w *Weights) KeepMerged(z map[string][]float32) error {
	for name, v := range z {
		l, ok := w.Linears[name]
		if !ok {
			return fmt.Errorf("model: z for %s: the model has no such matrix", name)
		}
		a, ok := l.(Adaptable)
		if !ok {
			return fmt.Errorf("model: z for %s: the matrix is not adapted (not a target of the pack)", name)
		}
		if v != nil && len(v) != a.Rank() {
			return fmt.Errorf("model: z for %s has %d values, the matrix has rank %d", name, len(v), a.Rank())
		}
	}
	for name, l := range w.Linears {
		if k, ok := l.(MergedKeeper); ok {
			if err := k.KeepMerged(z[name]); err != nil {
				return fmt.Errorf("model: keeping z for %s merged: %w", name, err)
			}
		}
	}
	return nil
}

// Replace puts l in place of the matrix name of w (a name of w.Linears), with the same
// shape: packs load their adapted matrices this way.
func (w *Weights) Replace(name string, l Linear) error {
	old, ok := w.Linears[name]
	if !ok {
		return fmt.Errorf("model: no matrix %s", name)
	}
	o1, i1 := old.Dims()
	o2, i2 := l.Dims()
	if o1 != o2 || i1 != i2 {
		return fmt.Errorf("model: matrix %s is %d×%d, its replacement %d×%d", name, o1, i1, o2, i2)
	}
	for i := range w.Layers {
		for _, slot := range w.Layers[i].fields() {
			if *slot == old {
				*slot = l
			}
		}
	}
	w.Linears[name] = l
	return nil
}
