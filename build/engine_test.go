package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2web/t2web/internal/need"
	"github.com/t2web/t2web/shaders"
)

// TestEngineFlag holds `--engine gpu` to `--engine cpu --dequantize` on an int8 pack with
// an expert: the same greedy ids (the GPU engine's W' in Q8 on a GPU, in float32 on this
// CPU adapter, shaders.PreferMergedF32; the CPU engine's in float32),
// each engine named on stderr, and t2 logits (W' in float32 on both engines, the exact
// reference) within 1e-4.
func TestEngineFlag(t *testing.T) {
	if !shaders.HasVulkanDriver() {
		need.Skip(t, "no Vulkan ICD installed; "+shaders.VulkanHint())
	}
	dir, hf := t.TempDir(), randomCheckpoint(t)
	pack := filepath.Join(dir, "pack")
	if code, _, errOut := t2("convert", "--model", hf, "--out", pack, "--targets", "mlp,attn"); code != 0 {
		t.Fatalf("convert: %s", errOut)
	}
	if code, _, errOut := t2("expert", "new", "--pack", pack, "--name", "half", "--value", "0.5"); code != 0 {
		t.Fatalf("expert new: %s", errOut)
	}
	gen := []string{"generate", "--pack", pack, "--expert", "half", "--prompt", "hello", "--greedy", "--max-tokens", "12", "--print-ids"}
	code, want, errOut := t2(append(gen, "--engine", "cpu", "--dequantize")...)
	if code != 0 || !strings.Contains(errOut, "engine cpu") {
		t.Fatalf("--engine cpu: exit %d, stderr %q", code, errOut)
	}
	code, got, errOut := t2(append(gen, "--engine", "gpu")...)
	if code != 0 || !strings.Contains(errOut, "engine gpu") {
		t.Fatalf("--engine gpu: exit %d, stderr %q", code, errOut)
	}
	t.Logf("greedy ids: %q", want)
	if got != want {
		t.Errorf("--engine gpu: %q, --engine cpu: %q", got, want)
	}
	// t2 logits: the same layout, values within 1e-4.
	var logits [2][]float32
	for i, kind := range []string{"cpu", "gpu"} {
		out := filepath.Join(dir, kind+".bin")
		args := []string{"logits", "--pack", pack, "--expert", "half", "--ids", "1,2,3,4,5", "--out", out, "--engine", kind}
		if kind == "cpu" {
			args = append(args, "--dequantize")
		}
		if code, _, errOut := t2(args...); code != 0 {
			t.Fatalf("logits --engine %s: %s", kind, errOut)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j+4 <= len(data); j += 4 {
			logits[i] = append(logits[i], math.Float32frombits(binary.LittleEndian.Uint32(data[j:])))
		}
	}
	if len(logits[0]) != len(logits[1]) || len(logits[0]) == 0 {
		t.Fatalf("logits: %d values on cpu, %d on gpu", len(logits[0]), len(logits[1]))
	}
	var worst float64
	for j := range logits[0] {
		worst = max(worst, math.Abs(float64(logits[0][j]-logits[1][j])))
	}
	if worst > 1e-4 {
		t.Errorf("logits: max |Δ| gpu vs cpu %.3g, want ≤ 1e-4", worst)
	}
	if code, _, errOut := t2("generate", "--model", hf, "--prompt", "x", "--engine", "gpu"); code == 0 || !strings.Contains(errOut, "runs packs") {
		t.Errorf("--engine gpu --model: exit %d, stderr %q", code, errOut)
	}
}
