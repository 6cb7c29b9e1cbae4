package model

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/t2web/t2web/model/safetensors"
)

// WriteCheckpoint writes w as a Hugging Face checkpoint into dir: config.json (configJSON
// unchanged, it must describe w) and model.safetensors in dtype (F32, BF16 or F16, rounded
// to nearest even). Tokenizer files are the caller's. The same weights give the same bytes.
func WriteCheckpoint(dir string, configJSON []byte, w *Weights, dtype safetensors.DType) error {
	cfg, err := ParseConfig(configJSON)
	if err != nil {
		return err
	}
	var tensors []safetensors.Tensor
	for _, s := range cfg.Bind(w) {
		data, err := encodeAs(*s.Data, dtype)
		if err != nil {
			return err
		}
		tensors = append(tensors, safetensors.Tensor{Name: s.Name, DType: dtype, Shape: s.Shape, Data: data})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	if err := safetensors.Write(f, tensors, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), configJSON, 0o644)
}

// encodeAs stores x little-endian in dtype.
func encodeAs(x []float32, dtype safetensors.DType) ([]byte, error) {
	var conv func(float32) uint16
	switch dtype {
	case safetensors.F32:
		return safetensors.Float32Bytes(x), nil
	case safetensors.BF16:
		conv = safetensors.Float32ToBF16
	case safetensors.F16:
		conv = safetensors.Float32ToF16
	default:
		return nil, fmt.Errorf("model: write checkpoint in %s: want F32, BF16 or F16", dtype)
	}
	b := make([]byte, 2*len(x))
	for i, v := range x {
		u := conv(v)
		b[2*i], b[2*i+1] = byte(u), byte(u>>8)
	}
	return b, nil
}
