package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every backward is checked against central finite differences of a scalar loss, in
// float64. With step h = 1e-5 the truncation error is O(h²) ≈ 1e-10 and the rounding
// error O(ε/h) ≈ 1e-11, far below the bound.
const (
	fdStep   = 1e-5
	fdMaxErr = 1e-6 // ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖)
)

// numericGrad returns dJ/dx by central differences, perturbing x in place.
func numericGrad(x []float64, J func() float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		v := x[i]
		x[i] = v + fdStep
		jp := J()
		x[i] = v - fdStep
		jm := J()
		x[i] = v
		g[i] = (jp - jm) / (2 * fdStep)
	}
	return g
}

// relErr is ‖a − b‖ / max(‖a‖, ‖b‖), 0 when both are 0.
func relErr(a, b []float64) float64 {
	var d, na, nb float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	if na == 0 && nb == 0 {
		return 0
	}
	return math.Sqrt(d / max(na, nb))
}

func checkGrad(t *testing.T, what string, analytic, numeric []float64) {
	t.Helper()
	e := relErr(analytic, numeric)
	t.Logf("%-28s relative error %.2e over %d values", what, e, len(analytic))
	if e > fdMaxErr || math.IsNaN(e) {
		t.Errorf("%s: relative error %.3g, want ≤ %g", what, e, fdMaxErr)
	}
}

func randVec(rng *rand.Rand, n int, center, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = center + scale*rng.NormFloat64()
	}
	return x
}

// weighted is J = Σ out·r, the scalar loss whose gradient w.r.t. out is r.
func weighted(out, r []float64) float64 {
	var s float64
	for i := range out {
		s += out[i] * r[i]
	}
	return s
}

func testKernels(t *testing.T) *kernels[float64] {
	k := &kernels[float64]{pool: newPool(2), scratch: make([]float64, 1<<16)}
	t.Cleanup(k.pool.close)
	return k
}

func TestGradRMSNorm(t *testing.T) {
	k := testKernels(t)
	rng := rand.New(rand.NewPCG(1, 1))
	const N, D, eps = 3, 7, 1e-5
	inp, w, r := randVec(rng, N*D, 0, 1), randVec(rng, D, 1, 0.3), randVec(rng, N*D, 0, 1)
	out, rstd := make([]float64, N*D), make([]float64, N)
	J := func() float64 { k.rmsnormForward(out, rstd, inp, w, N, D, eps); return weighted(out, r) }
	J()
	dinp, dw := make([]float64, N*D), make([]float64, D)
	k.rmsnormBackward(dinp, dw, r, inp, w, rstd, N, D)
	checkGrad(t, "rmsnorm dinp", dinp, numericGrad(inp, J))
	checkGrad(t, "rmsnorm dweight", dw, numericGrad(w, J))
}

func TestGradMatmul(t *testing.T) {
	k := testKernels(t)
	for _, s := range []struct{ N, C, OC int }{{5, 6, 7}, {9, 8, 4}, {1, 3, 2}} {
		rng := rand.New(rand.NewPCG(2, uint64(s.N)))
		inp, w, b := randVec(rng, s.N*s.C, 0, 1), randVec(rng, s.OC*s.C, 0, 1), randVec(rng, s.OC, 0, 1)
		r, out := randVec(rng, s.N*s.OC, 0, 1), make([]float64, s.N*s.OC)
		J := func() float64 { k.matmulForward(out, inp, w, b, s.N, s.C, s.OC); return weighted(out, r) }
		dinp, dw, db := make([]float64, s.N*s.C), make([]float64, s.OC*s.C), make([]float64, s.OC)
		k.matmulBackward(dinp, dw, db, r, inp, w, s.N, s.C, s.OC)
		checkGrad(t, "matmul dinp", dinp, numericGrad(inp, J))
		checkGrad(t, "matmul dweight", dw, numericGrad(w, J))
		checkGrad(t, "matmul dbias", db, numericGrad(b, J))
	}
}

func TestGradRope(t *testing.T) {
	c := parseConfig(t, testConfigs["llama-bias-tied"]) // llama3 scaling: uneven frequencies
	const B, T = 2, 5
	H, Hkv, Dh := c.NHeads, c.NKVHeads, c.HeadDim
	N, QKV := B*T, (H+2*Hkv)*Dh
	rp := newRope[float64](c, T)
	rng := rand.New(rand.NewPCG(3, 3))
	qkv, r := randVec(rng, N*QKV, 0, 1), randVec(rng, N*QKV, 0, 1)
	x := make([]float64, N*QKV)
	J := func() float64 { copy(x, qkv); ropeForward(x, &rp, N, T, H, Hkv, Dh); return weighted(x, r) }
	d := append([]float64(nil), r...)
	ropeBackward(d, &rp, N, T, H, Hkv, Dh)
	checkGrad(t, "rope dinp", d, numericGrad(qkv, J))
}

