// Package gguf writes GGUF files (version 3), the model format of llama.cpp and the
// runtimes built on it (wllama, node-llama-cpp, ollama): a header, typed metadata
// key/value pairs, tensor descriptions, then the tensors' data, each aligned.
//
// Only what t2 export needs is here: scalar, string and array metadata, and tensors of
// type F32, F16 and Q8_0. Reading is left to a well-kept reader
// (github.com/gpustack/gguf-parser-go holds the tests to the format).
package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/t2web/t2web/model/safetensors"
)

// Type is a tensor type (ggml_type).
type Type uint32

// Tensor types written here.
const (
	F32  Type = 0
	F16  Type = 1
	Q8_0 Type = 8
)

// ParseType reads "f32", "f16" or "q8_0".
func ParseType(s string) (Type, error) {
	switch s {
	case "f32":
		return F32, nil
	case "f16":
		return F16, nil
	case "q8_0":
		return Q8_0, nil
	}
	return 0, fmt.Errorf("gguf: type %q, want f32, f16 or q8_0", s)
}

func (t Type) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	}
	return fmt.Sprintf("type%d", uint32(t))
}

// Alignment of tensor data (general.alignment's default).
const Alignment = 32

// metadata value types
const (
	tUint32  = 4
	tInt32   = 5
	tFloat32 = 6
	tBool    = 7
	tString  = 8
	tArray   = 9
)

// KV is one metadata pair; Value is uint32, int32, float32, bool, string, []string,
// []int32 or []float32.
type KV struct {
	Key   string
	Value any
}

// Tensor is one tensor: Data holds Rows×Cols float32 values, row-major (a Hugging Face
// matrix W[out,in] has Rows = out, Cols = in; GGUF lists its dimensions as [in, out]);
// Rows = 1 for a vector. It is written as Type (Q8_0 blocks along a row).
type Tensor struct {
	Name       string
	Rows, Cols int
	Type       Type
	Data       []float32
}

// size is the tensor's size in the file.
func (t *Tensor) size() (int, error) {
	n := t.Rows * t.Cols
	switch t.Type {
	case F32:
		return 4 * n, nil
	case F16:
		return 2 * n, nil
	case Q8_0:
		if t.Cols%32 != 0 {
			return 0, fmt.Errorf("gguf: tensor %s: q8_0 needs rows of a multiple of 32 values, it has %d", t.Name, t.Cols)
		}
		return n / 32 * 34, nil
	}
	return 0, fmt.Errorf("gguf: tensor %s: type %v is not written here", t.Name, t.Type)
}

// Write writes a GGUF file of the metadata kvs and tensors to w.
func Write(w io.Writer, kvs []KV, tensors []Tensor) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	le := binary.LittleEndian
	var b []byte
	b = append(b, "GGUF"...)
	b = le.AppendUint32(b, 3)
	b = le.AppendUint64(b, uint64(len(tensors)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	str := func(b []byte, s string) []byte { return append(le.AppendUint64(b, uint64(len(s))), s...) }
	for _, kv := range kvs {
		b = str(b, kv.Key)
		switch v := kv.Value.(type) {
		case uint32:
			b = le.AppendUint32(le.AppendUint32(b, tUint32), v)
		case int32:
			b = le.AppendUint32(le.AppendUint32(b, tInt32), uint32(v))
		case float32:
			b = le.AppendUint32(le.AppendUint32(b, tFloat32), math.Float32bits(v))
		case bool:
			b = le.AppendUint32(b, tBool)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case string:
			b = str(le.AppendUint32(b, tString), v)
		case []string:
			b = le.AppendUint64(le.AppendUint32(le.AppendUint32(b, tArray), tString), uint64(len(v)))
			for _, s := range v {
				b = str(b, s)
			}
		case []int32:
			b = le.AppendUint64(le.AppendUint32(le.AppendUint32(b, tArray), tInt32), uint64(len(v)))
			for _, x := range v {
				b = le.AppendUint32(b, uint32(x))
			}
		case []float32:
			b = le.AppendUint64(le.AppendUint32(le.AppendUint32(b, tArray), tFloat32), uint64(len(v)))
			for _, x := range v {
				b = le.AppendUint32(b, math.Float32bits(x))
			}
		default:
			return fmt.Errorf("gguf: metadata %s: value of type %T", kv.Key, kv.Value)
		}
	}
	var offset uint64
	for i := range tensors {
		t := &tensors[i]
		if len(t.Data) != t.Rows*t.Cols {
			return fmt.Errorf("gguf: tensor %s: %d values, not %d×%d", t.Name, len(t.Data), t.Rows, t.Cols)
		}
		n, err := t.size()
		if err != nil {
			return err
		}
		b = str(b, t.Name)
		if t.Rows == 1 {
			b = le.AppendUint64(le.AppendUint32(b, 1), uint64(t.Cols))
		} else {
			b = le.AppendUint64(le.AppendUint64(le.AppendUint32(b, 2), uint64(t.Cols)), uint64(t.Rows))
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, offset)
		offset += pad(uint64(n))
	}
	b = append(b, make([]byte, pad(uint64(len(b)))-uint64(len(b)))...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	for i := range tensors {
		t := &tensors[i]
		data := encode(t)
		data = append(data, make([]byte, pad(uint64(len(data)))-uint64(len(data)))...)
		if _, err := bw.Write(data); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func pad(n uint64) uint64 { return (n + Alignment - 1) / Alignment * Alignment }

// encode returns the tensor's data in its type. Q8_0 follows llama.cpp's
// quantize_row_q8_0_ref: per block of 32, d = absmax/127 stored as f16, q = round(x/d)
// with d unrounded, halves away from zero.
func encode(t *Tensor) []byte {
	le := binary.LittleEndian
	switch t.Type {
	case F32:
		return safetensors.Float32Bytes(t.Data)
	case F16:
		b := make([]byte, 0, 2*len(t.Data))
		for _, x := range t.Data {
			b = le.AppendUint16(b, safetensors.Float32ToF16(x))
		}
		return b
	}
	b := make([]byte, 0, len(t.Data)/32*34)
	for i := 0; i < len(t.Data); i += 32 {
		blk := t.Data[i : i+32]
		var amax float32
		for _, x := range blk {
			amax = max(amax, float32(math.Abs(float64(x))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		b = le.AppendUint16(b, safetensors.Float32ToF16(d))
		for _, x := range blk {
			b = append(b, byte(int8(math.Round(float64(x*id)))))
		}
	}
	return b
}
