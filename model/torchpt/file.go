package torchpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strings"

	"github.com/t2web/t2web/model/safetensors"
)

// DType names the element type of a storage, spelled as safetensors spells it.
type DType string

// The element types of torch's typed storages (torch.FloatStorage is F32, …).
const (
	F32  DType = "F32"
	F64  DType = "F64"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the bytes of one element.
func (d DType) Size() int {
	switch d {
	case I8, U8, Bool:
		return 1
	case F16, BF16, I16:
		return 2
	case F32, I32:
		return 4
	}
	return 8
}

// The sentinels below are always wrapped in an error that starts "torchpt: FILE: ", so
// their own text leaves the package name out.
var (
	// ErrNotTorchSave: the file is neither a torch.save zip archive nor the legacy format.
	ErrNotTorchSave = errors.New("not a torch.save archive")
	// ErrLegacy: the pre-1.6 format, a bare pickle stream.
	ErrLegacy = errors.New("legacy torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False) is not supported; load and save it again with a current PyTorch")
	// ErrUnsupported: data.pkl uses an opcode or names a global that torch.save of a
	// tensor dict does not; such a file is refused, never run.
	ErrUnsupported = errors.New("refused")
)

// maxPickle bounds data.pkl: a state dict of thousands of tensors takes a few hundred KB.
const maxPickle = 64 << 20

// maxDims bounds a tensor's rank.
const maxDims = 32

// File is an opened torch.save archive: its tensors' layouts, read when asked for.
type File struct {
	name    string
	closer  io.Closer
	tensors []*Tensor // in the dict's order
	byName  map[string]*Tensor
}

// Tensor is one tensor of the file: a view of Shape with Stride (both in elements) at
// element Offset of a storage of DType.
type Tensor struct {
	Name   string
	DType  DType
	Shape  []int
	Stride []int
	Offset int64
	s      *storage
}

// storage is one data/KEY entry of the archive.
type storage struct {
	key   string
	dtype DType
	numel int64
	data  *io.SectionReader
}

// Open opens the torch.save file name; Close releases it.
func Open(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("torchpt: %w", err)
	}
	pt, err := NewReader(f, st.Size(), name)
	if err != nil {
		f.Close()
		return nil, err
	}
	pt.closer = f
	return pt, nil
}

