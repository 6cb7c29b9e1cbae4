// fused.wgsl — decode's linear layers with what comes before and after them, one dispatch
// each, for T rows of x (T = 1 in the engine: one token of one sequence):
//
//   mv         y[t, y0+u]  (+)= n(x)[t]·w[u]ᵀ + bias[y0+u]            store, or add (ADD: the residual)
//   mv_swiglu  y[t, u]      = silu(g) · v,  g = n(x)[t]·w[u]ᵀ + bias[u],
//                             v = n(x)[t]·w[pair+u]ᵀ + bias[pair+u]     (w = [gate; up] stacked)
//   mv_qkv     a = n(x)[t]·w[r]ᵀ + bias[r], b = the same for r + half, with r = 2·half·hh + i
//              (head hh of the stacked [q; k; v] rows, i < half = Dh/2), then RoPE of (a, b)
//              with (cos, sin) = cs[rope + 2·(pos[t]·half + i)] for q and k heads, none for
//              v heads; q rows go to y [T, H·Dh], k and v rows straight into the KV cache at
//              (seq[t], pos[t]) — what rmsnorm, q/k/v matmuls, rope and kv_store did in five
//
// where n(x)[t] = x[t] · (1/sqrt(mean(x[t]²) + eps)) · cs[norm …] when NORM (RMSNorm in the
// prologue, each workgroup normalising the rows it reads), x[t] itself otherwise, and x's
// row t is x[rowinfo[t]] when GATHER (the lm_head reading only the rows that give logits).
// A unit is one output row (mv) or a pair of rows (swiglu, qkv); each thread of a unit
// computes its NR rows, so the rows of a pair meet in one thread and the epilogue needs
// no exchange. Rows of x run one after the other, each a pass over the weights: the
// kernels are for decode (T = 1); larger batches take the weights-once-per-8-rows
// matvec kernels (matmul.wgsl) — keeping 8 rows in registers here made LLVM take minutes
// to compile a variant on lavapipe.
//
// Weights: Q8 (Q8W; q as vec4<u32> — 16 int8 values a load — and scale f32 [rows, blocks])
// or f32 (vec4<f32> loads), rows 16-byte aligned when VEC (Q8: in % 32 = 0, f32: in % 4 =
// 0), any shape otherwise (element loads: slow, for odd test shapes only).
// A vec4 load is what makes this fast on CPU adapters: llvmpipe loads a divergent address
// lane by lane in a loop, so the loads, not the arithmetic, set the pace — one loop per
// 16 bytes instead of one per 4 bytes (and one scale load per 32 values).
//
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params
//   1 x    f32 [*, n_in] (read)
//   2 w    vec4<u32> (read): Q8 q of the rows, or their f32 bits
//   3 ws   f32 [rows, blocks] (read): Q8 scales (any buffer for f32 weights)
//   4 cs   f32 (read): the engine's constants — norm weights at norm_off, biases at
//          bias_off (when has_bias ≠ 0), RoPE (cos, sin) [S, half, 2] at rope_off
//   5 rowinfo u32 (read): GATHER: the row of x of each t; mv_qkv: (pos, seq) [T, 2]; rows
//          with pos ≥ S or seq ≥ seqs are not stored (nor is their q)
//   6 y    f32 [T, ldy] (read_write)
//   7 kc, 8 vc f32 [seqs, S, Hkv·Dh] (read_write)                 mv_qkv only
// Workgroup: RPW groups of LANES threads, each group taking RT units (lanes stride over
//   the rows' 32-value blocks and meet in workgroup memory; LANES = 1: one thread, no
//   barrier — CPU adapters, where a barrier costs tens of µs); grid split over x, y
//   covers ceil(units/(RPW·RT)).
// Overrides: RPW, LANES (a power of two), Q8W, VEC, NORM, GATHER, ADD, NR (rows a unit:
//   1 mv, 2 the others), RT (units a thread, NR·RT ∈ {1, 2, 4, 8}: x's loads serve
//   them all; ≤ 4 when LANES > 1).
// Twins: model.RMSNorm, model.MatMul, model.SwiGLU, model.Rope.Apply and the cache
//   store of model.KVCache, composed (fused_test.go).

override RPW: u32 = 64u;
override LANES: u32 = 1u;
override Q8W: bool = true;
override VEC: bool = true;
override NORM: bool = false;
override GATHER: bool = false;
override ADD: bool = false;
override NR: u32 = 1u;
override RT: u32 = 1u;
const WG: u32 = RPW * LANES;
const NROWS: u32 = NR * RT; // weight rows a thread computes: 1, 2, 4 or 8

