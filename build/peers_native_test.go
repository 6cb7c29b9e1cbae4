package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/t2web/t2web/internal/need"
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf"
)

// The native peer of `make bench-peers` — llama.cpp's CPU build, through node-llama-cpp
// and its prebuilt Linux x64 binary — is installed from npm into
// build/peers-native/node_modules at bench time (make peers-native); llama.mjs runs it.

// peersNativeDir returns build/peers-native when node-llama-cpp and node are there, and
// skips otherwise.
func peersNativeDir(t testing.TB) (dir, node string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(root, "build", "peers-native")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp", "package.json")); err != nil {
		need.Skip(t, fmt.Sprintf("node-llama-cpp is not installed in %s: make peers-native installs it from npm", dir))
	}
	if node, err = exec.LookPath("node"); err != nil {
		need.Skip(t, "node is not on the PATH: node-llama-cpp needs it")
	}
	return dir, node
}

// BenchmarkPeersNative runs the native CPU engine (t2 generate's) beside llama.cpp on the
// same SmolLM2-135M-shaped random weights, one thread each and, where the machine has
// two cores, two each: ours on the int8 pack with Go's kernels and with
// model.BestKernels (AVX2's on amd64), llama.cpp (node-llama-cpp 3.21.1) on the Q8_0
// GGUF that t2 export writes from that pack. The same 64-token
// prompt, 128 greedy tokens whatever they are, the engines interleaved, a warm-up round
// dropped, then the median and range of 5 rounds. Ours loads once (its load time is the
// pack's: reading and recomposing W'), llama.cpp in each run's process; each times
// itself as BenchmarkPeers's engines do. make bench-peers runs it:
//
//	go test -run '^$' -bench PeersNative -benchtime 1x ./build/
func BenchmarkPeersNative(b *testing.B) {
	dir, node := peersNativeDir(b)
	models := b.TempDir()
	p, err := svf.OpenDir(smolPeerModels(b, models, "q8_0"))
	if err != nil {
		b.Fatal(err)
	}
	ours := func(k model.Kernels, threads int) func() (float64, float64, float64, string) {
		start := time.Now()
		m, err := p.LoadInt8(k)
		if err != nil {
			b.Fatal(err)
		}
		e, err := model.NewCPU(m, model.CPUOptions{Context: 512, Kernels: k, Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		loaded := time.Since(start).Seconds()
		prompt := m.Tokenizer.Encode(peerPrompt, false)
		return func() (float64, float64, float64, string) {
			var first time.Time
			start := time.Now()
			out, err := model.Generate(context.Background(), e, prompt, model.Greedy(), peerTokens, nil, func(int) {
				if first.IsZero() {
					first = time.Now()
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			end := time.Now()
			info := fmt.Sprintf("%d thread(s), %s kernels, %d prompt + %d new tokens, loaded once in %.1f s", threads, k.Name(), len(prompt), len(out), loaded)
			return 0, float64(len(prompt)) / first.Sub(start).Seconds(), float64(len(out)-1) / end.Sub(first).Seconds(), info
		}
	}
	llama := func(threads int) func() (float64, float64, float64, string) {
		return func() (float64, float64, float64, string) {
			cmd := exec.Command(node, "llama.mjs", filepath.Join(models, "smollm2-q8_0.gguf"), strconv.Itoa(threads), strconv.Itoa(peerTokens), peerPrompt)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				b.Fatalf("node llama.mjs: %v\n%s", err, stderr)
			}
			var r struct {
				LoadMs                 float64 `json:"loadMs"`
				PromptTokens           int     `json:"promptTokens"`
				NewTokens              int     `json:"newTokens"`
				PrefillTokensPerSecond float64 `json:"prefillTokensPerSecond"`
				DecodeTokensPerSecond  float64 `json:"decodeTokensPerSecond"`
				Threads                int     `json:"threads"`
				GPU                    any     `json:"gpu"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				b.Fatalf("node llama.mjs printed %q: %v", out, err)
			}
			info := fmt.Sprintf("%d thread(s), gpu %v, %d prompt + %d new tokens", r.Threads, r.GPU, r.PromptTokens, r.NewTokens)
			return r.LoadMs / 1000, r.PrefillTokensPerSecond, r.DecodeTokensPerSecond, info
		}
	}
	best := model.BestKernels().Name()
	engines := []*peerEngine{
		{name: "t2 native CPU engine, int8 pack, " + best + " kernels, 1 thread", bytes: smolWeights * (1 + 4.0/32), run: ours(model.BestKernels(), 1)},
		{name: "llama.cpp (node-llama-cpp 3.21.1), Q8_0, 1 thread", bytes: smolWeights * 34.0 / 32, run: llama(1)},
	}
	two := runtime.NumCPU() >= 2
	if two {
		engines = append(engines,
			&peerEngine{name: "t2 native CPU engine, int8 pack, " + best + " kernels, 2 threads", bytes: smolWeights * (1 + 4.0/32), run: ours(model.BestKernels(), 2)},
			&peerEngine{name: "llama.cpp (node-llama-cpp 3.21.1), Q8_0, 2 threads", bytes: smolWeights * 34.0 / 32, run: llama(2)})
	}
	if _, goKernels := model.BestKernels().(model.GoKernels); !goKernels {
		engines = append(engines, &peerEngine{name: "t2 native CPU engine, int8 pack, go kernels, 1 thread", bytes: smolWeights * (1 + 4.0/32), run: ours(model.GoKernels{}, 1)})
	}
	racePeers(b, engines, 5)
	b.ReportMetric(median(engines[0].runs[2]), "decode-tok/s")
	b.ReportMetric(median(engines[0].runs[2])/median(engines[1].runs[2]), "x-llama.cpp-decode")
	b.ReportMetric(median(engines[0].runs[1])/median(engines[1].runs[1]), "x-llama.cpp-prefill")
	if two {
		b.ReportMetric(median(engines[2].runs[2]), "decode-2-threads-tok/s")
		b.ReportMetric(median(engines[2].runs[2])/median(engines[3].runs[2]), "x-llama.cpp-decode-2-threads")
	}
}
