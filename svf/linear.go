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
	pop population
}

// NewFactored makes the factored form of f with bias b (nil for none), at z = 1.
func NewFactored(f *Factors, b []float32) *Factored {
	l := &Factored{f: f, vt: transposeV(f), b: b, s: make([]float32, f.R)}
	l.SetZ(nil)
	return l
}

// transposeV returns Vᵀ [R, N] of f.
func transposeV(f *Factors) []float32 {
	vt := make([]float32, f.R*f.N)
	for j := range f.N {
		for k := range f.R {
			vt[k*f.N+j] = f.V[j*f.R+k]
		}
	}
	return vt
}

// Apply writes y[T,M] = c·U(s⊙(Vᵀx)) + b for the rows of x[T,N].
func (l *Factored) Apply(y, x []float32, T int) {
	l.tmp = factored(y, x, l.f, l.vt, l.b, T, l.tmp, func(int) []float32 { return l.s })
}

// factored writes y[T,M] = U(s_t⊙(Vᵀx_t)) + b for the rows x_t of x[T,N], with
// s_t = scale(t) [R] (c folded in) and vt = Vᵀ [R,N]; tmp is scratch, returned grown.
func factored(y, x []float32, f *Factors, vt, b []float32, T int, tmp []float32, scale func(t int) []float32) []float32 {
	if cap(tmp) < T*f.R {
		tmp = make([]float32, T*f.R)
	}
	h := tmp[:T*f.R]
	model.MatMul(h, x, vt, nil, T, f.N, f.R)
	for t := range T {
		row := h[t*f.R : (t+1)*f.R]
		for k, s := range scale(t) {
			row[k] *= s
		}
	}
	model.MatMul(y, h, f.U, b, T, f.R, f.M)
	return tmp
}

// scales writes s[R] = c·σ⊙z with c = Σσ/Σ(σ⊙z) (NuclearScale); z nil is z = 1.
func scales(s []float32, f *Factors, z []float32) error {
	if z != nil && len(z) != f.R {
		return fmt.Errorf("svf: z has %d values, the matrix has rank %d", len(z), f.R)
	}
	c := NuclearScale(f.S, z)
	for k, x := range f.S {
		if z != nil {
			x *= z[k]
		}
		s[k] = c * x
	}
	return nil
}

// population holds P candidates' scales for the factored apply of a population batch
// (ARCHITECTURE §2): row t of a batch runs y = c_p·U(σ⊙z_p ⊙ Vᵀx) + b, p = cand[t].
type population struct {
	vt  []float32   // [R, N] Vᵀ, made on first use by a Merged matrix
	s   [][]float32 // [P][R] c_p·σ⊙z_p
	tmp []float32   // [T, R] scratch
}

// set makes the scales of zs (nil entries: z = 1); empty zs drops them.
func (p *population) set(f *Factors, zs [][]float32) error {
	s := make([][]float32, len(zs))
	for i, z := range zs {
		s[i] = make([]float32, f.R)
		if err := scales(s[i], f, z); err != nil {
			return fmt.Errorf("candidate %d: %w", i, err)
		}
	}
	p.s = s
	if len(s) == 0 {
		p.tmp = nil
	}
	return nil
}

// apply writes y[T,M] for x[T,N], row t under candidate cand[t].
func (p *population) apply(y, x []float32, f *Factors, vt, b []float32, cand []int, T int) {
	if len(cand) < T {
		panic(fmt.Sprintf("svf: ApplyPopulation: %d candidates for %d rows", len(cand), T))
	}
	p.tmp = factored(y, x, f, vt, b, T, p.tmp, func(t int) []float32 { return p.s[cand[t]] })
}

// SetPopulation holds the scales of P candidates' z (nil: z = 1); see model.Adaptable.
func (l *Factored) SetPopulation(zs [][]float32) error { return l.pop.set(l.f, zs) }

// ApplyPopulation writes y[T,M] = c_p·U(σ⊙z_p ⊙ Vᵀx) + b, p = cand[t] for row t.
func (l *Factored) ApplyPopulation(y, x []float32, cand []int, T int) {
	l.pop.apply(y, x, l.f, l.vt, l.b, cand, T)
}

// Factors returns the matrix's factors (shared, not a copy).
func (l *Factored) Factors() *Factors { return l.f }

// Dims returns (M, N).
func (l *Factored) Dims() (out, in int) { return l.f.M, l.f.N }

// Rank returns R.
func (l *Factored) Rank() int { return l.f.R }

// SetZ sets s = c·σ⊙z; nil is z = 1.
func (l *Factored) SetZ(z []float32) error { return scales(l.s, l.f, z) }

// Merged is an adapted matrix held recomposed: W' = U·diag(σ⊙z)·Vᵀ·c is computed
// once per z, then applied as a dense matmul. Best for generation.
type Merged struct {
	f     *Factors
	dense model.Dense // W' [M, N] and the bias
	pop   population  // candidates of population batches, applied factored
	// k, when set, recomposes in float32 through its MatMulF32 (RecomposeKernels), with
	// sc: the page's trainer, whose Go loops would cost more than its training.
	k  model.Kernels
	sc *KernelScratch
}

// NewMerged recomposes f at z = 1, with bias b (nil for none).
func NewMerged(f *Factors, b []float32) *Merged { return newMerged(f, b, nil) }

// newMerged is NewMerged, recomposing on k when it is not nil.
func newMerged(f *Factors, b []float32, k model.Kernels) *Merged {
	l := &Merged{f: f, dense: model.Dense{W: make([]float32, f.M*f.N), B: b, Out: f.M, In: f.N}, k: k}
	if k != nil {
		l.sc = NewKernelScratch(f)
	}
	l.SetZ(nil)
	return l
}

// Dense returns W' of the current z and the bias, as a dense matrix (shared, not a copy).
func (l *Merged) Dense() *model.Dense { return &l.dense }

// Factors returns the matrix's factors (shared, not a copy).
func (l *Merged) Factors() *Factors { return l.f }

// KernelScratch returns the scratch its recomposition through kernels uses, nil when it
// recomposes in Go: svf/learn passes it to GradPKernels for the same matrix.
func (l *Merged) KernelScratch() *KernelScratch { return l.sc }

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
	if l.k != nil {
		l.f.RecomposeKernels(l.k, l.sc, l.dense.W, z)
		return nil
	}
	l.f.Recompose(l.dense.W, z)
	return nil
}

// SetPopulation holds the scales of P candidates' z (nil: z = 1); see model.Adaptable.
// W' stays the one of SetZ.
func (l *Merged) SetPopulation(zs [][]float32) error {
	if len(zs) > 0 && l.pop.vt == nil {
		l.pop.vt = transposeV(l.f)
	}
	return l.pop.set(l.f, zs)
}

// ApplyPopulation writes y[T,M] = c_p·U(σ⊙z_p ⊙ Vᵀx) + b, p = cand[t] for row t: the
// factored form, as a population has no single W' to merge.
func (l *Merged) ApplyPopulation(y, x []float32, cand []int, T int) {
	l.pop.apply(y, x, l.f, l.pop.vt, l.dense.B, cand, T)
}