struct Params {
    T: u32, n_in: u32, units: u32, blocks: u32,
    ldy: u32, y0: u32, pair: u32, eps: f32,
    norm_off: u32, bias_off: u32, has_bias: u32, rope_off: u32,
    H: u32, Hkv: u32, half: u32, S: u32,
    seqs: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> ws: array<f32>;
@group(0) @binding(4) var<storage, read> cs: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> rowinfo: array<u32>; // `meta` is reserved in WGSL (Tint refuses it; naga took it)
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> kc: array<f32>;
@group(0) @binding(8) var<storage, read_write> vc: array<f32>;

var<workgroup> red: array<f32, 4u * WG>;

// xat is element k of the row of x at offset xo, times the norm weight of column k when
// NORM (the rms factor is applied to the dot products).
fn xat(xo: u32, k: u32) -> f32 {
    let i = xo + k;
    if (NORM) {
        return x[i >> 2u][i & 3u] * csat(p.norm_off + k);
    }
    return x[i >> 2u][i & 3u];
}

// x4 is xat of k…k+3, for xo and k multiples of 4: one vec4 load (two with NORM).
fn x4(xo: u32, k: u32) -> vec4<f32> {
    if (NORM) {
        return x[(xo + k) >> 2u] * cs[(p.norm_off + k) >> 2u];
    }
    return x[(xo + k) >> 2u];
}

// csat is element i of the constants.
fn csat(i: u32) -> f32 {
    return cs[i >> 2u][i & 3u];
}

// xrow is the offset of row t of x.
fn xrow(t: u32) -> u32 {
    if (GATHER) {
        return rowinfo[t] * p.n_in;
    }
    return t * p.n_in;
}

// welem is element e (flat, row-major) of the weights, without its Q8 scale.
fn welem(e: u32) -> f32 {
    if (Q8W) {
        let word = w[e >> 4u][(e >> 2u) & 3u];
        return f32(bitcast<i32>(word << (24u - 8u * (e & 3u))) >> 24u);
    }
    return bitcast<f32>(w[e >> 2u][e & 3u]);
}

// inv_rms returns 1/sqrt(mean(x²) + eps) of the row of x at xo (1 without NORM). With
// LANES > 1 the workgroup sums together (barriers: call from uniform control flow); with
// LANES = 1 every thread sums alone, reading the same addresses.
fn inv_rms(xo: u32, li: u32) -> f32 {
    if (!NORM) {
        return 1.0;
    }
    var k0 = 0u;
    var stride = 1u;
    if (LANES > 1u) {
        k0 = li;
        stride = WG;
    }
    var ss = 0.0;
    if (VEC) {
        for (var k = 4u * k0; k < p.n_in; k += 4u * stride) {
            let v = x[(xo + k) >> 2u];
            ss += dot(v, v);
        }
    } else {
        for (var k = k0; k < p.n_in; k += stride) {
            let i = xo + k;
            let v = x[i >> 2u][i & 3u];
            ss += v * v;
        }
    }
    if (LANES > 1u) {
        red[li] = ss;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s >>= 1u) {
            if (li < s) {
                red[li] += red[li + s];
            }
            workgroupBarrier();
        }
        ss = red[0];
        workgroupBarrier();
    }
    return 1.0 / sqrt(ss / f32(p.n_in) + p.eps);
}

// qdot is the dot product of Q8 row row's 32-value block b (from value k) with x's
// values there, x0…x7, scale applied.
fn qdot(row: u32, b: u32, k: u32, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>,
        x4_: vec4<f32>, x5: vec4<f32>, x6: vec4<f32>, x7: vec4<f32>) -> f32 {
    let v = (row * p.n_in + k) >> 4u;
    let qa = w[v];
    let qb = w[v + 1u];
    let d = dot(unpack8(qa.x), x0) + dot(unpack8(qa.y), x1) + dot(unpack8(qa.z), x2) + dot(unpack8(qa.w), x3)
          + dot(unpack8(qb.x), x4_) + dot(unpack8(qb.y), x5) + dot(unpack8(qb.z), x6) + dot(unpack8(qb.w), x7);
    return ws[row * p.blocks + b] * d;
}

// fdot is the dot product of f32 row row's 8 values from k with xa, xb.
fn fdot(row: u32, k: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    let v = (row * p.n_in + k) >> 2u;
    return dot(bitcast<vec4<f32>>(w[v]), xa) + dot(bitcast<vec4<f32>>(w[v + 1u]), xb);
}

// edot is row row's value k times xv, scale applied (any shape).
fn edot(row: u32, k: u32, xv: f32) -> f32 {
    var wv = welem(row * p.n_in + k);
    if (Q8W) {
        wv *= ws[row * p.blocks + k / 32u];
    }
    return wv * xv;
}

