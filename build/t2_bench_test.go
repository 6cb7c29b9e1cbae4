package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/shaders"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// demoEngine opens the demo pack on the CPU engine or, natively, the GPU engine (Vulkan;
// lavapipe here), with seqs sequences.
func demoEngine(b *testing.B, kind string, seqs int) (model.Engine, *model.Model, *svf.Pack) {
	b.Helper()
	p, err := svf.OpenDir(demoPack)
	if err != nil {
		b.Fatal(err)
	}
	src := &source{pack: demoPack}
	if kind == engineGPU {
		d, err := shaders.Open()
		if err != nil {
			b.Skipf("no Vulkan adapter: %v", err)
		}
		e, m, err := openGPU(d, src, engineOptions{MaxSeqs: seqs})
		if err != nil {
			d.Close()
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close(); d.Close() })
		return e, m, p
	}
	e, m, closeEngine, err := openEngine(engineCPU, src, engineOptions{MaxSeqs: seqs}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(closeEngine)
	return e, m, p
}

// BenchmarkTwoPass times Transformer²'s passes on the demo pack: the first pass of each
// strategy (choosing the expert) and the second (setting its z and answering greedily),
// on questions of the unseen tasks. The figure is first-pass ms next to second-pass ms.
//
//	go test -run '^$' -bench TwoPass -benchtime 1x ./build/
func BenchmarkTwoPass(b *testing.B) {
	for _, kind := range []string{engineCPU, engineGPU} {
		for _, strategy := range []string{strategyPrompt, strategyClsExpert} {
			b.Run(kind+"/"+strategy, func(b *testing.B) {
				e, m, p := demoEngine(b, kind, 8)
				s, err := firstPass(strategy, m, e, p, false)
				if err != nil {
					b.Fatal(err)
				}
				// As the page does: the second pass answers in sequence 0 alone.
				s.(*svf.Dispatch).KeepPrefix(&svf.PrefixCache{})
				var questions []tasks.Example
				for _, name := range []string{tasks.MathHard, tasks.CodeJS, tasks.ReasoningHard} {
					t, _ := tasks.Lookup(name)
					exs, err := tasks.Sample(t, tasks.Test, 1, 4)
					if err != nil {
						b.Fatal(err)
					}
					questions = append(questions, exs...)
				}
				var first, second time.Duration
				b.ResetTimer()
				for range b.N {
					for _, q := range questions {
						c, err := s.Choose(q.Input)
						if err != nil {
							b.Fatal(err)
						}
						first += c.Elapsed
						start := time.Now()
						if err := e.SetZ(c.Z); err != nil {
							b.Fatal(err)
						}
						if _, err := svf.Evaluate(m, e, []tasks.Example{q}, func(tasks.Example, string) bool { return true }, defaultResults.MaxTokens); err != nil {
							b.Fatal(err)
						}
						second += time.Since(start)
					}
				}
				n := float64(b.N * len(questions))
				b.ReportMetric(first.Seconds()*1000/n, "first-ms")
				b.ReportMetric(second.Seconds()*1000/n, "second-ms")
				b.ReportMetric(100*first.Seconds()/second.Seconds(), "first/second-%")
			})
		}
	}
}

// BenchmarkAdaptDemo times CEM iterations of few-shot adaptation on the demo pack — 10
// examples, its 3 domain experts, population 32 — with the population scored in the same
// forward passes (batched) or one candidate after another with SetZ (sequential). The
// figure is seconds per iteration, timed on one (sequential greedy decoding on lavapipe
// takes minutes an iteration); 50 iterations take about 50 times as long.
//
//	go test -run '^$' -bench AdaptDemo -benchtime 1x ./build/
func BenchmarkAdaptDemo(b *testing.B) {
	const iters = 1
	for _, kind := range []string{engineCPU, engineGPU} {
		for _, score := range []string{svf.ScoreAccuracy, svf.ScoreLikelihood} {
			for _, mode := range []string{"batched", "sequential"} {
				b.Run(kind+"/"+score+"/"+mode, func(b *testing.B) {
					seqs := 16
					if kind == engineGPU && mode == "batched" {
						seqs = 320 // every candidate × example in one batch
					}
					e, m, p := demoEngine(b, kind, seqs)
					experts, err := chooseExperts(p, "")
					if err != nil {
						b.Fatal(err)
					}
					t, _ := tasks.Lookup(tasks.MathHard)
					shots, err := tasks.Sample(t, tasks.Validation, 1, 10)
					if err != nil {
						b.Fatal(err)
					}
					for i := range shots {
						shots[i].Output = shots[i].Solution
					}
					opt := svf.FewShotOptions{CEM: svf.DefaultCEM(), Score: score, Scoring: mode}
					opt.CEM.Iters, opt.CEM.MinStd = iters, 0
					b.ResetTimer()
					for range b.N {
						if _, err := svf.Adapt(context.Background(), m, e, experts, p.Manifest.Matrices, shots, opt); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N*iters), "s/iter")
				})
			}
		}
	}
}
