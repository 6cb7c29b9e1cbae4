// Package dense holds the two float64 kernels that the SVD of a large weight matrix
// spends its time in: a packed, parallel matrix product (Gemm, Syrk) and the
// application of a plane rotation to two rows (Rot).
//
// They exist because gonum's pure-Go BLAS, which everything else here uses, is the
// bottleneck at real shapes: its Dgemm ran at 2.5–5 GFLOP/s on this machine's two
// cores (64×64 blocks of axpy, no register tiling), and the symmetric eigensolver's
// rotations at about 1.5 GFLOP/s per core. The SVD of a 4096×14336 matrix needs
// 3·p·q² ≈ 720 GFLOP of products and ≈ 7·q³ ≈ 480 GFLOP of rotations.
// On amd64 with AVX2 and FMA the inner loops are assembly (a 4×8 register tile,
// four lanes of rotation); elsewhere they are Go loops with math.FMA.
//
// Every element is computed by the same sequence of fused multiply-adds whichever
// path runs and however many goroutines share the work, so results are the same bits
// on every machine and for every GOMAXPROCS.
//
// Matrices are row-major float64 slices with a leading dimension (the stride between
// rows), as in gonum's blas.
package dense
