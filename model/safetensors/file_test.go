package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"
)

// le returns values as little-endian elements of dtype d, for building test tensors.
func le(d DType, values ...float64) []byte {
	var b []byte
	for _, v := range values {
		switch d {
		case BF16:
			b = binary.LittleEndian.AppendUint16(b, Float32ToBF16(float32(v)))
		case F16:
			b = binary.LittleEndian.AppendUint16(b, Float32ToF16(float32(v)))
		case F32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		case F64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case I8:
			b = append(b, byte(int8(v)))
		case U8:
			b = append(b, byte(v))
		case I32:
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(v)))
		case I64:
			b = binary.LittleEndian.AppendUint64(b, uint64(int64(v)))
		default:
			panic("le: dtype " + string(d))
		}
	}
	return b
}

// mustWrite returns tensors and metadata written by Write.
func mustWrite(t testing.TB, tensors []Tensor, metadata map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, metadata); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawFile returns a file with the given header text (unpadded) and data section.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// mustOpen opens b, failing the test on error.
func mustOpen(t testing.TB, b []byte, name string) *File {
	t.Helper()
	f, err := Open(bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRoundTrip writes one tensor of each dtype, opens the result, and checks the
// header entry, the raw bytes and the float32 values.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		dtype DType
		shape []int
		in    []float64 // encoded with le
		want  []float32 // what Float32 returns
	}{
		{BF16, []int{2, 3}, []float64{1, -2, 0.5, math.Inf(1), 1.0 / 3, 0}, []float32{1, -2, 0.5, inf32, 0.333984375, 0}},
		{F16, []int{4}, []float64{1, -2, math.Ldexp(1, -24), 65504}, []float32{1, -2, minSub16, 65504}},
		{F32, []int{3}, []float64{1.5, math.Copysign(0, -1), math.MaxFloat32}, []float32{1.5, negZero, math.MaxFloat32}},
		{F64, []int{2}, []float64{0.1, -1e300}, []float32{0.1, float32(math.Inf(-1))}},
		{I8, []int{3, 1}, []float64{-128, 127, 0}, []float32{-128, 127, 0}},
		{U8, []int{2}, []float64{255, 7}, []float32{255, 7}},
		{I32, []int{2}, []float64{-5, 1<<24 + 1}, []float32{-5, 1 << 24}}, // 2^24+1 rounds to even
		{I64, []int{2}, []float64{-1, 1 << 40}, []float32{-1, 1 << 40}},
		{F32, []int{}, []float64{42}, []float32{42}},                      // a scalar
		{F32, []int{0, 5}, nil, []float32{}},                              // empty
		{BF16, nil, []float64{-1}, []float32{-1}},                         // a scalar given as nil shape
		{I8, []int{1, 1, 1, 1, 1, 2}, []float64{3, -3}, []float32{3, -3}}, // high rank
	} {
		t.Run(fmt.Sprintf("%s%v", tc.dtype, tc.shape), func(t *testing.T) {
			data := le(tc.dtype, tc.in...)
			meta := map[string]string{"format": "pt", "dtype": string(tc.dtype)}
			file := mustWrite(t, []Tensor{
				{Name: "first", DType: F32, Shape: []int{1}, Data: le(F32, 7)},
				{Name: "x", DType: tc.dtype, Shape: tc.shape, Data: data},
			}, meta)
			f := mustOpen(t, file, "rt.safetensors")

			wantShape := tc.shape
			if wantShape == nil {
				wantShape = []int{}
			}
			info, ok := f.Info("x")
			if !ok {
				t.Fatal(`Info("x") not found`)
			}
			if info.Name != "x" || info.DType != tc.dtype || !slices.Equal(info.Shape, wantShape) || info.Shape == nil ||
				info.Begin != 4 || info.End != 4+int64(len(data)) {
				t.Errorf("Info = %+v, want x %s %v [4, %d]", info, tc.dtype, wantShape, 4+len(data))
			}
			if info.Len() != len(tc.want) {
				t.Errorf("Len() = %d, want %d", info.Len(), len(tc.want))
			}
			raw, err := f.Raw("x")
			if err != nil || !bytes.Equal(raw, data) {
				t.Errorf("Raw = % x, %v; want % x", raw, err, data)
			}
			// In memory, the same bytes inside the file, and appending to them leaves the
			// file as it is.
			fm, err := OpenBytes(file, "rt.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			inMem, err := fm.Raw("x")
			if err != nil || !bytes.Equal(inMem, data) {
				t.Errorf("OpenBytes: Raw = % x, %v; want % x", inMem, err, data)
			}
			if len(data) > 0 && &inMem[0] != &file[len(file)-len(data)] {
				t.Errorf("OpenBytes: Raw is a copy, want the file's own bytes")
			}
			first, _ := fm.Raw("first")
			_ = append(first, 0xff)
			if got, _ := fm.Raw("x"); !bytes.Equal(got, data) {
				t.Errorf("appending to the tensor before x changed x to % x", got)
			}
			got, err := f.Float32("x")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Float32 = %v, want %v", got, tc.want)
			}
			for i := range got {
				if !sameFloat32(got[i], tc.want[i]) {
					t.Errorf("Float32[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
			if m := f.Metadata(); len(m) != 2 || m["format"] != "pt" || m["dtype"] != string(tc.dtype) {
				t.Errorf("Metadata = %v, want %v", m, meta)
			}
			if names := tensorNames(f.Tensors()); !slices.Equal(names, []string{"first", "x"}) {
				t.Errorf("Tensors = %v, want [first x] (file order)", names)
			}
		})
	}
}

func tensorNames(ts []TensorInfo) []string {
	var names []string
	for _, t := range ts {
		names = append(names, t.Name)
	}
	return names
}

// TestWriteLayout pins Write's bytes: tensors in the order given, header keys sorted,
// spaces to a multiple of 8, no HTML escaping.
func TestWriteLayout(t *testing.T) {
	file := mustWrite(t, []Tensor{
		{Name: "b<1>", DType: F32, Shape: []int{1}, Data: le(F32, 1)},
		{Name: "a", DType: I8, Shape: []int{2}, Data: []byte{5, 6}},
		{Name: "Z", DType: BF16, Shape: []int{}, Data: le(BF16, 2)},
	}, map[string]string{"format": "pt"})

	header := `{"Z":{"dtype":"BF16","shape":[],"data_offsets":[6,8]},` +
		`"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},` +
		`"b<1>":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	want := rawFile(header, append(append(le(F32, 1), 5, 6), le(BF16, 2)...))
	if !bytes.Equal(file, want) {
		t.Errorf("Write gave\n%q\nwant\n%q", file, want)
	}
	if n := binary.LittleEndian.Uint64(file); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}

	// No metadata: no "__metadata__" key at all.
	file = mustWrite(t, []Tensor{{Name: "a", DType: U8, Shape: []int{1}, Data: []byte{1}}}, nil)
	if bytes.Contains(file, []byte(metadataKey)) {
		t.Errorf("Write with nil metadata wrote %q", file)
	}
	if m := mustOpen(t, file, "nometa").Metadata(); m != nil {
		t.Errorf("Metadata() = %v, want nil", m)
	}
}

// TestOpenLenient lists files that are unusual but valid.
func TestOpenLenient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   []byte
		want   []string // tensor names by Begin
		values []float32
	}{
		{"gap between tensors", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}}`, []byte{1, 9, 9, 2}), []string{"a", "b"}, []float32{1, 2}},
		{"bytes after the last tensor", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1, 9, 9}), []string{"a"}, []float32{1}},
		{"header out of order", rawFile(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1, 2}), []string{"a", "b"}, []float32{1, 2}},
		{"zero-length tensors at one offset", rawFile(`{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"d":{"dtype":"F16","shape":[2,0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), []string{"d", "e", "a"}, []float32{1}},
		{"unknown entry fields ignored", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":[1,2]}}`, []byte{1}), []string{"a"}, []float32{1}},
		{"null metadata", rawFile(`{"__metadata__":null,"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), []string{"a"}, []float32{1}},
		{"whitespace padding", rawFile(" \n{ \"a\" : {\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}\t\r\n  ", []byte{1}), []string{"a"}, []float32{1}},
		{"no tensors", rawFile(`{}`, nil), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustOpen(t, tc.file, "ok.safetensors")
			if got := tensorNames(f.Tensors()); !slices.Equal(got, tc.want) {
				t.Fatalf("Tensors = %v, want %v", got, tc.want)
			}
			var values []float32
			for _, name := range tc.want {
				x, err := f.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				values = append(values, x...)
			}
			if !slices.Equal(values, tc.values) {
				t.Errorf("values = %v, want %v", values, tc.values)
			}
		})
	}
}

// withLength returns a file whose 8-byte header length is n, followed by rest.
func withLength(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// badFiles lists headers that lie, each with the FormatError field and the words its
// message must contain. FuzzOpen seeds from it too.
var badFiles = []struct {
	name  string
	file  []byte
	field string
	words []string // substrings of the message, besides "bad.safetensors"
	is    error    // if set, errors.Is(err, is) must hold
}{
	{"empty file", nil, "header length", []string{"0 bytes", "at least 8"}, io.ErrUnexpectedEOF},
	{"short length", []byte{1, 0, 0}, "header length", []string{"3 bytes", "at least 8"}, io.ErrUnexpectedEOF},
	{"length past end of file", withLength(100, `{}`), "header length", []string{"100 bytes", "only 2 follow"}, io.ErrUnexpectedEOF},
	{"length above the cap", withLength(MaxHeaderSize+1, `{}`), "header length", []string{fmt.Sprint(MaxHeaderSize + 1), "cap"}, nil},
	{"length 2^64-1", withLength(math.MaxUint64, `{}`), "header length", []string{"cap"}, nil},
	{"header truncated", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1})[:30], "header length", []string{"only 22 follow"}, io.ErrUnexpectedEOF},
	{"empty header", rawFile(``, nil), "header", []string{"invalid JSON"}, nil},
	{"invalid JSON", rawFile(`{"a": `, nil), "header", []string{"invalid JSON"}, nil},
	{"invalid JSON value", rawFile(`{"a": {"dtype": BF16}}`, nil), "header", []string{"invalid JSON", `"a"`}, nil},
	{"not an object", rawFile(`[1, 2]`, nil), "header", []string{"want a JSON object"}, nil},
	{"trailing data", rawFile(`{} {}`, nil), "header", []string{"trailing"}, nil},
	{"invalid UTF-8", rawFile("{\"\xff\":{}}", nil), "header", []string{"UTF-8"}, nil},
	{"entry not an object", rawFile(`{"a": 5}`, nil), "entry", []string{`tensor "a"`, "dtype"}, nil},
	{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "dtype", []string{`tensor "a"`, "missing"}, nil},
	{"unknown dtype", rawFile(`{"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "dtype", []string{`tensor "w"`, `"Q4_K"`, "unknown dtype", "BF16"}, ErrUnknownDType},
	{"lower-case dtype", rawFile(`{"w":{"dtype":"bf16","shape":[1],"data_offsets":[0,2]}}`, []byte{1, 2}), "dtype", []string{`tensor "w"`, `"bf16"`}, ErrUnknownDType},
	{"missing shape", rawFile(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, []byte{1}), "shape", []string{`tensor "a"`, "missing"}, nil},
	{"missing data_offsets", rawFile(`{"a":{"dtype":"U8","shape":[1]}}`, []byte{1}), "data_offsets", []string{`tensor "a"`, "want [begin, end]"}, nil},
	{"three data_offsets", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, []byte{1, 2}), "data_offsets", []string{"3 numbers"}, nil},
	{"begin after end", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[2,1]}}`, []byte{1, 2}), "data_offsets", []string{`tensor "a"`, "[2, 1]", "begin <= end"}, nil},
	{"negative begin", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}`, []byte{1}), "data_offsets", []string{"[-1, 0]"}, nil},
	{"offsets past the end", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, []byte{1, 2, 3, 4}), "data_offsets", []string{`tensor "a"`, "[0, 8]", "past the data", "4 bytes"}, io.ErrUnexpectedEOF},
	{"data truncated", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1}), "data_offsets", []string{`tensor "b"`, "truncated"}, io.ErrUnexpectedEOF},
	{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "data_offsets", []string{`tensor "b"`, "overlaps", `"a"`}, nil},
	{"overlap hidden behind a small tensor", rawFile(`{"a":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"c":{"dtype":"U8","shape":[2],"data_offsets":[5,7]}}`, make([]byte, 10)), "data_offsets", []string{"overlaps", `"a"`}, nil},
	{"same range twice", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "data_offsets", []string{`tensor "b"`, "overlaps"}, nil},
	{"zero-length inside another", rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}`, make([]byte, 4)), "data_offsets", []string{`tensor "z"`, "overlaps"}, nil},
	{"byte length != shape", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "data_offsets", []string{`tensor "a"`, "8 bytes", "want 12", "[3] of F32"}, nil},
	{"byte length != shape (bf16)", rawFile(`{"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,4]}}`, make([]byte, 4)), "data_offsets", []string{"want 8"}, nil},
	{"negative dim", rawFile(`{"a":{"dtype":"U8","shape":[-1,4],"data_offsets":[0,0]}}`, nil), "shape", []string{`tensor "a"`, "negative dimension -1"}, nil},
	{"negative dims multiply to the right size", rawFile(`{"a":{"dtype":"U8","shape":[-2,-2],"data_offsets":[0,4]}}`, make([]byte, 4)), "shape", []string{"negative"}, nil},
	{"element count overflows", rawFile(`{"a":{"dtype":"U8","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`, nil), "shape", []string{`tensor "a"`, "overflows"}, nil},
	{"wraps to zero", rawFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, nil), "shape", []string{"overflows"}, nil},
	{"byte size overflows", rawFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, nil), "shape", []string{"byte size overflows"}, nil},
	{"dim beyond int64", rawFile(`{"a":{"dtype":"U8","shape":[1e30],"data_offsets":[0,0]}}`, nil), "entry", []string{`tensor "a"`}, nil},
	{"fractional dim", rawFile(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}`, nil), "entry", []string{`tensor "a"`}, nil},
	{"duplicate name", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}), "name", []string{`tensor "a"`, "twice"}, nil},
	{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "__metadata__", []string{"twice"}, nil},
	{"metadata not strings", rawFile(`{"__metadata__":{"n":1}}`, nil), "__metadata__", []string{"string values"}, nil},
}

// TestOpenBad checks that each lying header gives a FormatError that names the file,
// the field and the problem.
func TestOpenBad(t *testing.T) {
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			if f, err := OpenBytes(tc.file, "bad.safetensors"); err == nil {
				t.Errorf("OpenBytes succeeded with tensors %v", tensorNames(f.Tensors()))
			}
			f, err := Open(bytes.NewReader(tc.file), int64(len(tc.file)), "bad.safetensors")
			if err == nil {
				t.Fatalf("Open succeeded with tensors %v", tensorNames(f.Tensors()))
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q (%T) is not a *FormatError", err, err)
			}
			if fe.Field != tc.field {
				t.Errorf("Field = %q, want %q (error %q)", fe.Field, tc.field, err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range append(tc.words, "safetensors: bad.safetensors: ") {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", msg, tc.is)
			}
		})
	}
}

// shortReader holds a file whose data section is shorter than the size Open was told,
// as when a file shrinks after Open.
type shortReader struct{ *bytes.Reader }

func TestReadErrors(t *testing.T) {
	file := mustWrite(t, []Tensor{{Name: "a", DType: F32, Shape: []int{2}, Data: le(F32, 1, 2)}}, nil)
	f := mustOpen(t, file, "x.safetensors")
	for _, name := range []string{"b", ""} {
		if _, err := f.Raw(name); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), fmt.Sprintf("x.safetensors: tensor %q", name)) {
			t.Errorf("Raw(%q) error = %v, want one naming the file and tensor, wrapping fs.ErrNotExist", name, err)
		}
		if _, err := f.Float32(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Float32(%q) error = %v, want fs.ErrNotExist", name, err)
		}
		if _, ok := f.Info(name); ok {
			t.Errorf("Info(%q) found", name)
		}
	}

	// The file shrinks after Open: reading reports it rather than returning zeros.
	f, err := Open(shortReader{bytes.NewReader(file[:len(file)-1])}, int64(len(file)), "shrunk.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32("a"); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), `shrunk.safetensors: read tensor "a"`) {
		t.Errorf("Float32 of a shrunk file: error = %v, want io.ErrUnexpectedEOF naming file and tensor", err)
	}
}

// TestAccessorsCopy checks that callers cannot change a File through what it returns.
func TestAccessorsCopy(t *testing.T) {
	f := mustOpen(t, mustWrite(t, []Tensor{{Name: "a", DType: U8, Shape: []int{1, 2}, Data: []byte{1, 2}}}, map[string]string{"k": "v"}), "c")
	f.Tensors()[0].Shape[0] = 99
	info, _ := f.Info("a")
	info.Shape[1] = 99
	f.Metadata()["k"] = "changed"
	if info, _ := f.Info("a"); !slices.Equal(info.Shape, []int{1, 2}) {
		t.Errorf("shape changed to %v", info.Shape)
	}
	if f.Metadata()["k"] != "v" {
		t.Errorf("metadata changed to %v", f.Metadata())
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteBad(t *testing.T) {
	ok := Tensor{Name: "ok", DType: U8, Shape: []int{1}, Data: []byte{1}}
	for _, tc := range []struct {
		name    string
		tensors []Tensor
		words   []string
		is      error
	}{
		{"empty name", []Tensor{{Name: "", DType: U8, Shape: []int{1}, Data: []byte{1}}}, []string{"empty name"}, nil},
		{"reserved name", []Tensor{{Name: metadataKey, DType: U8, Shape: []int{1}, Data: []byte{1}}}, []string{"reserved"}, nil},
		{"duplicate", []Tensor{ok, ok}, []string{`tensor 1 "ok"`, "twice"}, nil},
		{"unknown dtype", []Tensor{{Name: "q", DType: "Q4", Shape: []int{1}, Data: []byte{1}}}, []string{`"q"`, `"Q4"`}, ErrUnknownDType},
		{"negative dim", []Tensor{{Name: "n", DType: U8, Shape: []int{-1}, Data: nil}}, []string{`"n"`, "negative"}, nil},
		{"data too short", []Tensor{ok, {Name: "s", DType: F32, Shape: []int{2, 2}, Data: make([]byte, 12)}}, []string{`tensor 1 "s"`, "12 bytes, want 16"}, nil},
		{"overflow", []Tensor{{Name: "o", DType: U8, Shape: []int{1 << 62, 1 << 62}}}, []string{`"o"`, "overflows"}, nil},
		{"byte overflow", []Tensor{{Name: "o", DType: F64, Shape: []int{1 << 61}}}, []string{`"o"`, "overflows"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tc.tensors, nil)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
	// Fail on the header, then on the data.
	for _, n := range []int{0, len(mustWrite(t, []Tensor{ok}, nil)) - 1} {
		if err := Write(&failWriter{n}, []Tensor{ok}, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("Write to a writer failing after %d bytes: error = %v", n, err)
		}
	}
}

// FuzzOpen feeds Open arbitrary bytes: it must never panic, and a file it accepts must
// keep every promise of the header (sorted, in bounds, non-overlapping, readable).
func FuzzOpen(f *testing.F) {
	f.Add(mustWrite(f, []Tensor{
		{Name: "a", DType: BF16, Shape: []int{2, 2}, Data: le(BF16, 1, 2, 3, 4)},
		{Name: "b", DType: F16, Shape: []int{1}, Data: le(F16, 5)},
		{Name: "c", DType: I8, Shape: []int{}, Data: []byte{0xff}},
	}, map[string]string{"format": "pt"}))
	f.Add(mustWrite(f, []Tensor{{Name: "z", DType: F32, Shape: []int{0}}}, nil))
	for _, bad := range badFiles {
		f.Add(bad.file)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Open(bytes.NewReader(b), int64(len(b)), "fuzz")
		if err != nil {
			return
		}
		dataSize := int64(len(b)) - file.dataAt
		var end int64
		for i, info := range file.Tensors() {
			if info.Begin < end && i > 0 || info.Begin > info.End || info.End > dataSize {
				t.Fatalf("tensor %q at [%d, %d] is out of order, reversed or past %d", info.Name, info.Begin, info.End, dataSize)
			}
			end = max(end, info.End)
			raw, err := file.Raw(info.Name)
			if err != nil || int64(len(raw)) != info.End-info.Begin || len(raw) != info.Len()*info.DType.Size() {
				t.Fatalf("Raw(%q) = %d bytes, %v; header says [%d, %d] of %v %s", info.Name, len(raw), err, info.Begin, info.End, info.Shape, info.DType)
			}
			x, err := file.Float32(info.Name)
			if err != nil || len(x) != info.Len() {
				t.Fatalf("Float32(%q) = %d values, %v; want %d", info.Name, len(x), err, info.Len())
			}
		}
	})
}

func ExampleWrite() {
	var buf bytes.Buffer
	err := Write(&buf, []Tensor{
		{Name: "norm.weight", DType: BF16, Shape: []int{3}, Data: le(BF16, 1, 0.5, -2)},
	}, map[string]string{"format": "pt"})
	if err != nil {
		panic(err)
	}
	f, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "example.safetensors")
	if err != nil {
		panic(err)
	}
	for _, t := range f.Tensors() {
		x, _ := f.Float32(t.Name)
		fmt.Println(t.Name, t.DType, t.Shape, x)
	}
	// Output: norm.weight BF16 [3] [1 0.5 -2]
}
