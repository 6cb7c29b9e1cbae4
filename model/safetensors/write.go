package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Tensor is one tensor to Write: its name, dtype, shape and little-endian row-major bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int // nil or [] for a scalar
	Data  []byte
}

// Float32Tensor returns the F32 tensor name of the given shape holding x, its bytes and
// shape copies.
func Float32Tensor(name string, x []float32, shape []int) Tensor {
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: Float32Bytes(x)}
}

// Write writes tensors and metadata to w as one safetensors file.
//
// The output is deterministic: tensors are laid out in the order given, with no gaps;
// the header's keys are sorted (so "__metadata__", if metadata is non-empty, falls between
// upper- and lower-case names); and the header is padded with spaces to a multiple of 8
// bytes, as Hugging Face's writer does, so that the data section starts 8-aligned.
//
// Write checks each tensor before writing anything: a non-empty name that is neither
// repeated nor "__metadata__", a known dtype, non-negative dimensions, and
// len(Data) == product(Shape) × DType.Size().
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	type entry struct {
		DType       DType    `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	header := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	var offset int64
	for i, t := range tensors {
		if err := checkTensor(t); err != nil {
			return fmt.Errorf("safetensors: write tensor %d %q: %w", i, t.Name, err)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("safetensors: write tensor %d %q: name appears twice", i, t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar: "shape": [], not null
		}
		end := offset + int64(len(t.Data))
		header[t.Name] = entry{t.DType, shape, [2]int64{offset, end}}
		offset = end
	}

	var buf bytes.Buffer
	buf.Write(make([]byte, 8)) // the length, filled in below
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep names such as "a<b" readable; both forms are valid JSON
	if err := enc.Encode(header); err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	buf.Truncate(buf.Len() - 1) // Encode's trailing newline
	for (buf.Len()-8)%8 != 0 {
		buf.WriteByte(' ')
	}
	binary.LittleEndian.PutUint64(buf.Bytes(), uint64(buf.Len()-8))

	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("safetensors: write header: %w", err)
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// checkTensor returns an error if t cannot be written as it stands.
func checkTensor(t Tensor) error {
	if t.Name == "" {
		return errors.New("empty name")
	}
	if t.Name == metadataKey {
		return fmt.Errorf("name %q is reserved for metadata", metadataKey)
	}
	if err := checkDType(t.DType); err != nil {
		return fmt.Errorf("dtype: %w", err)
	}
	count := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("shape %v has negative dimension %d", t.Shape, d)
		}
		if d != 0 && count > math.MaxInt/d {
			return fmt.Errorf("shape %v: element count overflows int", t.Shape)
		}
		count *= d
	}
	if count > math.MaxInt/t.DType.Size() {
		return fmt.Errorf("shape %v of %s: byte size overflows int", t.Shape, t.DType)
	}
	if want := count * t.DType.Size(); len(t.Data) != want {
		return fmt.Errorf("data is %d bytes, want %d (shape %v of %s)", len(t.Data), want, t.Shape, t.DType)
	}
	return nil
}
