package model

import (
	"fmt"
	"github.com/t2web/t2web/model/fixtures"
	"testing"
)

func randomModel(b *testing.B, config string) *Model {
	b.Helper()
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		b.Fatal(err)
	}
	return &Model{Config: cfg, Weights: RandomWeights(cfg, 1)}
}

// BenchmarkDecode measures one-token decode steps after a 64-token prompt.
func BenchmarkDecode(b *testing.B) {
	m := randomModel(b, fixtures.SmolLM2Config)
	benchDecode(b, m, GoKernels{})
}

// benchDecode times one-token decode steps of m on kernels k after a 64-token prompt.
func benchDecode(b *testing.B, m *Model, k Kernels) {
	e, err := NewCPU(m, CPUOptions{Context: 1024, Kernels: k})
	if err != nil {
		b.Fatal(err)
	}
	var batch Batch
	for i := range 64 {
		batch.Add(i, i, 0, i == 63)
	}
	if err := e.Forward(&batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	pos := 64
	for i := 0; i < b.N; i++ {
		if pos == e.Context() {
			pos = 64
		}
		batch.Reset()
		batch.Add(i%m.Config.VocabSize, pos, 0, true)
		if err := e.Forward(&batch); err != nil {
			b.Fatal(err)
		}
		pos++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkPrefill measures prompt processing, logits for the last token only.
func BenchmarkPrefill(b *testing.B) {
	m := randomModel(b, fixtures.SmolLM2Config)
	for _, T := range []int{64, 256} {
		b.Run(fmt.Sprintf("T=%d", T), func(b *testing.B) {
			e, err := NewCPU(m, CPUOptions{Context: T})
			if err != nil {
				b.Fatal(err)
			}
			var batch Batch
			for i := range T {
				batch.Add(i, i, 0, i == T-1)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Clear(0)
				if err := e.Forward(&batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*T)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// BenchmarkDecodeQ8 is BenchmarkDecode with every layer matrix and the lm_head in int8
// (Q8Dense and LMHeadQ8, as an int8 pack's base weights), on Go's kernels and on
// BestKernels where they differ (AVX2Kernels, on amd64 with AVX2):
//
//	go test -run '^$' -bench DecodeQ8 -cpu 1 ./model/
func BenchmarkDecodeQ8(b *testing.B) {
	m := randomModel(b, fixtures.SmolLM2Config)
	for name, l := range m.Weights.Linears {
		d, ok := l.(*Dense)
		if !ok {
			continue
		}
		var q Q8
		q.QuantizeRows(d.W, d.Out, d.In)
		if err := m.Weights.Replace(name, &Q8Dense{W: &q, B: d.B}); err != nil {
			b.Fatal(err)
		}
	}
	c := m.Config
	m.Weights.LMHeadQ8 = &Q8{}
	m.Weights.LMHeadQ8.QuantizeRows(m.Weights.LMHead, c.VocabSize, c.Dim)
	kernels := []Kernels{GoKernels{}}
	if k := BestKernels(); k.Name() != kernels[0].Name() {
		kernels = append(kernels, k)
	}
	for _, k := range kernels {
		b.Run(k.Name(), func(b *testing.B) { benchDecode(b, m, k) })
	}
}
