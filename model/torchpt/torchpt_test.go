package torchpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expected is one entry of testdata/tensors.json, what PyTorch says of a tensor.
type expected struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Stride []int     `json:"stride"`
	Offset int64     `json:"offset"`
	Values []float64 `json:"values"`
}

var torchDTypes = map[string]DType{"float32": F32, "bfloat16": BF16, "float16": F16, "float64": F64, "int64": I64}

// TestFixtures reads the tensors PyTorch saved (testdata/make.py) with protocol 2 and 4:
// every dtype, a scalar, an empty tensor, a transposed view and a slice with an offset,
// sharing one storage, against the values PyTorch printed.
func TestFixtures(t *testing.T) {
	data, err := os.ReadFile("testdata/tensors.json")
	if err != nil {
		t.Fatal(err)
	}
	// Decode in order: the file keeps the dict's order.
	var order []string
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.Token()
	for dec.More() {
		tok, _ := dec.Token()
		order = append(order, tok.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	var want map[string]expected
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"tensors.pt", "proto4.pt"} {
		t.Run(file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var names []string
			for _, x := range f.Tensors() {
				names = append(names, x.Name)
			}
			if !slices.Equal(names, order) {
				t.Fatalf("names %v, want %v", names, order)
			}
			for _, name := range order {
				w, x := want[name], f.Tensor(name)
				if x.DType != torchDTypes[w.DType] || !slices.Equal(x.Shape, w.Shape) || !slices.Equal(x.Stride, w.Stride) || x.Offset != w.Offset {
					t.Errorf("%s: %s %v stride %v offset %d, want %s %v stride %v offset %d",
						name, x.DType, x.Shape, x.Stride, x.Offset, w.DType, w.Shape, w.Stride, w.Offset)
					continue
				}
				got, err := f.Float32(name)
				if w.DType == "int64" {
					if err == nil || !strings.Contains(err.Error(), "is I64, want F32") {
						t.Errorf("%s: Float32 of an int64 tensor: %v", name, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if len(got) != len(w.Values) {
					t.Errorf("%s: %d values, want %d", name, len(got), len(w.Values))
					continue
				}
				for i, v := range w.Values {
					if got[i] != float32(v) {
						t.Errorf("%s[%d] = %v, want %v", name, i, got[i], float32(v))
					}
				}
			}
			if c := f.Tensor("t").Contiguous(); c {
				t.Error("the transposed view says it is contiguous")
			}
		})
	}
}

// TestDicts reads the two other dicts torch.save writes: a module's state_dict (an
// OrderedDict with _metadata, set by BUILD) and a plain dict of nn.Parameter.
func TestDicts(t *testing.T) {
	for _, tt := range []struct {
		file   string
		names  []string
		shapes [][]int
		first  []float32 // values of the first tensor, when known
	}{
		{"linear.pt", []string{"weight", "bias"}, [][]int{{2, 3}, {2}}, nil},
		{"params.pt", []string{"a.weight"}, [][]int{{2}}, []float32{0.25, -0.75}},
	} {
		f, err := Open(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		for i, x := range f.Tensors() {
			if x.Name != tt.names[i] || !slices.Equal(x.Shape, tt.shapes[i]) {
				t.Errorf("%s: tensor %d is %s %v, want %s %v", tt.file, i, x.Name, x.Shape, tt.names[i], tt.shapes[i])
			}
			v, err := x.Float32()
			if err != nil || len(v) != x.NumElements() {
				t.Errorf("%s: %s: %d values, %v", tt.file, x.Name, len(v), err)
			}
			if i == 0 && tt.first != nil && !slices.Equal(v, tt.first) {
				t.Errorf("%s: %s = %v, want %v", tt.file, x.Name, v, tt.first)
			}
		}
		if len(f.Tensors()) != len(tt.names) {
			t.Errorf("%s: %d tensors, want %d", tt.file, len(f.Tensors()), len(tt.names))
		}
		f.Close()
	}
}

// pickler writes protocol-2 pickles by hand, for files torch would never write.
type pickler struct{ bytes.Buffer }

func (p *pickler) op(b ...byte) *pickler { p.Write(b); return p }
func (p *pickler) str(s string) *pickler {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pickler) int(v int32) *pickler {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, v)
	return p
}
func (p *pickler) global(mod, name string) *pickler {
	p.WriteString("c" + mod + "\n" + name + "\n")
	return p
}

// tensor pickles _rebuild_tensor_v2 of a FloatStorage "0" of numel elements.
func (p *pickler) tensor(numel, off int32, size, stride []int32) *pickler {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(numel).op('t', 'Q')
	p.int(off).op('(')
	for _, s := range size {
		p.int(s)
	}
	p.op('t', '(')
	for _, s := range stride {
		p.int(s)
	}
	p.op('t', 0x89).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	return p
}

// archive zips data.pkl and storages (KEY → bytes) as torch.save lays them out.
func archive(t testing.TB, pkl []byte, storages map[string][]byte, method uint16) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	add := func(name string, data []byte, m uint16) {
		f, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	add("archive/data.pkl", pkl, zip.Store)
	keys := make([]string, 0, len(storages))
	for k := range storages {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add("archive/data/"+k, storages[k], method)
	}
	add("archive/version", []byte("3\n"), zip.Store)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func floats(n int) []byte {
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(i)))
	}
	return b
}

// dictOf pickles {"x": tensor}.
func dictOf(numel, off int32, size, stride []int32) []byte {
	p := &pickler{}
	p.op(0x80, 2, '}', '(').str("x")
	p.tensor(numel, off, size, stride)
	p.op('u', '.')
	return p.Bytes()
}

// TestRefused feeds bad and hostile files: each gets an error saying what is wrong,
// and nothing is run.
func TestRefused(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := read("tensors.pt")
	selfList := (&pickler{}).op(0x80, 2, '}').str("k").op(']', 'q', 1, 'h', 1, 'a', 's', '.') // {"k": l}, l = [l]
	for _, tt := range []struct {
		name string
		data []byte
		is   error  // when not nil, the error wraps it
		want string // the error says this
	}{
		{"legacy", read("legacy.pt"), ErrLegacy, "legacy torch.save format"},
		{"evil", read("evil.pt"), ErrUnsupported, `global "posix.system" is not one torch.save of a tensor dict uses`},
		{"list value", read("unsupported.pt"), nil, `key "y" holds a list, want a tensor`},
		{"empty file", nil, ErrNotTorchSave, "no zip signature"},
		{"text", []byte("hello, world"), ErrNotTorchSave, "no zip signature"},
		{"truncated", good[:len(good)/2], ErrNotTorchSave, "zip"},
		{"no data.pkl", archiveWithout(t), ErrNotTorchSave, "0 ARCHIVE/data.pkl entries"},
		{"view past storage", archive(t, dictOf(6, 5, []int32{4}, []int32{1}), map[string][]byte{"0": floats(6)}, zip.Store),
			nil, "reaches past its storage of 6 elements"},
		{"stride 0 blow-up", archive(t, dictOf(6, 0, []int32{1 << 30, 4}, []int32{0, 1}), map[string][]byte{"0": floats(6)}, zip.Store),
			nil, "more elements than its storage's 6"},
		{"dims mismatch", archive(t, dictOf(6, 0, []int32{2, 3}, []int32{3}), map[string][]byte{"0": floats(6)}, zip.Store),
			nil, "size has 2 dimensions, stride 1"},
		{"negative size", archive(t, dictOf(6, 0, []int32{-2}, []int32{1}), map[string][]byte{"0": floats(6)}, zip.Store),
			nil, "want a non-negative integer"},
		{"storage too short", archive(t, dictOf(6, 0, []int32{6}, []int32{1}), map[string][]byte{"0": floats(5)}, zip.Store),
			nil, "holds 20 bytes, want 6 F32 elements"},
		{"storage missing", archive(t, dictOf(6, 0, []int32{6}, []int32{1}), nil, zip.Store),
			nil, "storage archive/data/0 is missing"},
		{"compressed storage", archive(t, dictOf(6, 0, []int32{6}, []int32{1}), map[string][]byte{"0": floats(6)}, zip.Deflate),
			nil, "is compressed"},
		{"INST opcode", archive(t, []byte("\x80\x02(i__builtin__\nlist\n."), nil, zip.Store), ErrUnsupported, "opcode 0x69 INST"},
		{"STACK_GLOBAL os", archive(t, (&pickler{}).op(0x80, 4).str("os").str("system").op(0x93, '.').Bytes(), nil, zip.Store),
			ErrUnsupported, `global "os.system"`},
		{"missing memo", archive(t, []byte("\x80\x02h\x07."), nil, zip.Store), nil, "memo 7 was never stored"},
		{"no STOP", archive(t, []byte("\x80\x02}"), nil, zip.Store), nil, "without STOP"},
		{"empty stack", archive(t, []byte("\x80\x02."), nil, zip.Store), nil, "STOP with 0 values"},
		{"pop past MARK", archive(t, []byte("\x80\x02}(s."), nil, zip.Store), nil, "stack is empty"},
		{"string past end", archive(t, []byte("\x80\x02X\xff\xff\xff\x7fab"), nil, zip.Store), nil, "runs past the end"},
		{"a list, not a dict", archive(t, []byte("\x80\x02]."), nil, zip.Store), nil, "holds a list, want a dict of tensors"},
		{"self-referential list", archive(t, selfList.Bytes(), nil, zip.Store), nil, `key "k" holds a list`},
		{"protocol 9", archive(t, []byte("\x80\x09}."), nil, zip.Store), nil, "protocol 9"},
		{"big LONG1", archive(t, []byte("\x80\x02\x8a\x09123456789."), nil, zip.Store), nil, "does not fit 64 bits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewReader(bytes.NewReader(tt.data), int64(len(tt.data)), "x.pt")
			if err == nil {
				t.Fatalf("read %d tensors, want an error", len(f.Tensors()))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %q", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "torchpt: x.pt: ") {
				t.Errorf("error %q, want it to name the file and say %q", err, tt.want)
			}
		})
	}
}

