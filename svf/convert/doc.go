// Package convert makes a pack (the format of package model/pack) from a Hugging Face
// checkpoint: the thin SVD of every adapted weight matrix, computed once, offline, and
// the pack's shards and pack.json. It also takes factors computed elsewhere, such as the reference code's
// decomposed_params.pt ([NewFactors], [Options].Factors).
//
// It is a package of its own, and not part of svf, because the page never converts:
// svf is imported by the page's engine worker (engine.wasm), and the decomposition needs
// gonum's BLAS and LAPACK. Only t2 (build/) and tests import convert.
//
// Shapes are in package svf's letters: W[M,N] (out × in), R = min(M, N), and the factors
// U[M,R], S[R] (σ), V[N,R] of [svf.Factors].
//
// # Decomposition
//
// [Decompose] takes the SVD through the Gram matrix: G = AᵀA for the smaller side,
// its eigenvectors V by a tridiagonal reduction and the QL iteration, then
// U·diag(σ) = A·V, with σ from the column norms and the columns of small σ
// re-orthogonalised. The products and the eigenvector rotations, where the time goes,
// run in svf/internal/dense's kernels on every core. Its accuracy against gonum's
// mat.SVD (float32 rounding, ≈ 6e-8, in every measure) and its times at real shapes
// (a 4096×14336 matrix in about 3 minutes on 2 shared cores, 1.4 GB) are in
// Decompose's comment and docs/CONVERSION.md. Signs are fixed so that a pack is
// reproducible; [NewFactors] gives factors made elsewhere the same convention.
//
// # Conversion
//
// [Convert] keeps each decomposed matrix in a scratch file in the pack's folder until
// the pack is written, so an interrupted conversion resumes where it stopped
// ([ConvertContext]). U and V are stored as Q8 ([pack.QuantizeQ8]) in an int8 pack, optionally with
// the first K columns in f32 ([Options].ExactRank); package svf's doc says why.
package convert
