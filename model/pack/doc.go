// Package pack reads the pack format, a model ready for the browser in one static
// folder (ARCHITECTURE §3): the manifest, the shards and their sha256 checks, the Q8
// blocks and exact-rank joins of an int8 pack, and a model of its weights. It is the
// storage only, beside model/safetensors which its shards are: the method that gives
// an adapted matrix its meaning (W' = U·diag(σ⊙z)·Vᵀ·c, experts, mixtures) is package
// svf, and the writer of packs is svf/convert. The GPU engine (package shaders) reads
// packs through this package alone, so the engine does not import the method.
//
// # The format
//
//	pack.json                       Manifest: format version, config, targets, quantisation, shards
//	weights-NNNNN.safetensors       shards of at most DefaultShardBytes each
//	tokenizer.json, tokenizer_config.json, generation_config.json   copied unchanged
//	experts/index.json, experts/NAME.safetensors                    SVF experts (package svf)
//
// An adapted matrix X (a Hugging Face matrix name without ".weight") of rank R is
// stored as X.U [M,R], X.S [R] f32 and X.V [N,R], plus X.bias if it has one. With int8
// quantisation U, V and every other matrix are Q8 ([QuantizeQ8]): int8 values and f32
// scales NAME.scale [rows, ceil(cols/32)], one per block of [Q8Block] = 32 consecutive
// elements of a row, like llama.cpp's Q8_0; vectors (norms, biases, σ) stay f32. A
// tensor larger than a shard is split by rows into NAME#0, NAME#1, …
// (Manifest.Parts). Version 2 adds two ways to keep an int8 pack closer to its model:
// f32 for the first K columns of U and V, NAME.U.hi [M,K] and NAME.V.hi [N,K]
// (Manifest.ExactRank; [JoinColumns] joins them back), and f32 for named unadapted
// matrices (Manifest.F32). The writer and every reader build these names with [U], [S],
// [V], [Piece.Of] and [Part], and take them apart with [CutPart] and [CutPiece].
//
// # Reading
//
// [Open] checks pack.json; [Pack.ReadShard] reads one shard and checks its size and
// sha256 (an engine streaming a pack to a device reads one at a time);
// [Pack.Load] reads them all and makes a model of every weight but the adapted matrices,
// whose factors it hands to svf's build function.
//
// # Shapes
//
//	M   rows of a matrix (out)   N   columns of a matrix (in)
//	R   rank of an adapted matrix, min(M, N)
//	K   exact rank: columns of U and V kept in f32
package pack
