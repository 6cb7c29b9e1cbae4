package train

import (
	"fmt"
	"math"
)

// attentionForward writes out[N,Q], causal softmax attention of every query head, and
// att[B,H,T,T], its weights (row t of a head holds positions 0…t and zeros after), from
// qkv[N,QKV] after rope (row layout q[H,Dh] | k[Hkv,Dh] | v[Hkv,Dh]). Query head h
// reads key/value head h/(H/Hkv) (grouped-query attention); window > 0 limits a row to
// the last window positions (sliding-window attention). Scores are q·k/√Dh; the
// softmax is summed in float64, as model.KVCache.Attention does.
//
// It runs on all workers, one (sequence, head) pair at a time, as two small matrix
// products per pair on the gemm kernel — scores = q·kᵀ [T,T] (all of it: the masked
// half is computed and dropped), then att·v [T,Dh] — over the head's rows gathered into
// scratch[B*H, attnForwardScratch(T, Dh)].
func (k *kernels[E]) attentionForward(out, att, qkv, scratch []E, B, T, H, Hkv, Dh, window int) {
	N, Q, QKV := B*T, H*Dh, (H+2*Hkv)*Dh
	if H%Hkv != 0 || len(out) < N*Q || len(att) < B*H*T*T || len(qkv) < N*QKV || len(scratch) < B*H*attnForwardScratch(T, Dh) {
		panic(fmt.Sprintf("train: attentionForward: out[%d] att[%d] qkv[%d] scratch[%d] do not fit B=%d T=%d H=%d Hkv=%d Dh=%d",
			len(out), len(att), len(qkv), len(scratch), B, T, H, Hkv, Dh))
	}
	a := &k.attTask
	*a = attentionTask[E]{out: out, att: att, qkv: qkv, scratch: scratch, simd: k.simd, ext: k.ext,
		B: B, T: T, H: H, Hkv: Hkv, Dh: Dh, window: window}
	k.pool.For(B*H, 2*T*T*Dh, forwardOf(a))
	*a = attentionTask[E]{}
}

// attentionBackward writes dqkv[N,QKV] (dq, dk, dv, the keys' and values' summed over
// the query heads of their group), the gradient of attentionForward given dout[N,Q],
// from its qkv[N,QKV] and att[B,H,T,T]. It runs on all workers, one (sequence,
// key/value head) pair at a time, so that no two write the same dk or dv, with
// scratch[B*Hkv, attnBackwardScratch(T, Dh)]; per query head of the group, four small
// matrix products: datt = dout·vᵀ, dv += attᵀ·dout, dq = dscore·k, dk += dscoreᵀ·q.
func (k *kernels[E]) attentionBackward(dqkv, dout, qkv, att, scratch []E, B, T, H, Hkv, Dh, window int) {
	N, Q, QKV := B*T, H*Dh, (H+2*Hkv)*Dh
	if H%Hkv != 0 || len(dqkv) < N*QKV || len(dout) < N*Q || len(att) < B*H*T*T || len(qkv) < N*QKV || len(scratch) < B*Hkv*attnBackwardScratch(T, Dh) {
		panic(fmt.Sprintf("train: attentionBackward: dqkv[%d] dout[%d] qkv[%d] att[%d] scratch[%d] do not fit B=%d T=%d H=%d Hkv=%d Dh=%d",
			len(dqkv), len(dout), len(qkv), len(att), len(scratch), B, T, H, Hkv, Dh))
	}
	clear(dqkv[:N*QKV])
	a := &k.attTask
	*a = attentionTask[E]{out: dqkv, dout: dout, att: att, qkv: qkv, scratch: scratch, simd: k.simd, ext: k.ext,
		B: B, T: T, H: H, Hkv: Hkv, Dh: Dh, window: window}
	k.pool.For(B*Hkv, 8*(H/Hkv)*T*T*Dh, backwardOf(a))
	*a = attentionTask[E]{}
}

