package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header Open accepts, in bytes. Real headers are a few
// hundred bytes per tensor; the cap keeps a corrupt length from allocating gigabytes.
const MaxHeaderSize = 100 << 20

// metadataKey is the header entry that holds the file's string metadata, not a tensor.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a file, as its header entry does.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int // row-major, outermost first; [] for a scalar
	// Begin and End delimit the tensor's bytes, [Begin, End), counted from the start of
	// the data section (the first byte after the header), not from the start of the file.
	Begin, End int64
}

// Len returns the number of elements, the product of the shape (1 for a scalar).
func (t TensorInfo) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// clone returns t with its own copy of Shape, so callers cannot change a File's header.
func (t TensorInfo) clone() TensorInfo {
	t.Shape = slices.Clone(t.Shape)
	if t.Shape == nil {
		t.Shape = []int{}
	}
	return t
}

// A FormatError reports a safetensors file whose header or layout breaks the format.
// Its message names the file, the tensor (if any), the header field and what was
// expected, e.g.
//
//	safetensors: model.safetensors: tensor "lm_head.weight": data_offsets: [0, 96] is 96 bytes, want 128 (shape [8 8] of BF16)
type FormatError struct {
	File   string // the name given to Open
	Tensor string // the tensor concerned, or "" for the file as a whole
	Field  string // what was wrong: "header length", "header", "dtype", "shape", "data_offsets", "__metadata__", ...
	Msg    string // what was found and what was expected
	Err    error  // the underlying error, for errors.Is/As: ErrUnknownDType, a *json.SyntaxError, io.ErrUnexpectedEOF; may be nil
}

