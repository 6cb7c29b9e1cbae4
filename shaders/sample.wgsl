// sample.wgsl — the next token from rows of logits, on the device.
//
//   argmax:  out[r] = the index of the largest logits[r, i], the lowest among ties.
//   sample:  out[r] = the token drawn with the uniform number u[r] in [0, 1) from
//            softmax(logits[r]/temperature) restricted as Hugging Face's generate
//            does (and model.Sampler): candidates sorted by logit, descending, ties
//            by id ascending; keep the first top_k (0: all); keep the smallest prefix
//            whose probability reaches top_p (0 or ≥ 1: all); then the first token
//            whose cumulative weight exceeds u·(total weight kept).
//
// No sort: every "first token in sorted order whose prefix count/weight reaches a
// target" is found by bisection on an order-preserving key — 32 passes over the row for
// the logit's bits, then ⌈log2 V⌉ passes for the id among equal logits. A pass counts and
// sums the row's tokens at or before a threshold, reduced in workgroup memory. All
// control flow around barriers depends on uniforms only. A draw is up to ~155 passes,
// so each pass takes UNROLL strides per loop iteration: lavapipe caps an invocation at
// 65535 loop iterations over all its loops, which holds V up to about 750 000 there.
//
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params {rows, V, top_k, top_p, inv_temp, nbits = bit length of V}
//   1 logits f32 [rows, V] (read)
//   2 out    u32 [rows] (write)
//   3 u      f32 [rows] (read)                       sample
//   4 wts    f32 [rows, V] (read_write): scratch      sample
// Workgroup: WG threads per row (grid split over x, y), each striding over V.
// Overrides: WG (power of two, default 256).
// Twins: model.Argmax; model.Sampler.Sample with its random draw replaced by u.

override WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
const UNROLL: u32 = 8u; // strides of a stats pass per loop iteration (see stats)

struct Params { rows: u32, V: u32, top_k: u32, top_p: f32, inv_temp: f32, nbits: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read_write> wts: array<f32>;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

@compute @workgroup_size(WG)
fn argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let row = flat_group(wid, nwg);
    let base = min(row, p.rows - 1u) * p.V;
    var bv = 0.0;
    var bi = NONE;
    for (var i = li; i < p.V; i += WG) {
        let v = logits[base + i];
        if (bi == NONE || v > bv) {
            bv = v;
            bi = i;
        }
    }
    red_f[li] = bv;
    red_u[li] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            let v = red_f[li + s];
            let i = red_u[li + s];
            if (i != NONE && (bi == NONE || v > bv || (v == bv && i < bi))) {
                bv = v;
                bi = i;
                red_f[li] = v;
                red_u[li] = i;
            }
        }
        workgroupBarrier();
    }
    if (li == 0u && row < p.rows) {
        out[row] = red_u[0];
    }
}

// key maps a logit to a u32 whose order is the float's.
fn key(l: f32) -> u32 {
    let b = bitcast<u32>(l);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// at_or_before: token (k, i) comes no later than the token (tk, ti) in sorted order.
fn at_or_before(k: u32, i: u32, tk: u32, ti: u32) -> bool {
    return k > tk || (k == tk && i <= ti);
}

struct Stats { count: u32, mass: f32 }

// tally is token i's share of stats: (1, its weight) if it is in the row (i < V) and at
// or before both (tk, ti) and (lk, lim), else (0, 0).
fn tally(base: u32, i: u32, tk: u32, ti: u32, lk: u32, lim: u32) -> Stats {
    var r = Stats(0u, 0.0);
    if (i < p.V) {
        let k = key(logits[base + i]);
        if (at_or_before(k, i, tk, ti) && at_or_before(k, i, lk, lim)) {
            r = Stats(1u, wts[base + i]);
        }
    }
    return r;
}

// stats counts and weighs the tokens of the row at or before (tk, ti) and (lk, lim).
// Called by the whole workgroup (barriers).
fn stats(base: u32, li: u32, tk: u32, ti: u32, lk: u32, lim: u32) -> Stats {
    var c = 0u;
    var m = 0.0;
    // UNROLL strides per iteration, written out: lavapipe (llvmpipe) breaks out of every
    // loop once an invocation has run 65535 loop iterations in all, over all its loops
    // (LP_MAX_TGSI_LOOP_ITERATIONS), and a draw runs up to ~155 passes; one stride per
    // iteration went over it from V ≈ 128k (every pass after it counting nothing).
    // Same tokens in the same order as one stride per iteration, so the same sums.
    for (var i = li; i < p.V; i += UNROLL * WG) {
        let s0 = tally(base, i, tk, ti, lk, lim);
        let s1 = tally(base, i + WG, tk, ti, lk, lim);
        let s2 = tally(base, i + 2u * WG, tk, ti, lk, lim);
        let s3 = tally(base, i + 3u * WG, tk, ti, lk, lim);
        let s4 = tally(base, i + 4u * WG, tk, ti, lk, lim);
        let s5 = tally(base, i + 5u * WG, tk, ti, lk, lim);
        let s6 = tally(base, i + 6u * WG, tk, ti, lk, lim);
        let s7 = tally(base, i + 7u * WG, tk, ti, lk, lim);
        c += s0.count + s1.count + s2.count + s3.count + s4.count + s5.count + s6.count + s7.count;
        m += s0.mass;
        m += s1.mass;
        m += s2.mass;
        m += s3.mass;
        m += s4.mass;
        m += s5.mass;
        m += s6.mass;
        m += s7.mass;
    }
    red_u[li] = c;
    red_f[li] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            red_u[li] += red_u[li + s];
            red_f[li] += red_f[li + s];
        }
        workgroupBarrier();
    }
    let r = Stats(red_u[0], red_f[0]);
    workgroupBarrier();
    return r;
}

