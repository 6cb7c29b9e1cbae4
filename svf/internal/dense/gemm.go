package dense

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Block sizes of the packed product: a kc×nc panel of B (kc·nc·8 = 4 MiB) is shared by
// all goroutines, each packing an mc×kc block of A (128 KiB, in L2) and sweeping it over
// the panel in 4×8 tiles of C.
const (
	mr, nr = 4, 8 // register tile of C
	mc     = 64
	kc     = 256
	nc     = 2048
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C for C[m,n], op(A)[m,k], op(B)[k,n],
// where op(X) is X or Xᵀ (tA, tB). Row-major with leading dimensions lda, ldb, ldc as
// in gonum's blas.Dgemm; beta = 0 ignores C's old values (NaN included).
//
// Each element of C is C·beta plus, per block of 256 along k, one sum of fused
// multiply-adds in k order: the result does not depend on GOMAXPROCS.
// Slices too short for the shapes are caller bugs and panic.
func Gemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkMat("A", tA, m, k, a, lda)
	checkMat("B", tB, k, n, b, ldb)
	checkMat("C", false, m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	scale(m, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, c, ldc)
}

// Syrk computes C = alpha·AᵀA + beta·C for A[k,n] and the symmetric C[n,n], both
// triangles written: the upper triangle is computed by blocks (half of Gemm's work)
// and mirrored into the lower one.
func Syrk(n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	checkMat("A", false, k, n, a, lda)
	checkMat("C", false, n, n, c, ldc)
	if n == 0 {
		return
	}
	scale(n, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	// Block rows of C: C[i0:i1, i0:n] = alpha·A[:, i0:i1]ᵀ·A[:, i0:n].
	const rows = 256
	for i0 := 0; i0 < n; i0 += rows {
		i1 := min(i0+rows, n)
		gemm(true, false, i1-i0, n-i0, k, alpha, a[i0:], lda, a[i0:], lda, c[i0*ldc+i0:], ldc)
	}
	for i := range n {
		for j := range i {
			c[i*ldc+j] = c[j*ldc+i]
		}
	}
}

func checkMat(name string, trans bool, rows, cols int, x []float64, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if rows < 0 || cols < 0 || ld < max(1, cols) || (rows > 0 && len(x) < (rows-1)*ld+cols) {
		panic(fmt.Sprintf("dense: %s[%d,%d] with stride %d does not fit %d values", name, rows, cols, ld, len(x)))
	}
}

// scale sets C = beta·C, zeroing it when beta is 0.
func scale(m, n int, beta float64, c []float64, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemm adds alpha·op(A)·op(B) to C, m, n, k > 0.
func gemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) {
	blocksM := (m + mc - 1) / mc
	workers := max(1, min(runtime.GOMAXPROCS(0), blocksM))
	bp := make([]float64, roundUp(min(n, nc), nr)*min(k, kc))
	aps := make([][]float64, workers)
	for w := range aps {
		aps[w] = make([]float64, mc*min(k, kc))
	}
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			packB(bp, tB, b, ldb, pc, jc, kcb, ncb)
			// Blocks of rows are dealt round-robin to fixed workers: each C element is
			// written by exactly one goroutine, with the same arithmetic for any count.
			run := func(w int) {
				ap := aps[w]
				for blk := w; blk < blocksM; blk += workers {
					ic := blk * mc
					mcb := min(mc, m-ic)
					packA(ap, tA, a, lda, alpha, ic, pc, mcb, kcb)
					macro(ap, bp, mcb, ncb, kcb, c[ic*ldc+jc:], ldc)
				}
			}
			if workers == 1 {
				run(0)
				continue
			}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() { run(w) })
			}
			wg.Wait()
		}
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// packA writes alpha·op(A)[ic:ic+mcb, pc:pc+kcb] into ap as panels of mr rows, each
// stored k-major (ap[panel][l][i]), rows past mcb zero.
func packA(ap []float64, tA bool, a []float64, lda int, alpha float64, ic, pc, mcb, kcb int) {
	for ir := 0; ir < mcb; ir += mr {
		p := ap[ir*kcb : (ir+mr)*kcb]
		for i := range mr {
			row := ic + ir + i
			if ir+i >= mcb {
				for l := range kcb {
					p[l*mr+i] = 0
				}
				continue
			}
			if tA { // op(A)[row, pc+l] = A[pc+l, row]
				for l := range kcb {
					p[l*mr+i] = alpha * a[(pc+l)*lda+row]
				}
			} else {
				src := a[row*lda+pc : row*lda+pc+kcb]
				for l, x := range src {
					p[l*mr+i] = alpha * x
				}
			}
		}
	}
}