func (e *FormatError) Error() string {
	var s strings.Builder
	s.WriteString("safetensors: ")
	s.WriteString(e.File)
	if e.Tensor != "" {
		fmt.Fprintf(&s, ": tensor %q", e.Tensor)
	}
	s.WriteString(": ")
	s.WriteString(e.Field)
	s.WriteString(": ")
	s.WriteString(e.Msg)
	return s.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// File is one safetensors file opened for random access. Its header is parsed and
// checked by Open; tensor bytes are read from the underlying io.ReaderAt on demand, so a
// File is safe for concurrent use if the io.ReaderAt is (os.File and bytes.Reader are).
type File struct {
	name     string
	r        io.ReaderAt
	mem      []byte         // the whole file, when it is in memory (OpenBytes)
	dataAt   int64          // offset in r of the data section: 8 + header length
	tensors  []TensorInfo   // sorted by Begin
	byName   map[string]int // tensor name → index in tensors
	metadata map[string]string
}

// headerEntry is one tensor's entry in the JSON header.
type headerEntry struct {
	DType       *string `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// OpenBytes is Open over a file held in memory, whose Raw returns each tensor's bytes
// inside data instead of a copy: the caller must not change them. A pack's shards load
// this way, so their bytes are not copied once more on the way to the engine (in the
// page's worker, a profile of a SmolLM2-sized pack's load put half a second in those
// copies, each into fresh memory).
func OpenBytes(data []byte, name string) (*File, error) {
	f, err := Open(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		return nil, err
	}
	f.mem = data
	return f, nil
}

// Open reads and checks the header of the safetensors file held by r, which is size
// bytes long. name identifies the file in error messages (a path, or a shard's name).
//
// Open reads only the header. It rejects, with a *FormatError, a header length past the
// end of the file or above MaxHeaderSize, a header that is not a JSON object of tensor
// entries, duplicate names, unknown dtypes (wrapping ErrUnknownDType), negative or
// overflowing shapes, byte ranges that are reversed, overlap, run past the end of the
// data, or disagree with shape × dtype size.
//
// Gaps between tensors, and bytes after the last one, are allowed: the reference Rust
// implementation insists that the tensors tile the data section exactly, but a gap
// cannot make a read wrong, and t2web would rather open a file than be strict about
// wasted bytes.
func Open(r io.ReaderAt, size int64, name string) (*File, error) {
	f := &File{name: name, r: r}
	fail := func(tensor, field string, err error, format string, args ...any) error {
		return &FormatError{File: name, Tensor: tensor, Field: field, Msg: fmt.Sprintf(format, args...), Err: err}
	}

	var lenBuf [8]byte
	if size < 8 {
		return nil, fail("", "header length", io.ErrUnexpectedEOF, "file is %d bytes, want at least 8", size)
	}
	if err := readFull(r, lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: read header length: %w", name, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fail("", "header length", nil, "%d bytes, above the %d-byte cap: is it a safetensors file?", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fail("", "header length", io.ErrUnexpectedEOF, "%d bytes, but only %d follow the length (file truncated?)", n, size-8)
	}
	header := make([]byte, n)
	if err := readFull(r, header, 8); err != nil {
		return nil, fmt.Errorf("safetensors: %s: read header: %w", name, err)
	}
	f.dataAt = 8 + int64(n)
	dataSize := size - f.dataAt

	if !utf8.Valid(header) {
		return nil, fail("", "header", nil, "not valid UTF-8")
	}
	entries, err := splitHeader(header)
	if err != nil {
		return nil, fail("", "header", err, "%v", err)
	}

	f.byName = make(map[string]int, len(entries))
	for _, e := range entries {
		if e.key == metadataKey {
			if f.metadata != nil {
				return nil, fail("", metadataKey, nil, "appears twice")
			}
			if err := json.Unmarshal(e.value, &f.metadata); err != nil {
				return nil, fail("", metadataKey, err, "want an object of string values: %v", err)
			}
			if f.metadata == nil { // "__metadata__": null
				f.metadata = map[string]string{}
			}
			continue
		}
		if _, dup := f.byName[e.key]; dup {
			return nil, fail(e.key, "name", nil, "appears twice in the header")
		}
		t, err := parseEntry(e.key, e.value, dataSize, fail)
		if err != nil {
			return nil, err
		}
		f.byName[e.key] = -1
		f.tensors = append(f.tensors, t)
	}

	// Sort by position and check that no tensor starts before the previous ones end.
	slices.SortFunc(f.tensors, func(a, b TensorInfo) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End), strings.Compare(a.Name, b.Name))
	})
	var prev TensorInfo // the tensor reaching furthest so far
	for i, t := range f.tensors {
		if i > 0 && t.Begin < prev.End {
			return nil, fail(t.Name, "data_offsets", nil, "[%d, %d] overlaps tensor %q at [%d, %d]", t.Begin, t.End, prev.Name, prev.Begin, prev.End)
		}
		if i == 0 || t.End > prev.End {
			prev = t
		}
		f.byName[t.Name] = i
	}
	return f, nil
}

// parseEntry decodes and checks the header entry of tensor name, given the size of the
// data section.
func parseEntry(name string, value []byte, dataSize int64, fail func(tensor, field string, err error, format string, args ...any) error) (TensorInfo, error) {
	var h headerEntry // fields other than these three are ignored, as the Rust reader does
	if err := json.Unmarshal(value, &h); err != nil {
		return TensorInfo{}, fail(name, "entry", err, `want {"dtype": string, "shape": [int...], "data_offsets": [begin, end]}: %v`, err)
	}
	if h.DType == nil {
		return TensorInfo{}, fail(name, "dtype", nil, "missing")
	}
	d := DType(*h.DType)
	if err := checkDType(d); err != nil {
		return TensorInfo{}, fail(name, "dtype", err, "%v", err)
	}
	if h.Shape == nil {
		return TensorInfo{}, fail(name, "shape", nil, "missing (a scalar has shape [])")
	}
	if len(h.DataOffsets) != 2 {
		return TensorInfo{}, fail(name, "data_offsets", nil, "%v has %d numbers, want [begin, end]", h.DataOffsets, len(h.DataOffsets))
	}
	begin, end := h.DataOffsets[0], h.DataOffsets[1]
	if begin < 0 || begin > end {
		return TensorInfo{}, fail(name, "data_offsets", nil, "[%d, %d], want 0 <= begin <= end", begin, end)
	}
	if end > dataSize {
		return TensorInfo{}, fail(name, "data_offsets", io.ErrUnexpectedEOF, "[%d, %d] ends past the data section, which is %d bytes (file truncated?)", begin, end, dataSize)
	}

	// The element count, with every step checked: a lying shape must not wrap around
	// to a product that happens to match the byte range.
	shape := make([]int, len(h.Shape))
	count := int64(1)
	for i, dim := range h.Shape {
		if dim < 0 {
			return TensorInfo{}, fail(name, "shape", nil, "%v has negative dimension %d", h.Shape, dim)
		}
		if dim > math.MaxInt {
			return TensorInfo{}, fail(name, "shape", nil, "%v: dimension %d does not fit an int", h.Shape, dim)
		}
		if dim != 0 && count > math.MaxInt64/dim {
			return TensorInfo{}, fail(name, "shape", nil, "%v: element count overflows int64", h.Shape)
		}
		count *= dim
		shape[i] = int(dim)
	}
	size := int64(d.Size())
	if count > math.MaxInt64/size {
		return TensorInfo{}, fail(name, "shape", nil, "%v of %s: byte size overflows int64", h.Shape, d)
	}
	if count > math.MaxInt {
		return TensorInfo{}, fail(name, "shape", nil, "%v: element count does not fit an int", h.Shape)
	}
	if want := count * size; end-begin != want {
		return TensorInfo{}, fail(name, "data_offsets", nil, "[%d, %d] is %d bytes, want %d (shape %v of %s)", begin, end, end-begin, want, h.Shape, d)
	}
	return TensorInfo{Name: name, DType: d, Shape: shape, Begin: begin, End: end}, nil
}

// headerPair is one top-level key of the header with its undecoded value.
type headerPair struct {
	key   string
	value json.RawMessage
}

// splitHeader returns the top-level entries of the JSON object header in order, keeping
// duplicates (encoding/json's map decoding would silently keep the last one).
func splitHeader(header []byte) (pairs []headerPair, err error) {
	defer func() {
		if errors.Is(err, io.EOF) {
			err = errors.New("invalid JSON: unexpected end of header")
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(header))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("starts with %v, want a JSON object", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key := tok.(string) // inside an object, Token returns keys as strings
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("invalid JSON at %q: %w", key, err)
		}
		pairs = append(pairs, headerPair{key, value})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	// Only the spaces Write pads with (or any JSON whitespace) may follow.
	if rest := bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes of trailing data after the JSON object", len(rest))
	}
	return pairs, nil
}

// readFull reads len(b) bytes of r at off. An io.ReaderAt may return io.EOF with a full
// read at the end of its data; that is success.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Name returns the name given to Open.
func (f *File) Name() string { return f.name }

// Tensors returns every tensor of the file, sorted by Begin.
func (f *File) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(f.tensors))
	for i, t := range f.tensors {
		out[i] = t.clone()
	}
	return out
}

// Info returns the header entry of the tensor called name, and whether there is one.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i].clone(), true
}

// Metadata returns a copy of the header's "__metadata__" (nil if the header has none).
func (f *File) Metadata() map[string]string { return maps.Clone(f.metadata) }

// Raw returns the bytes of the tensor called name as stored: little-endian, row-major;
// a File of OpenBytes returns them inside its data, not a copy. An unknown name gives an
// error wrapping fs.ErrNotExist.
func (f *File) Raw(name string) ([]byte, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.read(t)
}

// Float32 returns the values of the tensor called name, row-major, converted to
// float32: exactly from BF16, F16, F32, I8 and U8; to the nearest float32 from F64,
// I32 and I64. An unknown name gives an error wrapping fs.ErrNotExist.
func (f *File) Float32(name string) ([]float32, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	b, err := f.read(t)
	if err != nil {
		return nil, err
	}
	x := make([]float32, t.Len())
	toFloat32(x, b, t.DType)
	return x, nil
}

// lookup returns the header entry of name, or an error naming the file and the tensor.
func (f *File) lookup(name string) (TensorInfo, error) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("safetensors: %s: tensor %q: %w", f.name, name, fs.ErrNotExist)
	}
	return f.tensors[i], nil
}

// read returns the bytes of t. Open checked that they lie within the file, so the
// allocation is bounded by the file's size.
func (f *File) read(t TensorInfo) ([]byte, error) {
	n := t.End - t.Begin
	if n > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: tensor %q: %d bytes do not fit in memory", f.name, t.Name, n)
	}
	if f.mem != nil { // Open checked that every tensor lies inside the data
		at := f.dataAt + t.Begin
		return f.mem[at : at+n : at+n], nil
	}
	b := make([]byte, n)
	if err := readFull(f.r, b, f.dataAt+t.Begin); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("file shorter than its header says: %w", err)
		}
		return nil, fmt.Errorf("safetensors: %s: read tensor %q at [%d, %d]: %w", f.name, t.Name, t.Begin, t.End, err)
	}
	return b, nil
}
