package main

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"

	"github.com/t2web/t2web/model/torchpt"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/convert"
)

// referenceSVD supplies convert.Convert with the factors the reference code
// (SakanaAI/self-adaptive-llms, svd_reinforce_hydra.py) caches in decomposed_params.pt:
// torch.svd of every weight whose name lacks "norm", as NAME.U [M,R], NAME.S [R] and
// NAME.V [N,R], NAME ending in ".weight". Each matrix's factors are checked against its
// weight, ‖W − U·diag(S)·Vᵀ‖/‖W‖ (convert.ReconstructionError), and refused above tol.
type referenceSVD struct {
	file *torchpt.File
	tol  float64

	mu     sync.Mutex // factors runs on several goroutines
	checks map[string]svdCheck
}

// svdCheck is what was measured of one matrix's factors.
type svdCheck struct {
	m, n  int
	rel   float64
	exact bool
}

func openReferenceSVD(path string, tol float64) (*referenceSVD, error) {
	f, err := torchpt.Open(path)
	if err != nil {
		return nil, err
	}
	return &referenceSVD{file: f, tol: tol, checks: map[string]svdCheck{}}, nil
}

// factors is convert.Options.Factors: the checked factors of matrix (no ".weight"),
// whose weight is w[m,n]. Convert names the matrix in its errors.
func (r *referenceSVD) factors(matrix string, w []float32, m, n int) (*svf.Factors, error) {
	rank := min(m, n)
	var parts [3][]float32
	for i, p := range []struct {
		suffix string
		shape  []int
	}{{"U", []int{m, rank}}, {"S", []int{rank}}, {"V", []int{n, rank}}} {
		key := matrix + ".weight." + p.suffix
		t := r.file.Tensor(key)
		if t == nil {
			return nil, fmt.Errorf("%s has no tensor %s (it has %d tensors; the reference writes NAME.weight.U, .S, .V for every weight without \"norm\" in its name)",
				r.file.Name(), key, len(r.file.Tensors()))
		}
		if !slices.Equal(t.Shape, p.shape) {
			return nil, fmt.Errorf("%s: %s has shape %v, want %v for a weight of [%d %d] (thin torch.svd)", r.file.Name(), key, t.Shape, p.shape, m, n)
		}
		x, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.file.Name(), err)
		}
		parts[i] = x
	}
	f, err := convert.NewFactors(parts[0], parts[1], parts[2], m, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.file.Name(), err)
	}
	rel, exact := convert.ReconstructionError(w, f)
	r.mu.Lock()
	r.checks[matrix] = svdCheck{m, n, rel, exact}
	r.mu.Unlock()
	if !(rel <= r.tol) {
		return nil, fmt.Errorf("%s: ‖W − U·diag(S)·Vᵀ‖/‖W‖ = %.3g is above the tolerance %g (--svd-tolerance): these factors are not of this checkpoint's weight",
			r.file.Name(), rel, r.tol)
	}
	return f, nil
}

// report writes each adapted matrix's relative reconstruction error, in model order.
func (r *referenceSVD) report(w io.Writer, matrices []string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "factors from %s, ‖W − U·diag(S)·Vᵀ‖/‖W‖ per matrix (tolerance %g):\n", r.file.Name(), r.tol)
	worst, at := -1.0, ""
	for _, m := range matrices {
		c, ok := r.checks[m]
		if !ok {
			continue
		}
		how := "exact"
		if !c.exact {
			how = "estimated, 16 probes"
		}
		fmt.Fprintf(tw, "  %s\t%d×%d\t%.2e\t%s\n", m, c.m, c.n, c.rel, how)
		if c.rel > worst {
			worst, at = c.rel, m
		}
	}
	tw.Flush()
	if at != "" {
		fmt.Fprintf(w, "largest: %.2e (%s)\n", worst, at)
	}
}
