package model_test

import (
	"testing"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/kerneltest"
)

// TestAVX2Kernels holds AVX2Kernels to GoKernels bit for bit (the CPU must have AVX2).
func TestAVX2Kernels(t *testing.T) {
	if _, ok := model.BestKernels().(model.AVX2Kernels); !ok {
		t.Skip("this CPU has no AVX2")
	}
	kerneltest.Run(t, model.AVX2Kernels{})
}

// BenchmarkAVX2Kernels: compare with BenchmarkGoKernels.
//
//	go test -run '^$' -bench 'Kernels' ./model/
func BenchmarkAVX2Kernels(b *testing.B) { kerneltest.Bench(b, model.AVX2Kernels{}) }