// packB writes op(B)[pc:pc+kcb, jc:jc+ncb] into bp as panels of nr columns, each stored
// k-major (bp[panel][l][j]), columns past ncb zero.
func packB(bp []float64, tB bool, b []float64, ldb int, pc, jc, kcb, ncb int) {
	for jr := 0; jr < ncb; jr += nr {
		p := bp[jr*kcb : (jr+nr)*kcb]
		w := min(nr, ncb-jr)
		if tB { // op(B)[pc+l, col] = B[col, pc+l]
			for j := range nr {
				if j >= w {
					for l := range kcb {
						p[l*nr+j] = 0
					}
					continue
				}
				src := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kcb]
				for l, x := range src {
					p[l*nr+j] = x
				}
			}
			continue
		}
		for l := range kcb {
			dst := p[l*nr : l*nr+nr]
			src := b[(pc+l)*ldb+jc+jr : (pc+l)*ldb+jc+jr+w]
			copy(dst, src)
			clear(dst[w:])
		}
	}
}

// macro adds the packed ap[mcb,kcb]·bp[kcb,ncb] to c[mcb,ncb], tile by tile.
func macro(ap, bp []float64, mcb, ncb, kcb int, c []float64, ldc int) {
	var tile [mr * nr]float64
	for jr := 0; jr < ncb; jr += nr {
		b := bp[jr*kcb : (jr+nr)*kcb]
		for ir := 0; ir < mcb; ir += mr {
			a := ap[ir*kcb : (ir+mr)*kcb]
			if ir+mr <= mcb && jr+nr <= ncb {
				kernel(kcb, a, b, c[ir*ldc+jr:], ldc)
				continue
			}
			clear(tile[:])
			kernel(kcb, a, b, tile[:], nr)
			for i := range min(mr, mcb-ir) {
				for j := range min(nr, ncb-jr) {
					c[(ir+i)*ldc+jr+j] += tile[i*nr+j]
				}
			}
		}
	}
}

// kernelGo adds a[k,mr]ᵀ·b[k,nr] (packed panels) to the tile c[mr,nr] (stride ldc):
// each element's sum starts at 0 and takes one fused multiply-add per l, then is added
// to c, exactly as the assembly does.
func kernelGo(k int, a, b, c []float64, ldc int) {
	var acc [mr * nr]float64
	for l := range k {
		al := a[l*mr : l*mr+mr]
		bl := b[l*nr : l*nr+nr]
		for i, x := range al {
			row := acc[i*nr : i*nr+nr]
			for j, y := range bl {
				row[j] = math.FMA(x, y, row[j])
			}
		}
	}
	for i := range mr {
		for j := range nr {
			c[i*ldc+j] += acc[i*nr+j]
		}
	}
}

// Rot applies the plane rotation [c −s; s c] to the pairs (x[i], y[i]):
// x ← c·x − s·y, y ← s·x + c·y, each as one fused multiply-add of a rounded product
// (x' = fma(c, x, −(s·y)), y' = fma(s, x, c·y)). It panics if the lengths differ.
func Rot(x, y []float64, c, s float64) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("dense: Rot: x[%d] and y[%d] differ in length", len(x), len(y)))
	}
	n := rotFast(x, y, c, s)
	rotGo(x[n:], y[n:], c, s)
}

func rotGo(x, y []float64, c, s float64) {
	y = y[:len(x)]
	for i, xi := range x {
		yi := y[i]
		x[i] = math.FMA(c, xi, -(s * yi))
		y[i] = math.FMA(s, xi, c*yi)
	}
}

// Rotation is a plane rotation of rows I and I+1 of a matrix: (x, y) ←
// (c·x − s·y, s·x + c·y), computed as Rot does.
type Rotation struct {
	I    int
	C, S float64
}

// RotRows applies rots, in order, to the columns j0 ≤ j < j1 of the rows of x (stride
// ld): the strip of a matrix that a goroutine owns. Each column sees the same sequence
// of fused multiply-adds as Rot would give it. A rotation whose rows lie outside x
// panics.
func RotRows(x []float64, ld, j0, j1 int, rots []Rotation) {
	if j0 < 0 || j1 < j0 || j1 > ld {
		panic(fmt.Sprintf("dense: RotRows: columns [%d,%d) outside stride %d", j0, j1, ld))
	}
	for _, r := range rots {
		if r.I < 0 || (r.I+1)*ld+j1 > len(x) {
			panic(fmt.Sprintf("dense: RotRows: rows %d, %d outside x[%d] with stride %d", r.I, r.I+1, len(x), ld))
		}
	}
	if len(rots) == 0 || j1 == j0 {
		return
	}
	n := rotRowsFast(x, ld, j0, j1-j0, rots)
	if j0+n == j1 {
		return
	}
	for _, r := range rots {
		rotGo(x[r.I*ld+j0+n:r.I*ld+j1], x[(r.I+1)*ld+j0+n:(r.I+1)*ld+j1], r.C, r.S)
	}
}
