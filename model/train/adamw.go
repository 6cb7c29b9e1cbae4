package train

import (
	"fmt"
	"math"
	"runtime"
	"sort"
)

// AdamWConfig holds AdamW's hyperparameters (Loshchilov & Hutter, "Decoupled Weight
// Decay Regularization"); checkpoints store it as JSON.
type AdamWConfig struct {
	LR          float64 `json:"lr"`           // learning rate; a schedule sets it before each Update
	Beta1       float64 `json:"beta1"`        // decay of the first moment
	Beta2       float64 `json:"beta2"`        // decay of the second moment
	Eps         float64 `json:"eps"`          // added to √v̂
	WeightDecay float64 `json:"weight_decay"` // decoupled: p −= lr·wd·p
	Clip        float64 `json:"clip"`         // global gradient-norm clip; 0: none
}

// DefaultAdamW is a common setting for training small language models from scratch.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Clip: 1}
}

// AdamW is the optimiser's state over n parameters. It is deterministic: the same
// gradients give the same parameters bit for bit.
type AdamW struct {
	AdamWConfig
	Step  int       // updates done
	M, V  []float32 // [n] first and second moments
	Decay [][2]int  // sorted, disjoint [start, end) ranges that weight decay applies to (Model.MatrixSpans); nil: all

	pool *pool    // started on the first large Update, stopped when o is collected
	task adamTask // the Update in progress, handed to the pool without allocating
}

// NewAdamW makes the state for n parameters, moments zero.
func NewAdamW(h AdamWConfig, n int) *AdamW {
	mem := make([]float32, 2*n)
	return &AdamW{AdamWConfig: h, M: mem[:n:n], V: mem[n:]}
}

// GradNorm returns the L2 norm of grads, summed in float64 in order.
func GradNorm(grads []float32) float64 {
	var s float64
	for _, g := range grads {
		s += float64(g) * float64(g)
	}
	return math.Sqrt(s)
}

// Update takes one AdamW step: grads are scaled so that their global norm is at most
// Clip, the moments follow them, and params[n] move by
// lr·(m̂/(√v̂+eps) + wd·p), m̂ and v̂ bias-corrected. It returns the gradient norm before
// clipping; grads are left as they are.
func (o *AdamW) Update(params, grads []float32) float64 {
	if len(params) != len(o.M) || len(grads) != len(o.M) {
		panic(fmt.Sprintf("train: AdamW.Update: params[%d] grads[%d], state for %d", len(params), len(grads), len(o.M)))
	}
	norm := GradNorm(grads)
	scale := float32(1)
	if o.Clip > 0 && norm > o.Clip {
		scale = float32(o.Clip / norm)
	}
	at := 0
	for _, s := range o.Decay {
		if s[0] < at || s[1] < s[0] || s[1] > len(params) {
			panic(fmt.Sprintf("train: AdamW.Update: decay ranges %v are not sorted, disjoint ranges within [0, %d)", o.Decay, len(params)))
		}
		at = s[1]
	}
	o.Step++
	if o.pool == nil && len(params) >= adamBlock {
		o.pool = newPool(0)
		runtime.AddCleanup(o, func(p *pool) { p.close() }, o.pool)
	}
	t := &o.task
	*t = adamTask{
		adamStep: adamStep{
			lr: float32(o.LR), b1: float32(o.Beta1), b2: float32(o.Beta2), eps: float32(o.Eps), scale: scale,
			bc1: float32(1 - math.Pow(o.Beta1, float64(o.Step))),
			bc2: float32(1 - math.Pow(o.Beta2, float64(o.Step))),
			wd:  float32(o.WeightDecay),
		},
		params: params, grads: grads, m: o.M, v: o.V, decay: o.Decay,
	}
	blocks := (len(params) + adamBlock - 1) / adamBlock
	if o.pool == nil {
		t.run(0, blocks)
	} else {
		o.pool.For(blocks, 4*adamBlock, t)
	}
	*t = adamTask{}
	return norm
}

// adamBlock is the number of parameters Update hands to a worker at a time.
const adamBlock = 1 << 14

// adamTask is one Update, run over blocks of adamBlock parameters.
type adamTask struct {
	adamStep
	params, grads, m, v []float32
	decay               [][2]int
}

func (t *adamTask) run(lo, hi int) {
	lo, hi = lo*adamBlock, min(hi*adamBlock, len(t.params))
	if t.decay == nil {
		t.update(t.params, t.grads, t.m, t.v, lo, hi, t.wd)
		return
	}
	// the first decay range that ends after lo
	s := sort.Search(len(t.decay), func(i int) bool { return t.decay[i][1] > lo })
	at := lo
	for ; s < len(t.decay) && t.decay[s][0] < hi; s++ {
		start, end := max(t.decay[s][0], at), min(t.decay[s][1], hi)
		t.update(t.params, t.grads, t.m, t.v, at, start, 0)
		t.update(t.params, t.grads, t.m, t.v, start, end, t.wd)
		at = end
	}
	t.update(t.params, t.grads, t.m, t.v, at, hi, 0)
}

// adamStep is the per-step constants of an update.
type adamStep struct{ lr, b1, b2, eps, scale, bc1, bc2, wd float32 }

// update moves params[lo:hi] with weight decay wd.
func (c *adamStep) update(params, grads, m, v []float32, lo, hi int, wd float32) {
	if haveVector {
		lo = adamVector(c, params, grads, m, v, lo, hi, wd)
	}
	for i := lo; i < hi; i++ {
		g := grads[i] * c.scale
		mi := c.b1*m[i] + (1-c.b1)*g
		vi := c.b2*v[i] + (1-c.b2)*g*g
		m[i], v[i] = mi, vi
		mhat, vhat := mi/c.bc1, vi/c.bc2
		params[i] -= c.lr * (mhat/(float32(math.Sqrt(float64(vhat)))+c.eps) + wd*params[i])
	}
}