// Rows are the weight rows a thread computes, Acc their sums: 0…3 in a, 4…7 in b.
struct Rows { a: vec4<u32>, b: vec4<u32> }
struct Acc { a: vec4<f32>, b: vec4<f32> }

fn row_at(r: Rows, i: u32) -> u32 {
    if (i < 4u) {
        return r.a[i];
    }
    return r.b[i - 4u];
}

fn set_row(r: ptr<function, Rows>, i: u32, v: u32) {
    if (i < 4u) {
        (*r).a[i] = v;
    } else {
        (*r).b[i - 4u] = v;
    }
}

fn acc_at(a: Acc, i: u32) -> f32 {
    if (i < 4u) {
        return a.a[i];
    }
    return a.b[i - 4u];
}

// dots returns this lane's share of the dot products of weight rows 0…NROWS−1 of rows
// with the row of x at xo — the whole of them when LANES = 1 — reading x once for all.
fn dots(rows: Rows, xo: u32, lane: u32) -> Acc {
    var acc = Acc();
    if (VEC && Q8W) {
        // 32 values a step: two vec4<u32> of q and one scale per row.
        let nb = p.n_in / 32u;
        for (var b = lane; b < nb; b += LANES) {
            let k = 32u * b;
            let x0 = x4(xo, k);
            let x1 = x4(xo, k + 4u);
            let x2 = x4(xo, k + 8u);
            let x3 = x4(xo, k + 12u);
            let x4_ = x4(xo, k + 16u);
            let x5 = x4(xo, k + 20u);
            let x6 = x4(xo, k + 24u);
            let x7 = x4(xo, k + 28u);
            acc.a.x += qdot(rows.a.x, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
            if (NROWS > 1u) {
                acc.a.y += qdot(rows.a.y, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
            }
            if (NROWS > 2u) {
                acc.a.z += qdot(rows.a.z, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
                acc.a.w += qdot(rows.a.w, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
            }
            if (NROWS > 4u) {
                acc.b.x += qdot(rows.b.x, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
                acc.b.y += qdot(rows.b.y, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
                acc.b.z += qdot(rows.b.z, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
                acc.b.w += qdot(rows.b.w, b, k, x0, x1, x2, x3, x4_, x5, x6, x7);
            }
        }
    } else if (VEC) {
        // f32: 8 values a step, two vec4 loads per row.
        let nb = p.n_in / 8u;
        for (var b = lane; b < nb; b += LANES) {
            let k = 8u * b;
            let xa = x4(xo, k);
            let xb = x4(xo, k + 4u);
            acc.a.x += fdot(rows.a.x, k, xa, xb);
            if (NROWS > 1u) {
                acc.a.y += fdot(rows.a.y, k, xa, xb);
            }
            if (NROWS > 2u) {
                acc.a.z += fdot(rows.a.z, k, xa, xb);
                acc.a.w += fdot(rows.a.w, k, xa, xb);
            }
            if (NROWS > 4u) {
                acc.b.x += fdot(rows.b.x, k, xa, xb);
                acc.b.y += fdot(rows.b.y, k, xa, xb);
                acc.b.z += fdot(rows.b.z, k, xa, xb);
                acc.b.w += fdot(rows.b.w, k, xa, xb);
            }
        }
    } else {
        for (var k = lane; k < p.n_in; k += LANES) {
            let xv = xat(xo, k);
            acc.a.x += edot(rows.a.x, k, xv);
            if (NROWS > 1u) {
                acc.a.y += edot(rows.a.y, k, xv);
            }
            if (NROWS > 2u) {
                acc.a.z += edot(rows.a.z, k, xv);
                acc.a.w += edot(rows.a.w, k, xv);
            }
            if (NROWS > 4u) {
                acc.b.x += edot(rows.b.x, k, xv);
                acc.b.y += edot(rows.b.y, k, xv);
                acc.b.z += edot(rows.b.z, k, xv);
                acc.b.w += edot(rows.b.w, k, xv);
            }
        }
    }
    return acc;
}

// unit_dots returns the dot products of rows with row t of x (its norm, when NORM,
// applied), in every lane: reduced in workgroup memory when LANES > 1 (barriers: call
// from uniform control flow; NROWS ≤ 4 then).
fn unit_dots(rows: Rows, t: u32, li: u32) -> Acc {
    let xo = xrow(t);
    let inv = inv_rms(xo, li);
    let lane = li % LANES;
    var acc = dots(rows, xo, lane);
    if (LANES > 1u) {
        for (var c = 0u; c < 4u; c++) {
            red[c * WG + li] = acc.a[c];
        }
        workgroupBarrier();
        for (var s = LANES / 2u; s > 0u; s >>= 1u) {
            if (lane < s) {
                for (var c = 0u; c < 4u; c++) {
                    red[c * WG + li] += red[c * WG + li + s];
                }
            }
            workgroupBarrier();
        }
        for (var c = 0u; c < 4u; c++) {
            acc.a[c] = red[c * WG + li - lane];
        }
        workgroupBarrier();
    }
    return Acc(acc.a * inv, acc.b * inv);
}

fn bias(r: u32) -> f32 {
    if (p.has_bias != 0u) {
        return csat(p.bias_off + r);
    }
    return 0.0;
}

// unit is unit j (< RT) of thread li, clamped to the last (threads past the end compute
// it again, keeping the barriers uniform, and store nothing), and whether it is one of
// the dispatch's.
fn unit(wid: vec3<u32>, nwg: vec3<u32>, li: u32, j: u32) -> vec2<u32> {
    let u = (flat_group(wid, nwg) * RPW + li / LANES) * RT + j;
    return vec2<u32>(min(u, p.units - 1u), select(0u, 1u, u < p.units));
}

// owner: this thread stores unit uv's results (lane 0 of the unit).
fn owner(uv: vec2<u32>, li: u32) -> bool {
    return uv.y != 0u && li % LANES == 0u;
}

// qkv_row is the first row of mv_qkv's unit u: head u / half, element u % half.
fn qkv_row(u: u32) -> u32 {
    return (u / p.half) * 2u * p.half + u % p.half;
}

@compute @workgroup_size(WG)
fn mv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
      @builtin(local_invocation_index) li: u32) {
    var rows = Rows();
    for (var j = 0u; j < RT; j++) {
        set_row(&rows, j, unit(wid, nwg, li, j).x);
    }
    for (var t = 0u; t < p.T; t++) {
        let acc = unit_dots(rows, t, li);
        for (var j = 0u; j < RT; j++) {
            let uv = unit(wid, nwg, li, j);
            if (owner(uv, li)) {
                let o = t * p.ldy + p.y0 + uv.x;
                var v = acc_at(acc, j) + bias(p.y0 + uv.x);
                if (ADD) {
                    v += y[o];
                }
                y[o] = v;
            }
        }
    }
}

@compute @workgroup_size(WG)
fn mv_swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    var rows = Rows();
    for (var j = 0u; j < RT; j++) {
        let u = unit(wid, nwg, li, j).x;
        set_row(&rows, 2u * j, u);
        set_row(&rows, 2u * j + 1u, p.pair + u);
    }
    for (var t = 0u; t < p.T; t++) {
        let acc = unit_dots(rows, t, li);
        for (var j = 0u; j < RT; j++) {
            let uv = unit(wid, nwg, li, j);
            if (owner(uv, li)) {
                let u = uv.x;
                let g = acc_at(acc, 2u * j) + bias(u);
                let v = acc_at(acc, 2u * j + 1u) + bias(p.pair + u);
                y[t * p.ldy + u] = g / (1.0 + exp(-g)) * v;
            }
        }
    }
}

@compute @workgroup_size(WG)
fn mv_qkv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    var rows = Rows();
    for (var j = 0u; j < RT; j++) {
        let r0 = qkv_row(unit(wid, nwg, li, j).x);
        set_row(&rows, 2u * j, r0);
        set_row(&rows, 2u * j + 1u, r0 + p.half);
    }
    let dh = 2u * p.half;
    let kvd = p.Hkv * dh;
    for (var t = 0u; t < p.T; t++) {
        let acc = unit_dots(rows, t, li);
        let ps = rowinfo[2u * t];
        let sq = rowinfo[2u * t + 1u];
        for (var j = 0u; j < RT; j++) {
            let uv = unit(wid, nwg, li, j);
            if (!owner(uv, li) || ps >= p.S || sq >= p.seqs) {
                continue;
            }
            let hh = uv.x / p.half;
            let i = uv.x % p.half;
            let r0 = hh * dh + i;
            let a = acc_at(acc, 2u * j) + bias(r0);
            let b = acc_at(acc, 2u * j + 1u) + bias(r0 + p.half);
            if (hh >= p.H + p.Hkv) {
                let o = (sq * p.S + ps) * kvd + (hh - p.H - p.Hkv) * dh + i;
                vc[o] = a;
                vc[o + p.half] = b;
                continue;
            }
            let ci = p.rope_off + 2u * (ps * p.half + i);
            let c = csat(ci);
            let s = csat(ci + 1u);
            let ra = a * c - b * s;
            let rb = b * c + a * s;
            if (hh < p.H) {
                let o = t * p.H * dh + hh * dh + i;
                y[o] = ra;
                y[o + p.half] = rb;
            } else {
                let o = (sq * p.S + ps) * kvd + (hh - p.H) * dh + i;
                kc[o] = ra;
                kc[o + p.half] = rb;
            }
        }
    }
}
