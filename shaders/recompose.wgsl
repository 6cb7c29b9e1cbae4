// recompose.wgsl — the adapted weight of singular-value fine-tuning:
//
//   W'[i, j] = Σ_k U[u0+i, k] · s[k] · V[j, k],   s = σ ⊙ z · c,  c = Σσ / Σ(σ⊙z)
//
// (ARCHITECTURE §1; s comes from svf.wgsl's svf_scale). U and V are Q8 with blocks of 32
// along R (U = Uq·Us, V = Vq·Vs), or f32 (Q8F = false: their bits in uq, vq).
//   recompose     each thread a block of 4 rows × 4 columns of W', straight from the
//                 factors in registers: per 32 values of k, two vec4<u32> loads and a
//                 scale per factor row, 512 multiply-adds — no workgroup memory, no
//                 barrier. Writes f32 rows m0… of w.
//   quantize_rows each thread a block of 32 columns of a row of wf (f32 [m, n], e.g.
//                 recompose's output) quantised into rows m0… of the Q8 wq/ws: scale =
//                 max|W'|/127, q = round(W'/scale) half away from zero (pack.QuantizeQ8),
//                 clamped to ±127; an all-zero block has scale 0. Bytes are OR-ed into wq,
//                 which must be zero there (words straddle rows when n % 4 ≠ 0).
// On lavapipe the tiled gemm this replaces (gemm.wgsl's 64×64 tiles through workgroup
// memory) spent its time in loads — llvmpipe loads a divergent address lane by lane, and
// workgroup memory too — and barriers: 0.8 GFLOP/s on SmolLM2's 1536×576×576.
//
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params {m, n, R, rb = ceil(R/32), nb = ceil(n/32), m0, u0}
//   1 uq vec4<u32> (read): U [u0 + m, R], Q8 q (or f32 bits)       recompose
//   2 us f32 [u0 + m, rb] (read): U's scales (Q8)                  recompose
//   3 vq vec4<u32> (read): V [n, R], Q8 q (or f32 bits)            recompose
//   4 vs f32 [n, rb] (read): V's scales (Q8)                       recompose
//   5 s  f32 [R] (read)                                            recompose
//   6 w  f32 [m0 + m, n] (read_write)                              recompose
//   7 wf f32 [m, n] (read)                                         quantize_rows
//   8 wq atomic<u32> [ceil((m0+m)·n/4)] (read_write)               quantize_rows
//   9 ws f32 [m0 + m, nb] (read_write)                             quantize_rows
// Workgroups: WG threads; recompose: 8×8 threads, grid x = ceil(n/32), y = ceil(m/32);
//   quantize_rows: one thread a (row, block), grid split over x, y.
// Overrides: Q8F, VEC (R % 32 = 0 for Q8 factors, R % 4 = 0 for f32: vec4 loads; else
//   element loads, for odd shapes), QVEC (n % 4 = 0: quantize_rows reads vec4).
// Twin: float64 Σ_k U·s·V (svf_test.go); svf.Factors.Recompose; pack.QuantizeQ8.

override Q8F: bool = true;
override VEC: bool = true;
override QVEC: bool = true;
const WG: u32 = 64u;

