// Package svf implements Singular Value Fine-tuning, the method of Transformer²
// (Sun, Cetin, Tang, arXiv 2501.06252), on the CPU: the factors of a model's weight
// matrices, a pack's adapted matrices as linears, experts, mixtures, recomposition, the
// gradient of W' with respect to an expert's parameters, the cross-entropy method over
// mixtures and the first-pass strategies. The pack's storage format (manifest, shards,
// sha256, Q8) is package model/pack, which [Pack] wraps; making a pack (the
// decomposition) is package svf/convert; training an expert (REINFORCE) is package
// svf/learn.
//
// # The method (ARCHITECTURE.md §1)
//
// Every adapted weight matrix W ∈ ℝ^{m×n} (out × in) is decomposed once, offline:
//
//	W = U · diag(σ) · Vᵀ        U ∈ ℝ^{m×r}, V ∈ ℝ^{n×r}, r = min(m, n), σ descending
//
// with nothing truncated ([Factors]; svf/convert's Decompose computes them). An expert is one vector z ∈ ℝ^r per
// adapted matrix; training parametrises z = sigmoid(p) · max_mult (max_mult = 1) and
// files store z, never p. The adapted weight is
//
//	W' = U · diag(σ ⊙ z) · Vᵀ · (Σσ / Σ(σ⊙z))
//
// ([Factors.Recompose], [NuclearScale]): the factor keeps the nuclear norm, so a uniform
// z is a no-op (W' = W). A mixture of K experts is
//
//	z' = Σ_k α_k · z_k          α_k ∈ [0, 1], not normalised
//
// with one α per expert, or one per expert per adapted matrix. An adapted matrix runs
// either merged (W' recomposed once per z, then dense matmuls) or factored,
// y = c · U (s ⊙ (Vᵀ x)) with s = σ ⊙ z and c = Σσ/Σ(σ⊙z).
//
// Experts are trained by REINFORCE with a KL penalty towards the base model,
//
//	J = E[ log π_{W'}(ŷ|x) · r(x, ŷ) ] − λ · KL(π_{W'} ‖ π_W)     r = ±1
//
// with gradients flowing only into p ([Factors.GradP] here, the rest in svf/learn).
//
// # The reference code's files
//
// The reference implementation (github.com/SakanaAI/self-adaptive-llms) caches torch.svd's
// factors of a model (decomposed_params.pt) and saves experts as pre-sigmoid p. Its
// compose_new_params is the formula above with z = bf16(sigmoid(p))·max_mult, the same
// nuclear-norm rescale over the same σ, so svf/convert's Options.Factors with its
// NewFactors builds a pack from its factors and [Pack.ReferenceExpert] makes z from its p ([ReferenceZ]);
// the files themselves are read by package model/torchpt, in t2 (build/).
//
// # Shapes
//
// Tensor arguments are shaped in these letters:
//
//	T   tokens in a batch        D   hidden size (config hidden_size)
//	H   query heads              Hkv key/value heads
//	Dh  head dimension           F   MLP intermediate size
//	V   vocabulary size          R   rank of an adapted matrix, min(M, N)
//	K   experts in a mixture     P   CEM population size
//	M   rows of a matrix (out)   N   columns of a matrix (in)
//
// (As a shape letter V is the vocabulary; the matrix of right singular vectors is
// written V[N,R].) Matrices are row-major float32, out × in as Hugging Face stores
// them; the factors are U[M,R], S[R] (σ) and V[N,R].
//
// # Packages
//
// The page's engine worker (./wasm, engine.wasm) imports this package, so what it holds
// is what every visitor downloads. Two parts of the method live in sub-packages instead:
//
//   - svf/convert makes a pack from a checkpoint: the SVD (gonum's BLAS and LAPACK
//     reduce the Gram matrix to tridiagonal form) and the pack writer. Only t2 (build/)
//     and tests run it.
//   - svf/learn trains an expert by REINFORCE or the next-token objective, through the
//     backward pass of package model/train. t2 and the trainer worker (./wasm/trainer,
//     loaded only when the page trains) run it.
//
// Neither is imported here, and build's TestEngineImports fails if the engine's import
// graph gains gonum or model/train again. The GPU engine (package shaders) reads packs
// through model/pack and does not import this package either.
//
// # Quantisation
//
// In an int8 pack U and V are stored as Q8 ([pack.QuantizeQ8]): int8 values and one
// float32 scale per block of [pack.Q8Block] = 32 consecutive elements along R, scale =
// absmax/127, like llama.cpp's Q8_0. Per-row scales, the other choice ARCHITECTURE §3
// allows, miss the 1 % fidelity bar on SmolLM2-135M-shaped matrices (≈ 1.06–1.17 %
// relative Frobenius error of the recomposed W, against ≈ 0.76–0.86 % with blocks of
// 32; see TestFidelityQ8).
//
// That error is small for a large model but not for a tiny one that writes long greedy
// answers: on the first demo model (2.5 M parameters, byte tokens) one flipped token in
// 20 answers changed the rest of it. An int8 pack can therefore keep the first K columns of U and V — the K
// largest singular directions, which carry most of W — in f32 (svf/convert's Options.ExactRank,
// about 4× less error at K = R/4 on the demo), and named unadapted matrices such as the
// embeddings (Options.F32).
package svf