func archiveWithout(t *testing.T) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create("archive/version")
	f.Write([]byte("3\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestView reads a hand-made strided view of three dimensions against the same view
// indexed by hand.
func TestView(t *testing.T) {
	size, stride := []int32{2, 3, 2}, []int32{1, 8, 3} // every stride out of order
	data := archive(t, dictOf(24, 2, size, stride), map[string][]byte{"0": floats(24)}, zip.Store)
	f, err := NewReader(bytes.NewReader(data), int64(len(data)), "view.pt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Float32("x")
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for i := range 2 {
		for j := range 3 {
			for k := range 2 {
				want = append(want, float32(2+i*1+j*8+k*3))
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// FuzzNewReader reads whole files, starting from the fixtures: never a panic, never
// more than the file's bytes asked of a tensor.
func FuzzNewReader(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.pt")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readAll(t, data)
	})
}

// FuzzPickle runs mutated data.pkl programs (the fixtures' and hand-made ones) in an
// archive with a fixed set of storages: zip's checksum would refuse most mutations of a
// whole file before the pickle machine saw them.
func FuzzPickle(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.pt")
	for _, n := range names {
		zr, err := zip.OpenReader(n)
		if err != nil {
			continue // legacy.pt
		}
		for _, e := range zr.File {
			if strings.HasSuffix(e.Name, "/data.pkl") {
				b, _ := readEntry(e, maxPickle)
				f.Add(b)
			}
		}
		zr.Close()
	}
	f.Add(dictOf(6, 0, []int32{2, 3}, []int32{1, 2}))
	// The storages of tensors.pt, which its data.pkl and the others' name.
	storages := map[string][]byte{}
	zr, err := zip.OpenReader("testdata/tensors.pt")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range zr.File {
		if dir, key, ok := strings.Cut(e.Name, "/data/"); ok && dir == "tensors" {
			storages[key], _ = readEntry(e, 1<<20)
		}
	}
	zr.Close()
	f.Fuzz(func(t *testing.T, pkl []byte) {
		readAll(t, archive(t, pkl, storages, zip.Store))
	})
}

func readAll(t *testing.T, data []byte) {
	pt, err := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz.pt")
	if err != nil {
		if !strings.HasPrefix(err.Error(), "torchpt: fuzz.pt: ") {
			t.Fatalf("error %q does not name the file", err)
		}
		return
	}
	for _, x := range pt.Tensors() {
		if x.NumElements()*x.DType.Size() > len(data) {
			t.Fatalf("%s: %v of %s, more bytes than the file's %d", x.Name, x.Shape, x.DType, len(data))
		}
		v, err := x.Float32()
		if err == nil && len(v) != x.NumElements() {
			t.Fatalf("%s: %d values for shape %v", x.Name, len(v), x.Shape)
		}
	}
}