// reached: kind 0 count ≥ goal, 1 mass ≥ goal, 2 mass > goal.
fn reached(kind: u32, s: Stats, goal: f32) -> bool {
    switch kind {
        case 0u: { return f32(s.count) >= goal; }
        case 1u: { return s.mass >= goal; }
        default: { return s.mass > goal; }
    }
}

// first returns (key, id) of the first token in sorted order, among those at or before
// (lk, lim), whose prefix has reached the goal; the caller makes sure the whole set
// reaches it.
fn first(base: u32, li: u32, kind: u32, goal: f32, lk: u32, lim: u32) -> vec2<u32> {
    var tk = 0u;
    for (var bit = 0u; bit < 32u; bit++) {
        let cand = tk | (0x80000000u >> bit);
        if (reached(kind, stats(base, li, cand, NONE, lk, lim), goal)) {
            tk = cand;
        }
    }
    var x = 0u; // the smallest id whose prefix reaches the goal, among ids of key tk
    for (var bit = 0u; bit < p.nbits; bit++) {
        let cand = x | (1u << (p.nbits - 1u - bit));
        let s = stats(base, li, tk, cand - 1u, lk, lim);
        if (cand <= p.V && !reached(kind, s, goal)) {
            x = cand;
        }
    }
    return vec2<u32>(tk, x);
}

@compute @workgroup_size(WG)
fn sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let row = flat_group(wid, nwg);
    let rc = min(row, p.rows - 1u);
    let base = rc * p.V;
    // Weights exp((l − max)/T), kept in wts for the passes.
    var mx = -3.0e38;
    for (var i = li; i < p.V; i += WG) {
        mx = max(mx, logits[base + i]);
    }
    red_f[li] = mx;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            red_f[li] = max(red_f[li], red_f[li + s]);
        }
        workgroupBarrier();
    }
    let top = red_f[0];
    workgroupBarrier();
    for (var i = li; i < p.V; i += WG) {
        wts[base + i] = exp((logits[base + i] - top) * p.inv_temp);
    }
    storageBarrier();
    workgroupBarrier();

    var lk = 0u; // the kept set: tokens at or before (lk, lim); all of them at first
    var lim = NONE;
    if (p.top_k > 0u && p.top_k < p.V) {
        let t = first(base, li, 0u, f32(p.top_k), lk, lim);
        lk = t.x;
        lim = t.y;
    }
    if (p.top_p > 0.0 && p.top_p < 1.0) {
        let sa = stats(base, li, lk, lim, lk, lim).mass;
        let t = first(base, li, 1u, p.top_p * sa, lk, lim);
        lk = t.x;
        lim = t.y;
    }
    let sb = stats(base, li, lk, lim, lk, lim).mass;
    // r < sb strictly, so some prefix exceeds it (sb is summed the same way every pass).
    let r = min(u[rc] * sb, bitcast<f32>(bitcast<u32>(sb) - 1u));
    let t = first(base, li, 2u, r, lk, lim);
    if (li == 0u && row < p.rows) {
        out[row] = t.y;
    }
}