// Close closes the file Open opened; it does nothing for NewReader's.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// legacyMagic is the pickled magic number that starts the pre-1.6 format:
// PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// NewReader reads the torch.save archive held by r (size bytes); name names it in
// errors. It parses data.pkl and checks every tensor's view against its storage.
func NewReader(r io.ReaderAt, size int64, name string) (*File, error) {
	head := make([]byte, len(legacyMagic))
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
	case bytes.Equal(head, legacyMagic):
		return nil, fmt.Errorf("torchpt: %s: %w", name, ErrLegacy)
	default:
		return nil, fmt.Errorf("torchpt: %s: %w (no zip signature)", name, ErrNotTorchSave)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: %w: %v", name, ErrNotTorchSave, err)
	}
	entries := map[string]*zip.File{}
	var pkls []string
	for _, e := range zr.File {
		entries[e.Name] = e
		if dir, base, ok := strings.Cut(e.Name, "/"); ok && base == "data.pkl" && dir != "" {
			pkls = append(pkls, e.Name)
		}
	}
	if len(pkls) != 1 {
		for n := range entries {
			if strings.HasSuffix(n, "/constants.pkl") || strings.Contains(n, "/code/") {
				return nil, fmt.Errorf("torchpt: %s: %w: a TorchScript archive (torch.jit.save), not torch.save of a tensor dict", name, ErrNotTorchSave)
			}
		}
		return nil, fmt.Errorf("torchpt: %s: %w: %d ARCHIVE/data.pkl entries, want 1", name, ErrNotTorchSave, len(pkls))
	}
	prefix := strings.TrimSuffix(pkls[0], "data.pkl")
	if e, ok := entries[prefix+"byteorder"]; ok {
		b, err := readEntry(e, 16)
		if err != nil {
			return nil, fmt.Errorf("torchpt: %s: %sbyteorder: %w", name, prefix, err)
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("torchpt: %s: %sbyteorder is %.16q, want \"little\"", name, prefix, b)
		}
	}
	pkl, err := readEntry(entries[pkls[0]], maxPickle)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: %s: %w", name, pkls[0], err)
	}
	storages := map[string]*storage{}
	storageFor := func(key string, dtype DType, numel int64) (*storage, error) {
		if s, ok := storages[key]; ok {
			if s.dtype != dtype || s.numel != numel {
				return nil, fmt.Errorf("storage %q is %s[%d] here and %s[%d] before", key, dtype, numel, s.dtype, s.numel)
			}
			return s, nil
		}
		if key == "" || len(key) > 64 || strings.ContainsAny(key, "/\\") {
			return nil, fmt.Errorf("storage key %.70q is not a file name", key)
		}
		entry := prefix + "data/" + key
		e, ok := entries[entry]
		if !ok {
			return nil, fmt.Errorf("storage %s is missing from the archive", entry)
		}
		hi, lo := bits.Mul64(uint64(numel), uint64(dtype.Size()))
		if hi != 0 || e.UncompressedSize64 != lo {
			return nil, fmt.Errorf("storage %s holds %d bytes, want %d %s elements", entry, e.UncompressedSize64, numel, dtype)
		}
		if e.Method != zip.Store || e.CompressedSize64 != e.UncompressedSize64 {
			return nil, fmt.Errorf("storage %s is compressed (method %d); torch.save stores its entries", entry, e.Method)
		}
		off, err := e.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("storage %s: %w", entry, err)
		}
		if off < 0 || uint64(off)+lo > uint64(size) {
			return nil, fmt.Errorf("storage %s: bytes [%d, %d) run past the file's %d", entry, off, uint64(off)+lo, size)
		}
		s := &storage{key: key, dtype: dtype, numel: numel, data: io.NewSectionReader(r, off, int64(lo))}
		storages[key] = s
		return s, nil
	}
	v, err := unpickle(pkl, storageFor)
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: %s%w", name, prefix, err)
	}
	d, ok := v.(*dict)
	if !ok {
		return nil, fmt.Errorf("torchpt: %s: holds a %s, want a dict of tensors", name, kind(v))
	}
	f := &File{name: name, byName: map[string]*Tensor{}}
	for _, k := range d.keys {
		t, ok := d.vals[k].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("torchpt: %s: key %.80q holds %s, want a tensor", name, k, describe(d.vals[k]))
		}
		named := *t
		named.Name = k
		f.tensors = append(f.tensors, &named)
		f.byName[k] = &named
	}
	return f, nil
}

// readEntry reads a whole archive entry of at most limit bytes.
func readEntry(e *zip.File, limit int64) ([]byte, error) {
	if e.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, more than the %d allowed", e.UncompressedSize64, limit)
	}
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(e.UncompressedSize64)+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) != e.UncompressedSize64 {
		return nil, fmt.Errorf("%d bytes, the archive says %d", len(b), e.UncompressedSize64)
	}
	return b, nil
}

