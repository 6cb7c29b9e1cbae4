// Package torchpt reads the tensors of a PyTorch `torch.save` file (.pt) holding a dict of
// tensors — a module's state_dict(), or a plain dict of tensors or parameters — without
// running any of it.
//
// # The format
//
// Since PyTorch 1.6, torch.save writes a zip archive (entries stored, not compressed)
// whose entries share one top folder, ARCHIVE (the file's base name, or "archive"):
//
//	ARCHIVE/data.pkl     the object, pickled (protocol 2 by default)
//	ARCHIVE/data/KEY     the bytes of storage KEY, little-endian, numel·itemsize bytes
//	ARCHIVE/byteorder    "little" (newer PyTorch only)
//	ARCHIVE/version      the format version
//
// In data.pkl a tensor is a call of torch._utils._rebuild_tensor_v2(storage, offset,
// size, stride, requires_grad, hooks) whose storage is a persistent id, the tuple
// ("storage", torch.FloatStorage, KEY, location, numel). Views are saved as views: a
// tensor's offset and strides (in elements) index its storage, and several tensors may
// share one storage (torch.svd's V, for one, is a transposed view and so not contiguous).
//
// # Safety
//
// A pickle is a program: a general unpickler imports and calls whatever it names. This
// package runs a small pickle machine of its own that builds plain Go values and knows
// only the opcodes and the globals that torch.save of a tensor dict emits:
// collections.OrderedDict, torch._utils._rebuild_tensor_v2, _rebuild_parameter and
// _rebuild_parameter_with_state (each rebuilt in Go, from checked arguments), and the
// typed storage classes (torch.FloatStorage, …) inside persistent ids. Any other opcode
// or global is an error naming it and its offset in data.pkl ([ErrUnsupported]); nothing
// is ever imported, called or executed. Lengths are checked against the bytes left before
// anything is allocated, every storage must be an entry of the archive of exactly its
// numel·itemsize bytes, and every view must lie inside its storage, so a hostile file
// can make the reader fail but not allocate more than a small multiple of its size.
//
// The pre-1.6 format (a bare pickle stream, torch.save(…, _use_new_zipfile_serialization=
// False)) and TorchScript archives (torch.jit.save) are refused with errors saying so
// ([ErrLegacy], [ErrNotTorchSave]).
//
// # Reading
//
// [Open] (or [NewReader]) parses data.pkl and checks every tensor's layout; no tensor data
// is read until [File.Float32] asks for one, which reads only the bytes its view spans, so
// a multi-gigabyte file of SVD factors is read one matrix at a time. [File.Float32]
// converts F32, BF16, F16 and F64 storages to float32 (exactly but for F64, which rounds),
// row-major, whatever the view's strides.
package torchpt
