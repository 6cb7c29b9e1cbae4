package model

import "math"

// KVCache holds keys and values of every layer for MaxSeqs sequences of up to S
// positions: k, v [seqs, layers, S, Hkv*Dh], one allocation each.
type KVCache struct {
	seqs, layers, S, kvDim int
	k, v                   []float32
	len                    []int // [seqs] positions filled
}

// NewKVCache allocates the cache.
func NewKVCache(seqs, layers, S, kvDim int) *KVCache {
	n := seqs * layers * S * kvDim
	return &KVCache{seqs: seqs, layers: layers, S: S, kvDim: kvDim,
		k: make([]float32, n), v: make([]float32, n), len: make([]int, seqs)}
}

// at returns the offset of (seq, layer, pos) in k and v.
func (c *KVCache) at(seq, layer, pos int) int {
	return ((seq*c.layers+layer)*c.S + pos) * c.kvDim
}

// Attention writes, for one query row q[H*Dh] at position pos of sequence seq, the
// attention output out[H*Dh] over cached positions [start, pos] of that sequence, with
// query head h reading key/value head h/(H/Hkv) (grouped-query attention). scores[S] is
// scratch. The dot products, the softmax (Exp32, float32 sums) and the weighted sum of
// values run in k's kernels.
func (c *KVCache) Attention(k Kernels, out, q, scores []float32, seq, layer, pos, start, H, Hkv, Dh int) {
	group := H / Hkv
	scale := float32(1 / math.Sqrt(float64(Dh)))
	base := c.at(seq, layer, start)
	n := pos + 1 - start
	for h := range H {
		kvh := h / group
		qh := q[h*Dh : h*Dh+Dh]
		sc := scores[:n]
		k.Scores(sc, qh, c.k[base+kvh*Dh:], n, c.kvDim, scale)
		k.Softmax(sc)
		k.Mix(out[h*Dh:h*Dh+Dh], sc, c.v[base+kvh*Dh:], n, c.kvDim)
	}
}