// newTensor checks a view of s: as many strides as dimensions, no more elements than
// the storage (which bounds what reading it allocates), every element inside it.
func newTensor(s *storage, off int64, size, stride []int64) (*Tensor, error) {
	if len(size) != len(stride) {
		return nil, fmt.Errorf("size has %d dimensions, stride %d", len(size), len(stride))
	}
	if len(size) > maxDims {
		return nil, fmt.Errorf("%d dimensions, at most %d", len(size), maxDims)
	}
	if off < 0 || off > s.numel {
		return nil, fmt.Errorf("storage offset %d is outside the storage of %d elements", off, s.numel)
	}
	empty := false
	for _, d := range size {
		empty = empty || d == 0
	}
	if !empty {
		numel := uint64(1)
		for _, d := range size {
			hi, lo := bits.Mul64(numel, uint64(d))
			if hi != 0 || lo > uint64(s.numel) {
				return nil, fmt.Errorf("shape %v has more elements than its storage's %d", size, s.numel)
			}
			numel = lo
		}
		last := uint64(off)
		for i := range size {
			hi, lo := bits.Mul64(uint64(size[i]-1), uint64(stride[i]))
			sum, carry := bits.Add64(last, lo, 0)
			if hi != 0 || carry != 0 || sum >= uint64(s.numel) {
				return nil, fmt.Errorf("view (offset %d, shape %v, stride %v) reaches past its storage of %d elements", off, size, stride, s.numel)
			}
			last = sum
		}
	}
	t := &Tensor{DType: s.dtype, Offset: off, s: s, Shape: make([]int, len(size)), Stride: make([]int, len(size))}
	for i := range size {
		t.Shape[i], t.Stride[i] = int(size[i]), int(stride[i])
	}
	return t, nil
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// Tensors returns the file's tensors in the dict's order.
func (f *File) Tensors() []*Tensor { return f.tensors }

// Tensor returns the tensor of the given key, or nil.
func (f *File) Tensor(name string) *Tensor { return f.byName[name] }

// Float32 reads the tensor of the given key as float32, row-major.
func (f *File) Float32(name string) ([]float32, error) {
	t := f.byName[name]
	if t == nil {
		return nil, fmt.Errorf("torchpt: %s: no tensor %q", f.name, name)
	}
	x, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("torchpt: %s: %w", f.name, err)
	}
	return x, nil
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Contiguous tells whether the view is row-major without gaps.
func (t *Tensor) Contiguous() bool {
	want := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.Stride[i] != want {
			return false
		}
		want *= t.Shape[i]
	}
	return true
}

// Float32 reads the tensor's elements, row-major, as float32: F32, BF16 and F16 exactly,
// F64 rounded to nearest. It reads only the bytes between the view's first and last
// element.
func (t *Tensor) Float32() ([]float32, error) {
	switch t.DType {
	case F32, BF16, F16, F64:
	default:
		return nil, fmt.Errorf("tensor %s is %s, want F32, BF16, F16 or F64", t.Name, t.DType)
	}
	n := t.NumElements()
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	span := int64(1) // elements from the first to the last of the view
	for i, d := range t.Shape {
		span += int64(d-1) * int64(t.Stride[i])
	}
	es := int64(t.DType.Size())
	buf := make([]byte, span*es)
	if n, err := t.s.data.ReadAt(buf, t.Offset*es); n != len(buf) {
		return nil, fmt.Errorf("tensor %s: storage %s: %w", t.Name, t.s.key, err)
	}
	if t.Contiguous() {
		convert(out, buf, t.DType, 0, 1)
		return out, nil
	}
	// Walk the view in row-major order: rows along the last dimension, an odometer over
	// the others.
	dims := len(t.Shape)
	rowLen, rowStride := t.Shape[dims-1], t.Stride[dims-1]
	idx := make([]int, dims-1)
	base := 0
	for r := 0; r < n/rowLen; r++ {
		convert(out[r*rowLen:(r+1)*rowLen], buf, t.DType, base, rowStride)
		for k := dims - 2; k >= 0; k-- {
			idx[k]++
			base += t.Stride[k]
			if idx[k] < t.Shape[k] {
				break
			}
			base -= idx[k] * t.Stride[k]
			idx[k] = 0
		}
	}
	return out, nil
}

// convert writes to dst the elements at buf's element indices start, start+step, ….
func convert(dst []float32, buf []byte, d DType, start, step int) {
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*(start+i*step):]))
		}
	case BF16:
		for i := range dst {
			dst[i] = safetensors.BF16ToFloat32(binary.LittleEndian.Uint16(buf[2*(start+i*step):]))
		}
	case F16:
		for i := range dst {
			dst[i] = safetensors.F16ToFloat32(binary.LittleEndian.Uint16(buf[2*(start+i*step):]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*(start+i*step):])))
		}
	}
}