func TestGradAttention(t *testing.T) {
	k := testKernels(t)
	const B, T, H, Hkv, Dh = 2, 5, 4, 2, 4
	N, Q, QKV := B*T, H*Dh, (H+2*Hkv)*Dh
	for _, window := range []int{0, 2} {
		rng := rand.New(rand.NewPCG(4, uint64(window)))
		qkv, r := randVec(rng, N*QKV, 0, 1), randVec(rng, N*Q, 0, 1)
		out, att := make([]float64, N*Q), make([]float64, B*H*T*T)
		scratch := make([]float64, max(B*H*attnForwardScratch(T, Dh), B*Hkv*attnBackwardScratch(T, Dh)))
		J := func() float64 {
			k.attentionForward(out, att, qkv, scratch, B, T, H, Hkv, Dh, window)
			return weighted(out, r)
		}
		J()
		dqkv := make([]float64, N*QKV)
		k.attentionBackward(dqkv, r, qkv, att, scratch, B, T, H, Hkv, Dh, window)
		name := "attention dqkv"
		if window > 0 {
			name += " (window 2)"
		}
		checkGrad(t, name, dqkv, numericGrad(qkv, J))
	}
}

func TestGradSwiGLU(t *testing.T) {
	k := testKernels(t)
	const N, F = 3, 6
	rng := rand.New(rand.NewPCG(5, 5))
	fc, r, out := randVec(rng, N*2*F, 0, 2), randVec(rng, N*F, 0, 1), make([]float64, N*F)
	J := func() float64 { k.swigluForward(out, fc, N, F); return weighted(out, r) }
	dfc := make([]float64, N*2*F)
	k.swigluBackward(dfc, r, fc, N, F)
	checkGrad(t, "swiglu dfc", dfc, numericGrad(fc, J))
}

func TestGradEmbedding(t *testing.T) {
	const N, D, V = 6, 4, 5
	rng := rand.New(rand.NewPCG(6, 6))
	wte, r, out := randVec(rng, V*D, 0, 1), randVec(rng, N*D, 0, 1), make([]float64, N*D)
	inp := []int{3, 1, 3, 0, 4, 3}
	J := func() float64 { embeddingForward(out, inp, wte, N, D); return weighted(out, r) }
	dwte := make([]float64, V*D)
	embeddingBackward(dwte, r, inp, N, D)
	checkGrad(t, "embedding dwte", dwte, numericGrad(wte, J))
}

func TestGradCrossEntropy(t *testing.T) {
	const N, V = 4, 7
	rng := rand.New(rand.NewPCG(7, 7))
	logits, dlosses := randVec(rng, N*V, 0, 3), []float64{0.25, 0, -0.5, 1}
	targets := []int{3, 0, 6, -1}
	losses, probs := make([]float64, N), make([]float64, N*V)
	J := func() float64 {
		crossEntropyForward(losses, probs, logits, targets, N, V)
		return weighted(losses, dlosses)
	}
	J()
	dlogits := make([]float64, N*V)
	crossEntropyBackward(dlogits, probs, targets, dlosses, N, V)
	checkGrad(t, "crossentropy dlogits", dlogits, numericGrad(logits, J))
}

// gradTestConfigs are the whole-model checks: the brief's tiny Qwen2 (2 layers, dim 16,
// 4/2 heads, vocab 11, q/k/v bias) and a tied Llama with o bias and a sliding window.
var gradTestConfigs = map[string]string{
	"qwen2-tiny": `{"architectures": ["Qwen2ForCausalLM"], "vocab_size": 11, "hidden_size": 16,
	  "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4,
	  "num_key_value_heads": 2, "max_position_embeddings": 32, "rms_norm_eps": 1e-6,
	  "tie_word_embeddings": false}`,
	"llama-tied-obias-window": `{"architectures": ["LlamaForCausalLM"], "vocab_size": 11, "hidden_size": 16,
	  "intermediate_size": 20, "num_hidden_layers": 2, "num_attention_heads": 4,
	  "num_key_value_heads": 2, "max_position_embeddings": 32, "rms_norm_eps": 1e-5,
	  "attention_bias": true, "tie_word_embeddings": true, "sliding_window": 3}`,
}

