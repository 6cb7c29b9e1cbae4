package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestAdamWReference holds Update to AdamW written out in float64 over a few steps,
// with decay on part of the parameters and a clip that bites, on few parameters (one
// goroutine) and on many (the pool, with decay ranges across its blocks).
func TestAdamWReference(t *testing.T) {
	t.Run("small", func(t *testing.T) { testAdamW(t, 10, [][2]int{{2, 5}, {7, 9}}) })
	t.Run("large", func(t *testing.T) {
		testAdamW(t, 3*adamBlock+100, [][2]int{{5, adamBlock + 7}, {2*adamBlock - 3, 2*adamBlock + 50}, {3 * adamBlock, 3*adamBlock + 1}})
	})
}

func testAdamW(t *testing.T, n int, decay [][2]int) {
	h := AdamWConfig{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1, Clip: 0.5}
	o := NewAdamW(h, n)
	o.Decay = decay
	rng := rand.New(rand.NewPCG(1, 2))
	p := make([]float32, n)
	for i := range p {
		p[i] = float32(rng.NormFloat64())
	}
	ref, m, v := widen(p), make([]float64, n), make([]float64, n)
	decayed := func(i int) bool {
		for _, s := range decay {
			if i >= s[0] && i < s[1] {
				return true
			}
		}
		return false
	}
	for step := 1; step <= 5; step++ {
		g := make([]float32, n)
		var ss float64
		for i := range g {
			g[i] = float32(rng.NormFloat64())
			ss += float64(g[i]) * float64(g[i])
		}
		norm := o.Update(p, g)
		if math.Abs(norm-math.Sqrt(ss)) > 1e-9 {
			t.Fatalf("step %d: norm %g, want %g", step, norm, math.Sqrt(ss))
		}
		scale := min(1, h.Clip/norm)
		for i := range ref {
			gi := float64(g[i]) * scale
			m[i] = h.Beta1*m[i] + (1-h.Beta1)*gi
			v[i] = h.Beta2*v[i] + (1-h.Beta2)*gi*gi
			mh, vh := m[i]/(1-math.Pow(h.Beta1, float64(step))), v[i]/(1-math.Pow(h.Beta2, float64(step)))
			wd := 0.0
			if decayed(i) {
				wd = h.WeightDecay
			}
			ref[i] -= h.LR * (mh/(math.Sqrt(vh)+h.Eps) + wd*ref[i])
		}
		for i := range p {
			if math.Abs(float64(p[i])-ref[i]) > 1e-6 {
				t.Fatalf("step %d: p[%d] = %g, float64 AdamW gives %g", step, i, p[i], ref[i])
			}
		}
	}
}

// trainRun is a seeded toy run: the batch of step s depends only on s, and the learning
// rate follows a warmup, so a run resumed at any step sees what a straight run sees.
type trainRun struct {
	t   *testing.T
	m   *Model[float32]
	opt *AdamW
}