// attnForwardScratch is the scratch of one (sequence, head) of attentionForward:
// q [T,Dh], kᵀ [Dh,T], v [T,Dh], out [T,Dh].
func attnForwardScratch(T, Dh int) int { return 4 * T * Dh }

// attnBackwardScratch is the scratch of one (sequence, key/value head) of
// attentionBackward: k, vᵀ, q, dout, dq, dk, dv [T,Dh] each, and datt [T,T].
func attnBackwardScratch(T, Dh int) int { return 7*T*Dh + T*T }

// attentionTask is one attention call; out is dqkv in the backward.
type attentionTask[E Float] struct {
	out, dout, att, qkv, scratch []E
	simd                         bool
	ext                          *extMatMul // Options.MatMul, or nil
	B, T, H, Hkv, Dh, window     int
}

// forwardOf and backwardOf give the two passes of a task as rangers, without allocating.
type attForward[E Float] attentionTask[E]
type attBackward[E Float] attentionTask[E]

func forwardOf[E Float](a *attentionTask[E]) *attForward[E]   { return (*attForward[E])(a) }
func backwardOf[E Float](a *attentionTask[E]) *attBackward[E] { return (*attBackward[E])(a) }

// first returns the first position row t attends to.
func (a *attentionTask[E]) first(t int) int {
	if a.window > 0 {
		return max(0, t-a.window+1)
	}
	return 0
}

// mm adds x[M,K]·y[K,N] (form gemmNN) or x[K,M]ᵀ·y[K,N] (gemmTN) to c[M,N], or with
// add false writes it, on the calling goroutine.
func (a *attentionTask[E]) mm(c, x, y []E, M, N, K int, form gemmForm, add bool) {
	if a.ext != nil {
		a.ext.gemm(f32(c), f32(x), f32(y), M, N, K, form, add)
		return
	}
	gemmRows(c, x, y, 0, M, M, N, K, form, a.simd, add)
}