// TestGradModel checks the gradient of the whole model w.r.t. every parameter, with a
// mask that weighs rows unevenly, leaves some out, and a row without a target.
func TestGradModel(t *testing.T) {
	for name, js := range gradTestConfigs {
		t.Run(name, func(t *testing.T) {
			c := parseConfig(t, js)
			const B, T = 2, 5
			m := newWithWeights[float64](t, c, testWeights(c, 11), B, T)
			rng := rand.New(rand.NewPCG(8, 8))
			inputs, targets := randomTokens(rng, B*T, c.VocabSize), randomTokens(rng, B*T, c.VocabSize)
			targets[3] = -1
			mask := []float64{1, 1, 0, 1, 0.5, 1, 1, 1, 2, 0}
			J := func() float64 {
				loss, err := m.Forward(inputs, targets, mask)
				if err != nil {
					t.Fatal(err)
				}
				return loss
			}
			J()
			m.ZeroGrad()
			m.Backward()
			analytic := append([]float64(nil), m.Grads...)
			numeric := numericGrad(m.Params, J)
			for _, tn := range m.Tensors() {
				s := tn.Offset
				checkGrad(t, tn.Name, analytic[s:s+tn.Len()], numeric[s:s+tn.Len()])
			}
			checkGrad(t, "all parameters", analytic, numeric)
		})
	}
}

// TestGradModelInputs checks InputGrad, the gradient w.r.t. the embedded inputs, through
// the embedding gradient of inputs that are all different tokens.
func TestGradModelInputs(t *testing.T) {
	c := parseConfig(t, gradTestConfigs["qwen2-tiny"])
	const B, T = 2, 5
	m := newWithWeights[float64](t, c, testWeights(c, 12), B, T)
	inputs := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	targets := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if _, err := m.Forward(inputs, targets, nil); err != nil {
		t.Fatal(err)
	}
	m.ZeroGrad()
	m.Backward()
	D := c.Dim
	// With distinct tokens and tied=false, row tok of dwte is exactly the input gradient.
	got := append([]float64(nil), m.InputGrad()...)
	want := make([]float64, len(got))
	for n, tok := range inputs {
		copy(want[n*D:n*D+D], m.Grads[tok*D:tok*D+D])
	}
	checkGrad(t, "input gradient", got, want)
}

// TestGradFloat32 holds the float32 training path — the one that trains, with the vector
// kernels when built with GOEXPERIMENT=simd — to the float64 path the finite differences
// checked: loss and every gradient, on a model with T and the widths off the vector
// multiples.
func TestGradFloat32(t *testing.T) {
	c := parseConfig(t, `{"architectures": ["Qwen2ForCausalLM"], "vocab_size": 53, "hidden_size": 40,
	  "intermediate_size": 44, "num_hidden_layers": 2, "num_attention_heads": 4,
	  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-6}`)
	const B, T = 3, 21
	w := testWeights(c, 21)
	m32, m64 := newWithWeights[float32](t, c, w, B, T), newWithWeights[float64](t, c, w, B, T)
	rng := rand.New(rand.NewPCG(9, 9))
	inputs, targets := randomTokens(rng, B*T, c.VocabSize), randomTokens(rng, B*T, c.VocabSize)
	mask := make([]float64, B*T)
	for i := range mask {
		mask[i] = float64(rng.IntN(3))
	}
	l32, err := m32.Forward(inputs, targets, narrow(mask))
	if err != nil {
		t.Fatal(err)
	}
	l64, err := m64.Forward(inputs, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l32-l64) > 1e-5*math.Abs(l64) {
		t.Errorf("loss %v in float32, %v in float64", l32, l64)
	}
	m32.ZeroGrad()
	m32.Backward()
	m64.ZeroGrad()
	m64.Backward()
	worst := 0.0
	for _, tn := range m64.Tensors() {
		s, n := tn.Offset, tn.Len()
		e := relErr(widen(m32.Grads[s:s+n]), m64.Grads[s:s+n])
		worst = max(worst, e)
		if e > 1e-4 {
			t.Errorf("%s: float32 gradient off the float64 one by %.3g", tn.Name, e)
		}
	}
	t.Logf("vector kernels %v: loss %.7f vs %.7f, worst gradient error %.2e", haveVector, l32, l64, worst)
}
