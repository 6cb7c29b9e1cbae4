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

var (
	attnSplitFiles = []string{"common.wgsl", "attnsplit.wgsl"}
	kAttnPart      = &kernelDef{files: attnSplitFiles, entry: "attn_part", binds: "rrrrrw--"}
	kAttnMerge     = &kernelDef{files: attnSplitFiles, entry: "attn_merge", binds: "rr----rw"}
)

// attnSplitWG is the split attention kernels' workgroup size (their WG override).
const attnSplitWG = 8

// AttentionSplitParts is the f32 scratch AttentionSplit needs for T rows of H heads in C
// chunks: T·H·C·(4 + Dh) values.
func AttentionSplitParts(T, H, Dh, C int) int { return T * H * C * (4 + Dh) }

// AttentionSplit records Attention in two dispatches without barriers — every query
// head's cached positions in C chunks, each chunk's online softmax by one thread
// (attn_part), then the chunks merged (attn_merge) — for CPU adapters, where a
// workgroup barrier costs tens of µs. part is scratch of AttentionSplitParts(T, H, Dh, C)
// values. Dh must be a multiple of 4.
func (b *Batch) AttentionSplit(out, q, kc, vc, pos, seq, part *Buffer, c KVCache, T, H, window, C int) {
	kvd := c.Hkv * c.Dh
	if c.Hkv <= 0 || H%c.Hkv != 0 || c.Dh%4 != 0 || c.Dh > 256 || C <= 0 {
		panic(fmt.Sprintf("shaders: AttentionSplit: H=%d Hkv=%d Dh=%d C=%d (need H a multiple of Hkv, Dh a multiple of 4 ≤ 256)", H, c.Hkv, c.Dh, C))
	}
	checkF32("AttentionSplit", "out", out, T*H*c.Dh)
	checkF32("AttentionSplit", "q", q, T*H*c.Dh)
	checkF32("AttentionSplit", "kc", kc, c.Seqs*c.S*kvd)
	checkF32("AttentionSplit", "vc", vc, c.Seqs*c.S*kvd)
	checkF32("AttentionSplit", "pos", pos, T)
	checkF32("AttentionSplit", "seq", seq, T)
	checkF32("AttentionSplit", "part", part, AttentionSplitParts(T, H, c.Dh, C))
	params := append(c.params(T, H, window), uint32(C))
	o := overrides{"DH": float64(c.Dh)}
	b.dispatch(kAttnPart, o, params, []*Buffer{pos, seq, q, kc, vc, part}, ceilDiv(H*C, attnSplitWG), T, 1)
	b.dispatch(kAttnMerge, o, params, []*Buffer{pos, seq, part, out}, ceilDiv(H*c.Dh/4, attnSplitWG), T, 1)
}
