// Package shaders is the GPU engine of t2web: WGSL compute kernels for the whole forward
// pass of a Llama-family model and for Transformer²'s singular-value fine-tuning (SVF),
// run through github.com/gogpu/wgpu — natively on its Vulkan backend (Mesa lavapipe in
// tests, a real GPU elsewhere) and, in the page, on the browser's WebGPU (the GOOS=js
// build of the same package and the same WGSL).
//
// Shapes use model's legend, plus the SVF letters:
//
//	T   tokens in a batch        D   hidden size
//	H   query heads              Hkv key/value heads (GQA: H is a multiple of Hkv)
//	Dh  head dimension           F   MLP intermediate size
//	V   vocabulary size          S   positions of the KV cache
//	R   rank of an SVF factor    P   candidates (CEM population) in a factored batch
//	m×n an adapted matrix W[m,n] (out × in) = U[m,R]·diag(σ)·V[n,R]ᵀ
//
// Matrices are out × in, row-major, as Hugging Face stores them: a linear layer is
// y[T,out] = x[T,in]·W[out,in]ᵀ (+ b[out]).
//
// # Q8 storage
//
// An int8 matrix x[rows, cols] ([Q8]) is two buffers: q, the int8 values row-major, packed
// four per u32 word little-endian (byte index row*cols+col, rows not padded), and scale
// f32 [rows, ceil(cols/32)], one scale per block of 32 consecutive elements of a row;
// x ≈ q·scale. Kernels unpack a byte with shifts, bitcast<i32>(w << (24 - 8·(i%4))) >> 24,
// so neither shader-f16 nor the pack built-ins are needed.
//
// # Kernels, twins, tests
//
// Each kernel lives in a .wgsl file whose header gives its formula, bindings with shapes,
// workgroup layout, tunables and its CPU twin; a Go method of [Batch] records it. Tests
// hold every kernel to its twin (package model's functions, or naive float64 twins in
// the tests) on Vulkan only — gogpu's pure-Go software backend silently miscomputes
// workgroup memory and barriers, and this package never registers it.
//
// # Running kernels
//
// [Open] gives a [Device] — natively the first Vulkan adapter, refusing any other
// backend; its limits are checked against what the kernels need. In the browser
// (GOOS=js) it is navigator.gpu's default adapter, with the adapter's limits (Chromium
// grants 128 MiB storage bindings unless asked for more); OpenWeb also returns a Web:
// the adapter's GPUAdapterInfo (a fallback adapter such as SwiftShader gets the CPU
// matvec layout) and the WebGPU errors, which the browser reports as uncapturederror
// events, not as errors of the calls that caused them. [BenchKernels] times the kernels
// that say how well an adapter is used (copy, matvecs, recompose, matmul). Buffers are [Buffer]
// (f32/u32 storage) and [Q8]. A [Batch] records kernels once — sizes go to uniforms
// fixed at record time, values that change per step (token ids, positions, the random
// number of sampling) live in buffers — and can then be submitted any number of times,
// one command buffer per submit; [Device.Read] brings results back.
//
// # The engine
//
// [NewEngine] loads a pack (package model/pack: the storage format, not the method of
// package svf, which this package does not import) into a [Device] shard by shard (read,
// sha256 checked, tensors uploaded, shard dropped) and gives an [Engine], the GPU
// implementation of model.Engine. Adapted matrices keep U, σ, V on the device; W' = U·diag(σ⊙z)·Vᵀ·c is
// recomposed there ([Batch.SVFScale], then [Batch.RecomposeInto]) at load and on every
// SetZ, for those matrices only — as Q8 by default for an int8 pack (a quarter of the
// bytes a token reads; EngineOptions.MergedF32 keeps the exact float32 W') — and the
// others run from the pack's f32 or int8 weights. A layer's q, k, v are stacked by rows in
// one weight, and gate, up in another, when they fit one binding.
//
// A forward pass is recorded once per (rows, output rows) shape and resubmitted with new
// ids, positions and sequences in small buffers; the KV cache, activations and greedy
// sampling stay on the device. A decode step (one row) runs the fused kernels
// (fused.wgsl): five dispatches a layer — RMSNorm + q/k/v + RoPE + KV-cache store,
// attention, O + residual, RMSNorm + gate/up + SiLU·up, down + residual — and three
// outside (embedding, final norm + lm_head, argmax); [Engine.DecodeDispatches] counts
// them. Longer batches (prefill) and population batches run kernel by kernel: on a GPU
// the weights read once per 8 rows or in 64×64 tiles; on a CPU adapter (lavapipe,
// SwiftShader), where barriers cost more than arithmetic, a thread computes a 4×4 block
// of rows × outputs in registers (rows.wgsl, factored_rows.wgsl) and attention takes
// the barrier-free split kernels. The last layer runs past its K and V only on the rows
// that give logits. Population batches run the adapted matrices factored, each row with
// its candidate's scales — but for a population of one z whose W' the engine holds
// beside its own (the base model's, made at load, and one kept z: [Engine.KeepMerged]),
// which runs plain on that copy; SetZ to such a z copies it instead of recomposing.
// [Engine.Generate] chains decode steps
// on the device — each pass takes its token from the previous pass's argmax (or Sample
// kernel) — and reads tokens back asynchronously ([Device.ReadAsync]) while the next
// pass runs. A tensor larger than the device's maxStorageBufferBindingSize is held in
// parts of whole rows, each kernel run per part (and then not stacked).
//
// Tunables are WGSL `override` constants, applied by rewriting them to `const` before
// compilation (gogpu/wgpu v0.31.5's Vulkan backend ignores pipeline constants); the
// device picks per-adapter values where it matters (the matvec layout: a reduction over
// 64 threads per row on GPUs, one thread per row and no barrier on CPU adapters).
//
// On lavapipe, compiling a kernel that has a loop and a barrier takes seconds (LLVM's
// coroutine lowering); Mesa caches the result in ~/.cache/mesa_shader_cache, so the
// tests take about 5 s warm and about 5 min the first time after a kernel changes.
package shaders