struct Params { m: u32, n: u32, R: u32, rb: u32, nb: u32, m0: u32, u0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> uq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> us: array<f32>;
@group(0) @binding(3) var<storage, read> vq: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> vs: array<f32>;
@group(0) @binding(5) var<storage, read> s: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> w: array<f32>;
@group(0) @binding(7) var<storage, read> wf: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> wq: array<atomic<u32>>;
@group(0) @binding(9) var<storage, read_write> ws: array<f32>;

// elem is element k of row r of a factor (q or f32 bits in f), without its Q8 scale.
fn elem(f: u32, r: u32, k: u32) -> f32 {
    let e = r * p.R + k;
    var v: vec4<u32>;
    if (f == 0u) {
        v = uq[e >> select(2u, 4u, Q8F)];
    } else {
        v = vq[e >> select(2u, 4u, Q8F)];
    }
    if (Q8F) {
        return f32(bitcast<i32>(v[(e >> 2u) & 3u] << (24u - 8u * (e & 3u))) >> 24u);
    }
    return bitcast<f32>(v[e & 3u]);
}

fn sat(k: u32) -> f32 {
    return s[k >> 2u][k & 3u];
}

// uscale and vscale are the Q8 scales of block b of the 4 rows r of U and of V.
fn uscale(r: vec4<u32>, b: u32) -> vec4<f32> {
    return vec4<f32>(us[r.x * p.rb + b], us[r.y * p.rb + b], us[r.z * p.rb + b], us[r.w * p.rb + b]);
}

fn vscale(r: vec4<u32>, b: u32) -> vec4<f32> {
    return vec4<f32>(vs[r.x * p.rb + b], vs[r.y * p.rb + b], vs[r.z * p.rb + b], vs[r.w * p.rb + b]);
}

// Acc is a thread's 4×4 block of W': rows r, columns c at a[r][c].
struct Acc { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32> }

// add4 adds to acc the products of four values of k of the 4 rows of U (u0…u3, each
// times s and its scale) and of the 4 rows of V (v0…v3).
fn add4(acc: ptr<function, Acc>, u0: vec4<f32>, u1: vec4<f32>, u2: vec4<f32>, u3: vec4<f32>,
        v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>) {
    (*acc).a0 += vec4<f32>(dot(u0, v0), dot(u0, v1), dot(u0, v2), dot(u0, v3));
    (*acc).a1 += vec4<f32>(dot(u1, v0), dot(u1, v1), dot(u1, v2), dot(u1, v3));
    (*acc).a2 += vec4<f32>(dot(u2, v0), dot(u2, v1), dot(u2, v2), dot(u2, v3));
    (*acc).a3 += vec4<f32>(dot(u3, v0), dot(u3, v1), dot(u3, v2), dot(u3, v3));
}

// word adds the products of one word (4 values of k) of U's 4 rows (u0…u3) and V's 4
// rows (v0…v3): sk is s over those values, su and sv the rows' scales.
fn word(acc: ptr<function, Acc>, u0: u32, u1: u32, u2: u32, u3: u32, v0: u32, v1: u32, v2: u32, v3: u32,
        sk: vec4<f32>, su: vec4<f32>, sv: vec4<f32>) {
    add4(acc, unpack8(u0) * (sk * su.x), unpack8(u1) * (sk * su.y), unpack8(u2) * (sk * su.z), unpack8(u3) * (sk * su.w),
        unpack8(v0) * sv.x, unpack8(v1) * sv.y, unpack8(v2) * sv.z, unpack8(v3) * sv.w);
}

@compute @workgroup_size(8, 8)
fn recompose(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = 4u * gid.y;
    let j0 = 4u * gid.x;
    if (i0 >= p.m || j0 >= p.n) {
        return;
    }
    // Rows and columns past the end repeat the last one (their results are not stored).
    let ri = vec4<u32>(p.u0) + min(vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    let cj = min(vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    var acc = Acc();
    if (VEC && Q8F) {
        let nb = p.R / 32u;
        for (var b = 0u; b < nb; b++) {
            let k = 32u * b;
            // Two vec4<u32> (32 int8) of each row, its scale; U's scale times s below.
            let ua0 = uq[(ri.x * p.R + k) >> 4u]; let ub0 = uq[((ri.x * p.R + k) >> 4u) + 1u];
            let ua1 = uq[(ri.y * p.R + k) >> 4u]; let ub1 = uq[((ri.y * p.R + k) >> 4u) + 1u];
            let ua2 = uq[(ri.z * p.R + k) >> 4u]; let ub2 = uq[((ri.z * p.R + k) >> 4u) + 1u];
            let ua3 = uq[(ri.w * p.R + k) >> 4u]; let ub3 = uq[((ri.w * p.R + k) >> 4u) + 1u];
            let va0 = vq[(cj.x * p.R + k) >> 4u]; let vb0 = vq[((cj.x * p.R + k) >> 4u) + 1u];
            let va1 = vq[(cj.y * p.R + k) >> 4u]; let vb1 = vq[((cj.y * p.R + k) >> 4u) + 1u];
            let va2 = vq[(cj.z * p.R + k) >> 4u]; let vb2 = vq[((cj.z * p.R + k) >> 4u) + 1u];
            let va3 = vq[(cj.w * p.R + k) >> 4u]; let vb3 = vq[((cj.w * p.R + k) >> 4u) + 1u];
            let su = uscale(ri, b);
            let sv = vscale(cj, b);
            // Written out (no loop over words, no dynamic vector index): Chromium's
            // SwiftShader keeps loops and indexes vectors through memory. At 1536×576×576
            // in Chromium on SwiftShader 0.67–0.86 GFLOP/s against 0.48–0.64 for the two
            // loops (BenchmarkPageKernels, 5 and 4 runs on a loaded machine); on lavapipe
            // no slower (4.5–6.9 against 4.0–5.3, BenchmarkRecompose).
            let s0 = k >> 2u;
            word(&acc, ua0.x, ua1.x, ua2.x, ua3.x, va0.x, va1.x, va2.x, va3.x, s[s0], su, sv);
            word(&acc, ua0.y, ua1.y, ua2.y, ua3.y, va0.y, va1.y, va2.y, va3.y, s[s0 + 1u], su, sv);
            word(&acc, ua0.z, ua1.z, ua2.z, ua3.z, va0.z, va1.z, va2.z, va3.z, s[s0 + 2u], su, sv);
            word(&acc, ua0.w, ua1.w, ua2.w, ua3.w, va0.w, va1.w, va2.w, va3.w, s[s0 + 3u], su, sv);
            word(&acc, ub0.x, ub1.x, ub2.x, ub3.x, vb0.x, vb1.x, vb2.x, vb3.x, s[s0 + 4u], su, sv);
            word(&acc, ub0.y, ub1.y, ub2.y, ub3.y, vb0.y, vb1.y, vb2.y, vb3.y, s[s0 + 5u], su, sv);
            word(&acc, ub0.z, ub1.z, ub2.z, ub3.z, vb0.z, vb1.z, vb2.z, vb3.z, s[s0 + 6u], su, sv);
            word(&acc, ub0.w, ub1.w, ub2.w, ub3.w, vb0.w, vb1.w, vb2.w, vb3.w, s[s0 + 7u], su, sv);
        }
    } else if (VEC) {
        // f32 factors: 4 values of k a step.
        let n4 = p.R / 4u;
        for (var k4 = 0u; k4 < n4; k4++) {
            let sk = s[k4];
            add4(&acc,
                bitcast<vec4<f32>>(uq[((ri.x * p.R) >> 2u) + k4]) * sk, bitcast<vec4<f32>>(uq[((ri.y * p.R) >> 2u) + k4]) * sk,
                bitcast<vec4<f32>>(uq[((ri.z * p.R) >> 2u) + k4]) * sk, bitcast<vec4<f32>>(uq[((ri.w * p.R) >> 2u) + k4]) * sk,
                bitcast<vec4<f32>>(vq[((cj.x * p.R) >> 2u) + k4]), bitcast<vec4<f32>>(vq[((cj.y * p.R) >> 2u) + k4]),
                bitcast<vec4<f32>>(vq[((cj.z * p.R) >> 2u) + k4]), bitcast<vec4<f32>>(vq[((cj.w * p.R) >> 2u) + k4]));
        }
    } else {
        for (var k = 0u; k < p.R; k++) {
            var su = vec4<f32>(sat(k));
            var sv = vec4<f32>(1.0);
            if (Q8F) {
                let b = k / 32u;
                su *= uscale(ri, b);
                sv = vscale(cj, b);
            }
            let u = vec4<f32>(elem(0u, ri.x, k), elem(0u, ri.y, k), elem(0u, ri.z, k), elem(0u, ri.w, k)) * su;
            let v = vec4<f32>(elem(1u, cj.x, k), elem(1u, cj.y, k), elem(1u, cj.z, k), elem(1u, cj.w, k)) * sv;
            acc.a0 += u.x * v;
            acc.a1 += u.y * v;
            acc.a2 += u.z * v;
            acc.a3 += u.w * v;
        }
    }
    store_acc(i0, j0, acc);
}

// store_acc writes a thread's block acc, rows i0… and columns j0…, within m × n.
fn store_acc(i0: u32, j0: u32, acc: Acc) {
    let rows = array<vec4<f32>, 4>(acc.a0, acc.a1, acc.a2, acc.a3);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + r;
        if (i < p.m) {
            for (var c = 0u; c < 4u; c++) {
                if (j0 + c < p.n) {
                    w[(p.m0 + i) * p.n + j0 + c] = rows[r][c];
                }
            }
        }
    }
}

// word8 is word for 8 rows of V: acc gets v0…v3's products, acc2 v4…v7's, with U's
// values unpacked once.
fn word8(acc: ptr<function, Acc>, acc2: ptr<function, Acc>, u0: u32, u1: u32, u2: u32, u3: u32,
         v0: u32, v1: u32, v2: u32, v3: u32, v4: u32, v5: u32, v6: u32, v7: u32,
         sk: vec4<f32>, su: vec4<f32>, sv: vec4<f32>, sw: vec4<f32>) {
    let a0 = unpack8(u0) * (sk * su.x);
    let a1 = unpack8(u1) * (sk * su.y);
    let a2 = unpack8(u2) * (sk * su.z);
    let a3 = unpack8(u3) * (sk * su.w);
    add4(acc, a0, a1, a2, a3, unpack8(v0) * sv.x, unpack8(v1) * sv.y, unpack8(v2) * sv.z, unpack8(v3) * sv.w);
    add4(acc2, a0, a1, a2, a3, unpack8(v4) * sw.x, unpack8(v5) * sw.y, unpack8(v6) * sw.z, unpack8(v7) * sw.w);
}

// recompose_wide is recompose's Q8, VEC path with 4 rows × 8 columns a thread, for
// Chromium's SwiftShader (see rows.wgsl's matmul_q8_rows_wide).
@compute @workgroup_size(8, 8)
fn recompose_wide(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = 4u * gid.y;
    let j0 = 8u * gid.x;
    if (i0 >= p.m || j0 >= p.n) {
        return;
    }
    let ri = vec4<u32>(p.u0) + min(vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
    let cj = min(vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    let ck = min(vec4<u32>(j0 + 4u) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n - 1u));
    var acc = Acc();
    var acc2 = Acc();
    let nb = p.R / 32u;
    for (var b = 0u; b < nb; b++) {
        let k = 32u * b;
        let ua0 = uq[(ri.x * p.R + k) >> 4u]; let ub0 = uq[((ri.x * p.R + k) >> 4u) + 1u];
        let ua1 = uq[(ri.y * p.R + k) >> 4u]; let ub1 = uq[((ri.y * p.R + k) >> 4u) + 1u];
        let ua2 = uq[(ri.z * p.R + k) >> 4u]; let ub2 = uq[((ri.z * p.R + k) >> 4u) + 1u];
        let ua3 = uq[(ri.w * p.R + k) >> 4u]; let ub3 = uq[((ri.w * p.R + k) >> 4u) + 1u];
        let va0 = vq[(cj.x * p.R + k) >> 4u]; let vb0 = vq[((cj.x * p.R + k) >> 4u) + 1u];
        let va1 = vq[(cj.y * p.R + k) >> 4u]; let vb1 = vq[((cj.y * p.R + k) >> 4u) + 1u];
        let va2 = vq[(cj.z * p.R + k) >> 4u]; let vb2 = vq[((cj.z * p.R + k) >> 4u) + 1u];
        let va3 = vq[(cj.w * p.R + k) >> 4u]; let vb3 = vq[((cj.w * p.R + k) >> 4u) + 1u];
        let va4 = vq[(ck.x * p.R + k) >> 4u]; let vb4 = vq[((ck.x * p.R + k) >> 4u) + 1u];
        let va5 = vq[(ck.y * p.R + k) >> 4u]; let vb5 = vq[((ck.y * p.R + k) >> 4u) + 1u];
        let va6 = vq[(ck.z * p.R + k) >> 4u]; let vb6 = vq[((ck.z * p.R + k) >> 4u) + 1u];
        let va7 = vq[(ck.w * p.R + k) >> 4u]; let vb7 = vq[((ck.w * p.R + k) >> 4u) + 1u];
        let su = uscale(ri, b);
        let sv = vscale(cj, b);
        let sw = vscale(ck, b);
        let s0 = k >> 2u;
        word8(&acc, &acc2, ua0.x, ua1.x, ua2.x, ua3.x, va0.x, va1.x, va2.x, va3.x, va4.x, va5.x, va6.x, va7.x, s[s0], su, sv, sw);
        word8(&acc, &acc2, ua0.y, ua1.y, ua2.y, ua3.y, va0.y, va1.y, va2.y, va3.y, va4.y, va5.y, va6.y, va7.y, s[s0 + 1u], su, sv, sw);
        word8(&acc, &acc2, ua0.z, ua1.z, ua2.z, ua3.z, va0.z, va1.z, va2.z, va3.z, va4.z, va5.z, va6.z, va7.z, s[s0 + 2u], su, sv, sw);
        word8(&acc, &acc2, ua0.w, ua1.w, ua2.w, ua3.w, va0.w, va1.w, va2.w, va3.w, va4.w, va5.w, va6.w, va7.w, s[s0 + 3u], su, sv, sw);
        word8(&acc, &acc2, ub0.x, ub1.x, ub2.x, ub3.x, vb0.x, vb1.x, vb2.x, vb3.x, vb4.x, vb5.x, vb6.x, vb7.x, s[s0 + 4u], su, sv, sw);
        word8(&acc, &acc2, ub0.y, ub1.y, ub2.y, ub3.y, vb0.y, vb1.y, vb2.y, vb3.y, vb4.y, vb5.y, vb6.y, vb7.y, s[s0 + 5u], su, sv, sw);
        word8(&acc, &acc2, ub0.z, ub1.z, ub2.z, ub3.z, vb0.z, vb1.z, vb2.z, vb3.z, vb4.z, vb5.z, vb6.z, vb7.z, s[s0 + 6u], su, sv, sw);
        word8(&acc, &acc2, ub0.w, ub1.w, ub2.w, ub3.w, vb0.w, vb1.w, vb2.w, vb3.w, vb4.w, vb5.w, vb6.w, vb7.w, s[s0 + 7u], su, sv, sw);
    }
    store_acc(i0, j0, acc);
    store_acc(i0, j0 + 4u, acc2);
}

fn wfat(e: u32) -> f32 {
    return wf[e >> 2u][e & 3u];
}

@compute @workgroup_size(WG)
fn quantize_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let g = flat_group(wid, nwg) * WG + li;
    if (g >= p.m * p.nb) {
        return;
    }
    let i = g / p.nb;
    let b = g % p.nb;
    let j0 = 32u * b;
    let cnt = min(32u, p.n - j0);
    let e0 = i * p.n + j0;
    var v: array<f32, 32>;
    var mx = 0.0;
    if (QVEC && cnt == 32u) {
        for (var q = 0u; q < 8u; q++) {
            let x = wf[(e0 >> 2u) + q];
            v[4u * q] = x.x;
            v[4u * q + 1u] = x.y;
            v[4u * q + 2u] = x.z;
            v[4u * q + 3u] = x.w;
            mx = max(mx, max(max(abs(x.x), abs(x.y)), max(abs(x.z), abs(x.w))));
        }
    } else {
        for (var c = 0u; c < cnt; c++) {
            v[c] = wfat(e0 + c);
            mx = max(mx, abs(v[c]));
        }
    }
    let sc = mx / 127.0;
    ws[(p.m0 + i) * p.nb + b] = sc;
    if (mx == 0.0) {
        return; // q stays 0
    }
    // Bytes of this block, OR-ed into their words a word at a time.
    let o0 = (p.m0 + i) * p.n + j0; // byte index of the block's first value
    var word = 0u;
    for (var c = 0u; c < cnt; c++) {
        let x = v[c] / sc;
        let q = i32(clamp(sign(x) * floor(abs(x) + 0.5), -127.0, 127.0));
        let o = o0 + c;
        word |= (bitcast<u32>(q) & 0xffu) << (8u * (o & 3u));
        if ((o & 3u) == 3u || c + 1u == cnt) {
            atomicOr(&wq[o >> 2u], word);
            word = 0u;
        }
    }
}
