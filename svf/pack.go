package svf

import (
	"fmt"
	"io/fs"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/pack"
)

// Pack is a pack (package pack, the storage) as the method reads it: its adapted
// matrices as SVF linears (Load, LoadInt8) and its experts (expert.go). The embedded
// *pack.Pack is what the GPU engine takes (shaders.NewEngine(d, p.Pack, …)).
type Pack struct {
	*pack.Pack
}

// Open opens the pack in fsys (pack.Open).
func Open(fsys fs.FS) (*Pack, error) {
	p, err := pack.Open(fsys)
	if err != nil {
		return nil, err
	}
	return &Pack{p}, nil
}

// OpenDir opens the pack in a folder of the local file system (pack.OpenDir).
func OpenDir(dir string) (*Pack, error) {
	p, err := pack.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	return &Pack{p}, nil
}

// rank returns R of an adapted matrix, 0 when the pack does not adapt it.
func (p *Pack) rank(matrix string) int {
	r, _ := p.Rank(matrix)
	return r
}

// Path chooses how a loaded pack applies its adapted matrices (ARCHITECTURE §2).
type Path int

const (
	// MergedPath recomposes W' once per z and runs dense matmuls: for generation.
	MergedPath Path = iota
	// FactoredPath applies c·U(s⊙(Vᵀx)) without recomposing: for scoring many z.
	FactoredPath
)

// Load reads the pack's weights into a model for the CPU engine, checking every shard's
// sha256 against pack.json; adapted matrices are svf Merged or Factored linears at z = 1.
func (p *Pack) Load(path Path) (*model.Model, error) { return p.LoadKernels(path, nil) }

// LoadKernels is Load; with kern, Merged matrices recompose through it (RecomposeKernels).
func (p *Pack) LoadKernels(path Path, kern model.Kernels) (*model.Model, error) {
	return p.Pack.Load(false, func(m *model.Model, t *pack.Tensors) (err error) {
		w := m.Weights
		for _, name := range p.Manifest.Matrices {
			d := w.Linears[name].(*model.Dense)
			f := &Factors{M: d.Out, N: d.In, R: p.rank(name)}
			k := p.Manifest.ExactRank
			if f.U, err = t.Factor(pack.U(name), f.M, f.R, k); err != nil {
				return err
			}
			if f.S, err = f32(t, pack.S(name), f.R); err != nil {
				return err
			}
			if f.V, err = t.Factor(pack.V(name), f.N, f.R, k); err != nil {
				return err
			}
			var l model.Linear
			if path == FactoredPath {
				l = NewFactored(f, d.B)
			} else {
				l = newMerged(f, d.B, kern)
			}
			if err := w.Replace(name, l); err != nil {
				return fmt.Errorf("pack: %w", err)
			}
		}
		return nil
	})
}

// LoadInt8 reads an int8 pack's weights into a model for the CPU engine's int8 path,
// checking every shard's sha256 against pack.json: the int8 tensors stay int8 — adapted
// matrices MergedQ8 at z = 1 (recomposed on kern, GoKernels when nil), other matrices
// model.Q8Dense, the embedding and lm_head Weights.EmbedQ8 and LMHeadQ8 — and the f32
// ones (Manifest.F32, vectors) stay f32 (pack.Pack.Load); the exact rank's f32 columns
// stay f32 in the factors and join each W' before it is quantised. An f32 pack loads as
// Load's MergedPath.
func (p *Pack) LoadInt8(kern model.Kernels) (*model.Model, error) {
	if p.Manifest.Quant != pack.QuantInt8 {
		return p.Load(MergedPath)
	}
	return p.Pack.Load(true, func(m *model.Model, t *pack.Tensors) error {
		w := m.Weights
		k := p.Manifest.ExactRank
		for _, name := range p.Manifest.Matrices {
			d := w.Linears[name].(*model.Dense)
			M, N, R := d.Out, d.In, p.rank(name)
			u, err := t.Q8(pack.U(name), M, R-k)
			if err != nil {
				return err
			}
			v, err := t.Q8(pack.V(name), N, R-k)
			if err != nil {
				return err
			}
			sigma, err := f32(t, pack.S(name), R)
			if err != nil {
				return err
			}
			var uhi, vhi []float32
			if k > 0 {
				if uhi, err = f32(t, name+".U.hi", M*k); err != nil {
					return err
				}
				if vhi, err = f32(t, name+".V.hi", N*k); err != nil {
					return err
				}
			}
			l, err := NewMergedQ8(M, N, R, k, u, v, uhi, vhi, sigma, d.B, kern)
			if err != nil {
				return fmt.Errorf("pack: %s: %w", name, err)
			}
			if err := w.Replace(name, l); err != nil {
				return fmt.Errorf("pack: %w", err)
			}
		}
		return nil
	})
}

// f32 takes tensor name of t as n float32 values.
func f32(t *pack.Tensors, name string, n int) ([]float32, error) {
	x, err := t.Float32(name)
	if err != nil {
		return nil, err
	}
	if len(x) != n {
		return nil, fmt.Errorf("pack: tensor %s has %d values, want %d", name, len(x), n)
	}
	return x, nil
}