// softmax replaces x by softmax(scale·x), summed in float64 as model.KVCache.Attention
// does (on the vector path, in float32 lanes, then float64).
func softmax[E Float](x []E, scale E, simd bool) {
	if simd {
		softmaxVector(x, scale)
		return
	}
	maxs := E(math.Inf(-1))
	for i := range x {
		x[i] *= scale
		maxs = max(maxs, x[i])
	}
	var sum float64
	for i, v := range x {
		e := exp(v - maxs)
		x[i] = e
		sum += float64(e)
	}
	inv := E(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// gather copies head rows: dst[T,Dh] row t = src[(b*T+t)*stride+off:][:Dh].
func gather[E Float](dst, src []E, b, T, Dh, stride, off int) {
	for t := range T {
		copy(dst[t*Dh:t*Dh+Dh], src[(b*T+t)*stride+off:][:Dh])
	}
}

// gatherT copies head rows transposed: dst[Dh,T] column t = src[(b*T+t)*stride+off:][:Dh].
func gatherT[E Float](dst, src []E, b, T, Dh, stride, off int) {
	for t := range T {
		for i, v := range src[(b*T+t)*stride+off:][:Dh] {
			dst[i*T+t] = v
		}
	}
}

// scatterAdd adds src[T,Dh] row t to dst[(b*T+t)*stride+off:][:Dh].
func scatterAdd[E Float](dst, src []E, b, T, Dh, stride, off int) {
	for t := range T {
		axpy(dst[(b*T+t)*stride+off:][:Dh], 1, src[t*Dh:t*Dh+Dh])
	}
}

func (f *attForward[E]) run(lo, hi int) {
	a := (*attentionTask[E])(f)
	T, H, Dh := a.T, a.H, a.Dh
	Q, KV := H*Dh, a.Hkv*Dh
	QKV := Q + 2*KV
	scale := E(1 / math.Sqrt(float64(Dh)))
	TD := T * Dh
	for bh := lo; bh < hi; bh++ {
		b, h := bh/H, bh%H
		kvh := h / (H / a.Hkv)
		s := a.scratch[bh*attnForwardScratch(T, Dh):]
		q, kT, v, o := s[:TD], s[TD:2*TD], s[2*TD:3*TD], s[3*TD:4*TD]
		gather(q, a.qkv, b, T, Dh, QKV, h*Dh)
		gatherT(kT, a.qkv, b, T, Dh, QKV, Q+kvh*Dh)
		gather(v, a.qkv, b, T, Dh, QKV, Q+KV+kvh*Dh)
		att := a.att[bh*T*T:][:T*T]
		a.mm(att, q, kT, T, T, Dh, gemmNN, false) // scores, before scaling
		for t := range T {
			row := att[t*T : t*T+T]
			start := a.first(t)
			softmax(row[start:t+1], scale, a.simd)
			clear(row[:start])
			clear(row[t+1:])
		}
		a.mm(o, att, v, T, Dh, T, gemmNN, false)
		for t := range T {
			copy(a.out[(b*T+t)*Q+h*Dh:][:Dh], o[t*Dh:t*Dh+Dh])
		}
	}
}

func (g *attBackward[E]) run(lo, hi int) {
	a := (*attentionTask[E])(g)
	T, H, Hkv, Dh := a.T, a.H, a.Hkv, a.Dh
	Q, KV := H*Dh, Hkv*Dh
	QKV := Q + 2*KV
	group := H / Hkv
	scale := E(1 / math.Sqrt(float64(Dh)))
	TD, TT := T*Dh, T*T
	dqkv := a.out
	for bk := lo; bk < hi; bk++ {
		b, kvh := bk/Hkv, bk%Hkv
		s := a.scratch[bk*attnBackwardScratch(T, Dh):]
		k, vT, q, dy, dq, dk, dv := s[:TD], s[TD:2*TD], s[2*TD:3*TD], s[3*TD:4*TD], s[4*TD:5*TD], s[5*TD:6*TD], s[6*TD:7*TD]
		datt := s[7*TD : 7*TD+TT]
		kOff, vOff := Q+kvh*Dh, Q+KV+kvh*Dh
		gather(k, a.qkv, b, T, Dh, QKV, kOff)
		gatherT(vT, a.qkv, b, T, Dh, QKV, vOff)
		clear(dk)
		clear(dv)
		for h := kvh * group; h < (kvh+1)*group; h++ {
			att := a.att[(b*H+h)*TT:][:TT]
			gather(q, a.qkv, b, T, Dh, QKV, h*Dh)
			gather(dy, a.dout, b, T, Dh, Q, h*Dh)
			// through out = att·v: datt = dy·vᵀ, dv += attᵀ·dy
			a.mm(datt, dy, vT, T, T, Dh, gemmNN, false)
			a.mm(dv, att, dy, T, Dh, T, gemmTN, true)
			// through the softmax, then the scaling of the scores:
			// dscore = att·(datt − Σ att·datt)/√Dh
			for t := range T {
				row, drow := att[t*T:t*T+T], datt[t*T:t*T+T]
				start := a.first(t)
				var sum float64
				for t2 := start; t2 <= t; t2++ {
					sum += float64(row[t2] * drow[t2])
				}
				sm := E(sum)
				for t2 := start; t2 <= t; t2++ {
					drow[t2] = row[t2] * (drow[t2] - sm) * scale
				}
				clear(drow[:start])
				clear(drow[t+1:])
			}
			// through scores = q·kᵀ: dq = dscore·k, dk += dscoreᵀ·q
			a.mm(dq, datt, k, T, Dh, T, gemmNN, false)
			scatterAdd(dqkv, dq, b, T, Dh, QKV, h*Dh)
			a.mm(dk, datt, q, T, Dh, T, gemmTN, true)
		}
		scatterAdd(dqkv, dk, b, T, Dh, QKV, kOff)
		scatterAdd(dqkv, dv, b, T, Dh, QKV, vOff)
	}
}
