package shaders

import (
	"fmt"
	"math"
)

var (
	kKVStore   = &kernelDef{files: []string{"common.wgsl", "attention.wgsl"}, entry: "kv_store", binds: "rrrrww"}
	kAttention = &kernelDef{files: []string{"common.wgsl", "attention.wgsl"}, entry: "attention", binds: "rr----rrrw"}
)

// attentionWG is the attention kernel's workgroup size (its WG override).
const attentionWG = 64

// KVCache is the shape of one layer's cache: kc, vc f32 [Seqs, S, Hkv·Dh].
type KVCache struct {
	Seqs, S, Hkv, Dh int
}

// StoreKV records the rows k, v [T, Hkv·Dh] into the caches kc, vc [Seqs, S, Hkv·Dh]
// at (seq[t], pos[t]) (both u32 [T]); rows outside the cache are skipped.
func (b *Batch) StoreKV(kc, vc, k, v, pos, seq *Buffer, c KVCache, T int) {
	kvd := c.Hkv * c.Dh
	checkF32("StoreKV", "kc", kc, c.Seqs*c.S*kvd)
	checkF32("StoreKV", "vc", vc, c.Seqs*c.S*kvd)
	checkF32("StoreKV", "k", k, T*kvd)
	checkF32("StoreKV", "v", v, T*kvd)
	checkF32("StoreKV", "pos", pos, T)
	checkF32("StoreKV", "seq", seq, T)
	gx, gy := b.grid1(ceilDiv(T*kvd, attentionWG))
	b.dispatch(kKVStore, nil, c.params(T, 0, 0), []*Buffer{pos, seq, k, v, kc, vc}, gx, gy, 1)
}

// Attention records out[T, H·Dh]: for each row t and query head h, softmax-weighted
// values of the cached positions [max(0, pos−window+1), pos] of sequence seq[t], with
// kv head h/(H/Hkv) and scores q·k/sqrt(Dh) (model.KVCache.Attention). window 0 means
// no sliding window. Rows outside the cache get zeros.
func (b *Batch) Attention(out, q, kc, vc, pos, seq *Buffer, c KVCache, T, H, window int) {
	kvd := c.Hkv * c.Dh
	if c.Hkv <= 0 || H%c.Hkv != 0 || c.Dh > 256 || c.Dh > 4*attentionWG {
		panic(fmt.Sprintf("shaders: Attention: H=%d Hkv=%d Dh=%d (need H a multiple of Hkv, Dh ≤ 256)", H, c.Hkv, c.Dh))
	}
	checkF32("Attention", "out", out, T*H*c.Dh)
	checkF32("Attention", "q", q, T*H*c.Dh)
	checkF32("Attention", "kc", kc, c.Seqs*c.S*kvd)
	checkF32("Attention", "vc", vc, c.Seqs*c.S*kvd)
	checkF32("Attention", "pos", pos, T)
	checkF32("Attention", "seq", seq, T)
	b.dispatch(kAttention, nil, c.params(T, H, window), []*Buffer{pos, seq, q, kc, vc, out}, H, T, 1)
}

func (c KVCache) params(T, H, window int) []uint32 {
	scale := float32(1 / math.Sqrt(float64(c.Dh)))
	return []uint32{uint32(T), uint32(H), uint32(c.Hkv), uint32(c.Dh), uint32(c.S), uint32(c.Seqs),
		uint32(window), math.Float32bits(scale)}
}