func newTrainRun(t *testing.T, seed uint64) *trainRun {
	t.Helper()
	c := parseConfig(t, testConfigs["qwen2"])
	m, err := New[float32](c, Options{B: 2, T: 6, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	h := DefaultAdamW()
	h.Clip = 0.5 // bites at the start
	opt := NewAdamW(h, len(m.Params))
	opt.Decay = m.MatrixSpans()
	return &trainRun{t, m, opt}
}

// step runs training step s (0-based) and returns its loss.
func (r *trainRun) step(s int) float64 {
	V := r.m.Config.VocabSize
	rng := rand.New(rand.NewPCG(99, uint64(s)))
	N := r.m.B * r.m.T
	inputs, targets, mask := make([]int, N), make([]int, N), make([]float32, N)
	for n := range N {
		// a learnable sequence: each token is the previous plus a per-sequence stride
		inputs[n] = (n/r.m.T*3 + n%r.m.T*(1+n/r.m.T) + rng.IntN(2)) % V
		targets[n] = (inputs[n] + 1 + n/r.m.T) % V
		mask[n] = float32(rng.IntN(2) + n%2)
	}
	loss, err := r.m.Forward(inputs, targets, mask)
	if err != nil {
		r.t.Fatal(err)
	}
	r.m.ZeroGrad()
	r.m.Backward()
	r.opt.LR = 3e-3 * min(1, float64(s+1)/4)
	r.opt.Update(r.m.Params, r.m.Grads)
	return loss
}

// TestCheckpointResume checks that N steps straight equal k steps, a checkpoint, a fresh
// model and optimiser loaded from it, and N−k more steps, bit for bit; and that the
// loss falls.
func TestCheckpointResume(t *testing.T) {
	const N, k = 8, 3
	straight := newTrainRun(t, 1)
	var first, last float64
	for s := range N {
		l := straight.step(s)
		if s == 0 {
			first = l
		}
		last = l
	}
	t.Logf("loss %.4f → %.4f over %d steps", first, last, N)

	path := filepath.Join(t.TempDir(), "run.ckpt")
	a := newTrainRun(t, 1)
	for s := range k {
		a.step(s)
	}
	extra := json.RawMessage(`{"next_step":3}`)
	if err := SaveCheckpoint(path, a.m, a.opt, extra); err != nil {
		t.Fatal(err)
	}
	b := newTrainRun(t, 2) // other initial weights: the checkpoint must replace them
	b.opt.AdamWConfig = AdamWConfig{LR: 1}
	got, err := LoadCheckpoint(path, b.m, b.opt)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(extra) {
		t.Errorf("extra state %s, want %s", got, extra)
	}
	for s := k; s < N; s++ {
		b.step(s)
	}
	if !slices.Equal(b.m.Params, straight.m.Params) {
		t.Fatal("resumed run's parameters differ from the straight run's")
	}
	if !slices.Equal(b.opt.M, straight.opt.M) || !slices.Equal(b.opt.V, straight.opt.V) || b.opt.Step != straight.opt.Step {
		t.Fatal("resumed run's optimiser state differs from the straight run's")
	}
	if !(last < first) {
		t.Errorf("loss did not fall: %.4f → %.4f", first, last)
	}
}

// TestCheckpointBad checks that a truncated, corrupted or foreign checkpoint is an error
// wrapping ErrCheckpoint, and that neither the model, the optimiser nor the file changes.
func TestCheckpointBad(t *testing.T) {
	dir := t.TempDir()
	r := newTrainRun(t, 1)
	r.step(0)
	good := filepath.Join(dir, "good.ckpt")
	if err := SaveCheckpoint(good, r.m, r.opt, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at int) []byte {
		b := bytes.Clone(data)
		b[at] ^= 0x10
		return b
	}
	cases := map[string][]byte{
		"truncated":      data[:len(data)-100],
		"header only":    data[:200],
		"empty":          {},
		"flipped data":   flip(len(data) - 7),
		"flipped header": flip(20),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".ckpt")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			fresh := newTrainRun(t, 5)
			params, step := slices.Clone(fresh.m.Params), fresh.opt.Step
			_, err := LoadCheckpoint(path, fresh.m, fresh.opt)
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v, want one wrapping ErrCheckpoint", err)
			}
			t.Logf("%v", err)
			if !slices.Equal(params, fresh.m.Params) || fresh.opt.Step != step {
				t.Error("a failed load changed the model or the optimiser")
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
				t.Error("a failed load changed the file")
			}
		})
	}
	t.Run("other model", func(t *testing.T) {
		c := parseConfig(t, testConfigs["mistral-window"])
		m, err := New[float32](c, Options{B: 1, T: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		_, err = LoadCheckpoint(good, m, NewAdamW(DefaultAdamW(), len(m.Params)))
		if !errors.Is(err, ErrCheckpoint) {
			t.Fatalf("error %v, want one wrapping ErrCheckpoint", err)
		}
		t.Logf("%v", err)
	})
	t.Run("failed save keeps the previous file", func(t *testing.T) {
		boom := errors.New("disk full")
		err := writeFileAtomic(good, func(w io.Writer) error {
			w.Write([]byte("partial"))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("error %v, want %v", err, boom)
		}
		if after, _ := os.ReadFile(good); !bytes.Equal(after, data) {
			t.Error("a failed save changed the previous checkpoint")
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if filepath.Ext(e.Name()) != ".ckpt" {
				t.Errorf("a failed save left %s behind", e.Name())
			}
		}
	})
}
