// attnsplit.wgsl — decode attention split over the cached positions (flash-decoding), for
// CPU adapters: no barriers, no workgroup memory, vec4 loads of the cache.
//
// The same result as attention.wgsl's attention (model.KVCache.Attention): for row t,
// query head h, kv head g = h / (H/Hkv), positions [start, pos[t]] of sequence seq[t]
// (start = pos − window + 1 with a sliding window):
//   attn_part   thread (t, h, c) takes chunk c of C (ceil(n/C) positions each) and keeps
//               an online softmax over it: m = max score, l = Σ exp(s − m),
//               acc = Σ exp(s − m)·v; it writes (m, l) and acc to part
//   attn_merge  thread (t, h, 4 dims) merges the C chunks:
//               out = Σ_c exp(m_c − M)·acc_c / Σ_c exp(m_c − M)·l_c,  M = max_c m_c
// Rows whose pos ≥ S or seq ≥ seqs get zeros.
//
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params {T, H, Hkv, Dh, S, seqs, window, scale, C}
//   1 pos u32 [T], 2 seq u32 [T] (read)
//   3 q  vec4<f32> [T, H·Dh/4] (read)                                  attn_part
//   4 kc, 5 vc vec4<f32> [seqs, S, Hkv·Dh/4] (read)                    attn_part
//   6 part vec4<f32> [T, H, C, 1 + Dh/4] (read_write): (m, l, 0, 0), acc   attn_part
//   7 partr: the same (read)                                           attn_merge
//   8 out vec4<f32> [T, H·Dh/4] (read_write)                           attn_merge
// Workgroups: WG threads, one a (h, c) — or a (h, 4 dims) — of row t; grid x covers them,
//   y = T.
// Overrides: WG (default 8: one SIMD batch of llvmpipe), DH (the head dimension, a
//   multiple of 4 ≤ 256: the loops over it unroll, q and acc stay in registers).
// Twin: model.KVCache.Attention (attention_test.go's attentionTwin).

override WG: u32 = 8u;
override DH: u32 = 64u;
const D4: u32 = DH / 4u;
const NEG: f32 = -3.0e38;

struct Params { T: u32, H: u32, Hkv: u32, Dh: u32, S: u32, seqs: u32, window: u32, scale: f32, C: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read> seq: array<u32>;
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> vc: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> part: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> partr: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> out: array<vec4<f32>>;

// span returns the first cached position row t attends to and how many (0 for a row
// outside the cache).
fn span(t: u32) -> vec2<u32> {
    let ps = pos[t];
    if (ps >= p.S || seq[t] >= p.seqs) {
        return vec2<u32>(0u, 0u);
    }
    var start = 0u;
    if (p.window > 0u && ps + 1u > p.window) {
        start = ps + 1u - p.window;
    }
    return vec2<u32>(start, ps + 1u - start);
}

@compute @workgroup_size(WG)
fn attn_part(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    if (gid.x >= p.H * p.C || t >= p.T) {
        return;
    }
    let h = gid.x / p.C;
    let c = gid.x % p.C;
    let sp = span(t);
    let per = (sp.y + p.C - 1u) / p.C;
    let j0 = min(c * per, sp.y);
    let j1 = min(j0 + per, sp.y);
    let kvd4 = p.Hkv * D4;
    let g = h / (p.H / p.Hkv);
    let base = (min(seq[t], p.seqs - 1u) * p.S + sp.x) * kvd4 + g * D4;
    var qv: array<vec4<f32>, D4>;
    let qo = (t * p.H + h) * D4;
    for (var d = 0u; d < D4; d++) {
        qv[d] = q[qo + d] * p.scale;
    }
    var acc: array<vec4<f32>, D4>;
    for (var d = 0u; d < D4; d++) {
        acc[d] = vec4<f32>();
    }
    var m = NEG;
    var l = 0.0;
    for (var j = j0; j < j1; j++) {
        let o = base + j * kvd4;
        var s = 0.0;
        for (var d = 0u; d < D4; d++) {
            s += dot(qv[d], kc[o + d]);
        }
        let mn = max(m, s);
        let alpha = exp(m - mn);
        let e = exp(s - mn);
        l = l * alpha + e;
        for (var d = 0u; d < D4; d++) {
            acc[d] = acc[d] * alpha + e * vc[o + d];
        }
        m = mn;
    }
    let po = ((t * p.H + h) * p.C + c) * (1u + D4);
    part[po] = vec4<f32>(m, l, 0.0, 0.0);
    for (var d = 0u; d < D4; d++) {
        part[po + 1u + d] = acc[d];
    }
}

@compute @workgroup_size(WG)
fn attn_merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    if (gid.x >= p.H * D4 || t >= p.T) {
        return;
    }
    let h = gid.x / D4;
    let d = gid.x % D4;
    let p0 = (t * p.H + h) * p.C * (1u + D4);
    var mx = NEG;
    for (var c = 0u; c < p.C; c++) {
        mx = max(mx, partr[p0 + c * (1u + D4)].x);
    }
    var l = 0.0;
    var a = vec4<f32>();
    for (var c = 0u; c < p.C; c++) {
        let o = p0 + c * (1u + D4);
        let ml = partr[o];
        let f = exp(ml.x - mx);
        l += f * ml.y;
        a += f * partr[o + 1u + d];
    }
    var inv = 0.0;
    if (l > 0.0) {
        inv = 1.0 / l;
    }
    out[(t * p.H + h) * D4 + d] = a * inv;
}
