// attention.wgsl — the KV cache of one layer and causal grouped-query attention over it,
// for prefill (T > 1) and decode (T = 1) alike: every row attends to the cached
// positions [start, pos[t]] of its own sequence, so rows are stored first (kv_store),
// then attend (attention).
//
// Cache layout per layer: kc, vc f32 [seqs, S, Hkv·Dh] (one sequence: [S, Hkv·Dh]).
//
// kv_store:   kc[seq[t], pos[t], :] = k[t, :];  vc[seq[t], pos[t], :] = v[t, :]
// attention:  for query head h, kv head g = h / (H/Hkv), start = max(0, pos−window+1)
//             (0 without a window), s_j = q[t,h,:]·kc[seq,j,g,:] · scale for j in
//             [start, pos], out[t,h,:] = Σ_j softmax(s)_j · vc[seq,j,g,:]
//
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params {T, H, Hkv, Dh, S, seqs, window, scale}
//   1 pos u32 [T] (read); 2 seq u32 [T] (read); rows with pos ≥ S or seq ≥ seqs are
//     skipped (attention writes zeros for them)
//   3 k  f32 [T, Hkv·Dh] (read)      kv_store
//   4 v  f32 [T, Hkv·Dh] (read)      kv_store
//   5 kc f32 [seqs, S, Hkv·Dh]       kv_store: read_write
//   6 vc f32 [seqs, S, Hkv·Dh]       kv_store: read_write
//   7 q  f32 [T, H·Dh] (read)        attention
//   8 kcr, 9 vcr: the caches         attention: read
//   10 out f32 [T, H·Dh] (write)     attention
// Workgroups: kv_store one thread per (t, element), grid split over x, y;
//   attention one workgroup of WG threads per (h, t) (grid x = H, y = T). Keys are
//   taken WG at a time (one per thread: its dot product with q), softmax is online
//   (running max and sum, rescaled per tile), each thread accumulates Dh/WG output
//   elements; Dh ≤ 4·WG and Dh ≤ 256.
// Overrides: WG (power of two, default 64).
// Twin: model.KVCache.Attention.

override WG: u32 = 64u;
const MAX_DH: u32 = 256u;
const NEG: f32 = -3.0e38;

struct Params { T: u32, H: u32, Hkv: u32, Dh: u32, S: u32, seqs: u32, window: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read> seq: array<u32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> kc: array<f32>;
@group(0) @binding(6) var<storage, read_write> vc: array<f32>;
@group(0) @binding(7) var<storage, read> q: array<f32>;
@group(0) @binding(8) var<storage, read> kcr: array<f32>;
@group(0) @binding(9) var<storage, read> vcr: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn kv_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let kvd = p.Hkv * p.Dh;
    let g = flat_group(wid, nwg) * WG + li;
    if (g >= p.T * kvd) {
        return;
    }
    let t = g / kvd;
    let e = g % kvd;
    let ps = pos[t];
    let sq = seq[t];
    if (ps >= p.S || sq >= p.seqs) {
        return;
    }
    let o = (sq * p.S + ps) * kvd + e;
    kc[o] = k[g];
    vc[o] = v[g];
}

var<workgroup> qs: array<f32, MAX_DH>;
var<workgroup> sc: array<f32, WG>;

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.x;
    let t = wid.y;
    let kvd = p.Hkv * p.Dh;
    let ps = pos[t];
    let sq = seq[t];
    let valid = ps < p.S && sq < p.seqs;
    var start = 0u;
    if (p.window > 0u && ps + 1u > p.window) {
        start = ps + 1u - p.window;
    }
    var n = 0u;
    if (valid) {
        n = ps + 1u - start;
    }
    let g = h / (p.H / p.Hkv);
    let base = (min(sq, p.seqs - 1u) * p.S + start) * kvd + g * p.Dh;
    let qo = (t * p.H + h) * p.Dh;
    for (var d = li; d < p.Dh; d += WG) {
        qs[d] = q[qo + d];
    }
    workgroupBarrier();

    var m = NEG;     // running max of the scores
    var l = 0.0;     // running sum of exp(s − m)
    var acc = array<f32, 4>();
    for (var j0 = 0u; j0 < n; j0 += WG) {
        let j = j0 + li;
        var s = NEG;
        if (j < n) {
            let ko = base + j * kvd;
            var dot = 0.0;
            for (var d = 0u; d < p.Dh; d++) {
                dot += qs[d] * kcr[ko + d];
            }
            s = dot * p.scale;
        }
        sc[li] = s;
        workgroupBarrier();
        let cnt = min(WG, n - j0);
        var mt = m;
        for (var i = 0u; i < cnt; i++) {
            mt = max(mt, sc[i]);
        }
        workgroupBarrier();
        var e = 0.0;
        if (j < n) {
            e = exp(s - mt);
        }
        sc[li] = e;
        workgroupBarrier();
        let alpha = exp(m - mt);
        var sum = 0.0;
        for (var i = 0u; i < cnt; i++) {
            sum += sc[i];
        }
        l = l * alpha + sum;
        for (var c = 0u; c < 4u; c++) {
            let d = li + c * WG;
            if (d < p.Dh) {
                var a = acc[c] * alpha;
                var vo = base + j0 * kvd + d;
                for (var i = 0u; i < cnt; i++) {
                    a += sc[i] * vcr[vo];
                    vo += kvd;
                }
                acc[c] = a;
            }
        }
        m = mt;
        workgroupBarrier();
    }
    if (t >= p.T) {
        return;
    }
    var inv = 0.0;
    if (l > 0.0) {
        inv = 1.0 / l;
    }
    for (var c = 0u; c < 4u; c++) {
        let d = li + c * WG;
        if (d < p.Dh) {
            out[qo + d] = acc[c] * inv;
        }
    }
}
