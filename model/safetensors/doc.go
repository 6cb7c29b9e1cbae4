// Package safetensors reads and writes the Hugging Face safetensors format, the file
// format of the checkpoints t2web loads.
//
// # The format
//
// A safetensors file is three parts:
//
//	[8 bytes]  N, the header length, a little-endian uint64
//	[N bytes]  the header: a JSON object, padded with spaces
//	[rest]     the data section: every tensor's bytes, little-endian, row-major
//
// The header maps each tensor name to its dtype, shape and byte range within the data
// section (offsets count from the first byte after the header, not from the start of the
// file), plus an optional "__metadata__" object of string pairs:
//
//	{
//	  "__metadata__": {"format": "pt"},
//	  "model.norm.weight": {"dtype": "BF16", "shape": [64], "data_offsets": [0, 128]}
//	}
//
// A tensor of shape [A, B] and dtype d occupies exactly A·B·d.Size() bytes. The scalar
// shape [] holds one element.
//
// # Reading
//
// [Open] parses and checks the header of one file held by an [io.ReaderAt]; nothing else
// is read until a tensor is asked for by [File.Raw] (its bytes) or [File.Float32] (its
// values converted exactly to float32 where the dtype allows). A header is untrusted input:
// every lie it can tell (a length past the end of the file, offsets that overlap or run
// past the data, a byte range that disagrees with the shape, an unknown dtype) is reported
// as a [*FormatError] naming the file, the tensor and the field, never as a panic or an
// allocation larger than the file.
//
// [OpenCheckpoint] opens a Hugging Face checkpoint folder, one model.safetensors or the
// shards listed by model.safetensors.index.json, and gives the same accessors across all
// of its files.
//
// # Writing
//
// [Write] lays out a list of [Tensor] values in the order given, with a header whose keys
// are sorted, so the same tensors always give the same bytes.
//
// # Number formats
//
// BF16 is the top half of a float32; F16 is IEEE 754 binary16 (5 exponent bits, 10
// mantissa bits, subnormals below 2⁻¹⁴). Both widen to float32 exactly
// ([BF16ToFloat32], [F16ToFloat32]) and narrow with round-to-nearest-even
// ([Float32ToBF16], [Float32ToF16]).
package safetensors
