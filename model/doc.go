// Package model is the CPU reference of t2web: the architecture config of a Hugging Face
// Llama-family checkpoint, its weights, the forward pass with a KV cache, and sampling.
//
// Shapes use this legend throughout:
//
//	T   tokens in a batch        D   hidden size (config hidden_size)
//	H   query heads              Hkv key/value heads (GQA: H is a multiple of Hkv)
//	Dh  head dimension           F   MLP intermediate size
//	V   vocabulary size          S   positions held by a sequence's KV cache
//
// Weight matrices are stored as Hugging Face does, out × in, row-major: a linear layer
// W[out,in] maps x[in] to y[out] = W·x.
//
// One engine interface ([Engine]) has two implementations: [CPU] here and the GPU
// engine in package shaders. Tests hold the GPU engine to this one.
package model
