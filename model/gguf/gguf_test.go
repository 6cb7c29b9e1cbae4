package gguf

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ggufparser "github.com/gpustack/gguf-parser-go"

	"github.com/t2web/t2web/model/safetensors"
)

// TestWrite writes metadata of every kind and a tensor of every type, and reads them
// back with gguf-parser-go: the values, the tensors' dimensions (columns first), types
// and aligned offsets, and the data — f32 exactly, f16 rounded, Q8_0 as llama.cpp's
// quantize_row_q8_0_ref (d = absmax/127 as f16, q = round(x/d)).
func TestWrite(t *testing.T) {
	x := make([]float32, 2*64)
	for i := range x {
		x[i] = float32(i%17) - 8.25
	}
	x[5] = 127 // block 0's absmax: d = 1
	kvs := []KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "u", Value: uint32(7)}, {Key: "i", Value: int32(-3)}, {Key: "f", Value: float32(1.5)}, {Key: "b", Value: true},
		{Key: "s", Value: []string{"a", "", "c d"}}, {Key: "n", Value: []int32{1, -2}}, {Key: "g", Value: []float32{0.5}},
	}
	tensors := []Tensor{
		{Name: "v", Rows: 1, Cols: 3, Type: F32, Data: []float32{1, 2, 3}},
		{Name: "a", Rows: 2, Cols: 64, Type: F16, Data: x},
		{Name: "q", Rows: 2, Cols: 64, Type: Q8_0, Data: x},
	}
	path := filepath.Join(t.TempDir(), "t.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, kvs, tensors); err != nil {
		t.Fatal(err)
	}
	f.Close()
	gf, err := ggufparser.ParseGGUFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := gf.Header.MetadataKV
	get := func(k string) ggufparser.GGUFMetadataKV {
		v, ok := md.Get(k)
		if !ok {
			t.Fatalf("no key %s", k)
		}
		return v
	}
	if get("general.architecture").ValueString() != "llama" || get("u").ValueUint32() != 7 || get("i").ValueInt32() != -3 ||
		get("f").ValueFloat32() != 1.5 || !get("b").ValueBool() {
		t.Errorf("scalar metadata read back wrong: %+v", md)
	}
	if s := get("s").ValueArray().ValuesString(); !slices.Equal(s, []string{"a", "", "c d"}) {
		t.Errorf("string array %q", s)
	}
	if n := ggufparser.ValuesNumeric[int32](get("n").ValueArray()); !slices.Equal(n, []int32{1, -2}) {
		t.Errorf("int32 array %v", n)
	}
	data, _ := os.ReadFile(path)
	for i, ti := range gf.TensorInfos {
		want := tensors[i]
		dims := []uint64{uint64(want.Cols)}
		if want.Rows > 1 {
			dims = append(dims, uint64(want.Rows))
		}
		if ti.Name != want.Name || uint32(ti.Type) != uint32(want.Type) || !slices.Equal(ti.Dimensions, dims) || ti.Offset%Alignment != 0 {
			t.Errorf("tensor %d: %+v, want %s %v %v aligned to %d", i, ti, want.Name, want.Type, dims, Alignment)
		}
		b := data[gf.TensorDataStartOffset+int64(ti.Offset):]
		switch want.Type {
		case F32:
			if got := safetensors.BytesFloat32(b[:12]); !slices.Equal(got, want.Data) {
				t.Errorf("f32 %v", got)
			}
		case F16:
			for j, v := range want.Data {
				if got := safetensors.F16ToFloat32(binary.LittleEndian.Uint16(b[2*j:])); got != v { // these values are exact in f16
					t.Fatalf("f16 [%d] %g, want %g", j, got, v)
				}
			}
		case Q8_0:
			if d := safetensors.F16ToFloat32(binary.LittleEndian.Uint16(b)); d != 1 {
				t.Errorf("block 0: d %g, want 1", d)
			}
			for j := range 32 {
				if got, want := int8(b[2+j]), int8(roundHalfAway(x[j])); got != want {
					t.Fatalf("block 0: q[%d] %d, want %d", j, got, want)
				}
			}
		}
	}
}

func roundHalfAway(v float32) float32 {
	if v < 0 {
		return -float32(int(-v + 0.5))
	}
	return float32(int(v + 0.5))
}

// TestWriteErrors: a Q8_0 row that is not whole blocks and data that does not fit the
// shape are errors naming the tensor.
func TestWriteErrors(t *testing.T) {
	for _, tc := range []Tensor{
		{Name: "odd", Rows: 1, Cols: 33, Type: Q8_0, Data: make([]float32, 33)},
		{Name: "short", Rows: 2, Cols: 4, Type: F32, Data: make([]float32, 7)},
	} {
		err := Write(new(discard), nil, []Tensor{tc})
		if err == nil || !strings.Contains(err.Error(), tc.Name) {
			t.Errorf("%s: error %v, want one naming it", tc.Name, err)
		}
	}
	if _, err := ParseType("q4_0"); err == nil {
		t.Error("ParseType(q4_0): no error")
	}
}

type discard struct{}

func (*discard) Write(p []byte) (int, error) { return len(p), nil }
