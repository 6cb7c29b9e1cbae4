package dense

import "golang.org/x/sys/cpu"

// fast is whether the AVX2/FMA assembly runs; it gives the same bits as the Go loops.
var fast = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern4x8(k int, a, b, c *float64, ldc int)

//go:noescape
func rot4(n int, x, y *float64, c, s float64)

func kernel(k int, a, b, c []float64, ldc int) {
	if !fast {
		kernelGo(k, a, b, c, ldc)
		return
	}
	_ = a[k*mr-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kern4x8(k, &a[0], &b[0], &c[0], ldc)
}

// rotFast rotates the longest prefix of whole 4-element groups and returns its length.
func rotFast(x, y []float64, c, s float64) int {
	n := len(x) &^ 3
	if !fast || n == 0 {
		return 0
	}
	_ = y[n-1]
	rot4(n, &x[0], &y[0], c, s)
	return n
}

//go:noescape
func rotStrip(x *float64, ld, n int, rots *Rotation, nrots int)

// rotRowsFast applies rots to the columns j0…j0+n' of x's rows, n' the largest multiple
// of 4 ≤ n, and returns n'.
func rotRowsFast(x []float64, ld, j0, n int, rots []Rotation) int {
	n &^= 3
	if !fast || n == 0 {
		return 0
	}
	rotStrip(&x[j0], ld, n, &rots[0], len(rots))
	return n
}
