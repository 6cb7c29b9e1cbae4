package svf

import (
	"fmt"

	"github.com/t2web/t2web/model"
)

// Factored is an adapted matrix applied without recomposing it (ARCHITECTURE §2):
// y = c·U(s⊙(Vᵀx)) + b with s = σ⊙z and c = Σσ/Σ(σ⊙z), two thin matmuls through the
// rank R. Best for scoring many z on short inputs.
type Factored struct {
	f   *Factors
	vt  []float32 // [R, N] Vᵀ, so that Vᵀx is a row-major matmul
	b   []float32 // [M] bias or nil
	s   []float32 // [R] c·σ⊙z
	tmp []float32 // [T, R] scratch
}

// NewFactored makes the factored form of f with bias b (nil for none), at z = 1.
func NewFactored(f *Factors, b []float32) *Factored {
	vt := make([]float32, f.R*f.N)
	for j := range f.N {
		for k := range f.R {
			vt[k*f.N+j] = f.V[j*f.R+k]
		}
	}
	l := &Factored{f: f, vt: vt, b: b, s: make([]float32, f.R)}
	l.SetZ(nil)
	return l
}

// Apply writes y[T,M] = c·U(s⊙(Vᵀx)) + b for the rows of x[T,N].
func (l *Factored) Apply(y, x []float32, T int) {
	f := l.f
	if cap(l.tmp) < T*f.R {
		l.tmp = make([]float32, T*f.R)
	}
	tmp := l.tmp[:T*f.R]
	model.MatMul(tmp, x, l.vt, nil, T, f.N, f.R)
	for t := range T {
		row := tmp[t*f.R : (t+1)*f.R]
		for k, s := range l.s {
			row[k] *= s
		}
	}
	model.MatMul(y, tmp, f.U, l.b, T, f.R, f.M)
}

// Dims returns (M, N).
func (l *Factored) Dims() (out, in int) { return l.f.M, l.f.N }

// Rank returns R.
func (l *Factored) Rank() int { return l.f.R }

// SetZ sets s = c·σ⊙z; nil is z = 1.
func (l *Factored) SetZ(z []float32) error {
	if z != nil && len(z) != l.f.R {
		return fmt.Errorf("svf: z has %d values, the matrix has rank %d", len(z), l.f.R)
	}
	c := NuclearScale(l.f.S, z)
	for k, s := range l.f.S {
		if z != nil {
			s *= z[k]
		}
		l.s[k] = c * s
	}
	return nil
}

// Merged is an adapted matrix held recomposed: W' = U·diag(σ⊙z)·Vᵀ·c is computed
// once per z, then applied as a dense matmul. Best for generation.
type Merged struct {
	f     *Factors
	dense model.Dense // W' [M, N] and the bias
}

// NewMerged recomposes f at z = 1, with bias b (nil for none).
func NewMerged(f *Factors, b []float32) *Merged {
	l := &Merged{f: f, dense: model.Dense{W: make([]float32, f.M*f.N), B: b, Out: f.M, In: f.N}}
	l.SetZ(nil)
	return l
}

// Apply writes y[T,M] = x[T,N]·W'ᵀ + b.
func (l *Merged) Apply(y, x []float32, T int) { l.dense.Apply(y, x, T) }

// Dims returns (M, N).
func (l *Merged) Dims() (out, in int) { return l.f.M, l.f.N }

// Rank returns R.
func (l *Merged) Rank() int { return l.f.R }

// SetZ recomposes W' for z; nil is z = 1.
func (l *Merged) SetZ(z []float32) error {
	if z != nil && len(z) != l.f.R {
		return fmt.Errorf("svf: z has %d values, the matrix has rank %d", len(z), l.f.R)
	}
	l.f.Recompose(l.dense.W, z)
	return nil
}
