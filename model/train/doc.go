// Package train trains Llama-family models on the CPU, in the manner of llm.c's
// train_gpt2.c: a forward pass over a batch that keeps every activation the backward pass
// needs, the backward pass, AdamW with global gradient-norm clipping, and checkpoints
// that resume a run exactly.
//
// The model is the one of package model — the same [model.Config], the same Hugging Face
// weight names and layouts, RoPE in rotate_half form, grouped-query attention, SwiGLU,
// RMSNorm, optional q/k/v and o biases, tied or separate lm_head — and its forward pass
// computes the same function as [model.CPU]. A trained [Model] hands its weights to
// package model as a [model.Weights] ([Model.Weights]) or as safetensors
// ([Model.WriteSafetensors]).
//
// Shapes use this legend throughout:
//
//	B   sequences in a batch      T   tokens per sequence      N   = B*T rows
//	D   hidden size               V   vocabulary size          L   layers
//	H   query heads               Hkv key/value heads          Dh  head dimension
//	Q   = H*Dh                    KV  = Hkv*Dh                 QKV = Q + 2*KV
//	F   MLP intermediate size
//
// Matrices are row-major and stored as Hugging Face does, out × in: a weight w[OC,C]
// maps a row x[C] to y[OC] = w·x. Every layer kind has its forward and its backward in
// one file (rmsnorm.go, matmul.go, rope.go, attention.go, swiglu.go, embedding.go,
// crossentropy.go), and forward.go runs them in order, as llm.c's gpt2_forward and
// gpt2_backward. A backward adds (+=) into the weights' gradients, as llm.c's do, so
// Model.ZeroGrad comes first; gradients w.r.t. activations are written or added as
// each function says.
//
// All layer functions are generic over float32 and float64: training runs in float32, and
// the tests check every backward against central finite differences in float64.
//
// # Speed
//
// Memory is planned once in New (llm.c's fill_in_parameter_sizes and
// fill_in_activation_sizes): a training step allocates nothing. The matmuls, attention,
// RMSNorm and SwiGLU share their rows among a pool of GOMAXPROCS goroutines started
// with the model, and every output element is computed the same way whichever goroutine
// takes it, so a run is deterministic. All the matrix products — the linear layers
// forward and backward, and attention's per-head products — go through one gemm.
//
// Built with GOEXPERIMENT=simd on amd64 (Go's simd/archsimd), and on a CPU with AVX2 and
// FMA, Model[float32] runs vector kernels (vector.go): the gemm on AVX-512 or AVX2
// register tiles, exp, softmax, SwiGLU and AdamW on 8 lanes — about 7× faster than the
// portable scalar kernels, which every other build uses (vector_stub.go). Both paths pass
// the same tests.
package train
