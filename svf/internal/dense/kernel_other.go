//go:build !amd64

package dense

// fast is false: there is no assembly here, the Go loops always run.
var fast = false

func kernel(k int, a, b, c []float64, ldc int) { kernelGo(k, a, b, c, ldc) }

func rotFast(x, y []float64, c, s float64) int { return 0 }

func rotRowsFast(x []float64, ld, j0, n int, rots []Rotation) int { return 0 }
