// matmul_q8.wgsl — linear layer with Q8 weights (int8 unpacked from u32 words with
// shifts; no f16, no unpack built-ins).
//
//   y[t, o] = Σ_i x[t, i] · q[o, i] · scale[o, i/32] + bias[p.y0 + o]     (bias when hasBias ≠ 0)
//
// Bindings: 0 Params {T, in, out, hasBias, blocks = ceil(in/32), ldy, y0, w0};
//   1 x f32 [T, in] (read); 2 q u32 [ceil((w0+out)·in/4)] int8 packed (read);
//   3 scale f32 [w0 + out, blocks] (read) — the weight is rows w0… of q and scale (a
//   matrix stacked with others); 4 bias f32 [y0 + out] (read; any buffer when
//   hasBias = 0); 5 y f32 [T, ldy] (write): columns y0…y0+out−1 of each row, so that
//   the parts of a weight split by rows each write their own columns (ldy = out,
//   y0 = 0 for a whole weight).
// Entries:
//   matvec_q8  few rows (decode): RPW output rows per workgroup, LANES threads per
//              row striding over its u32 words (when in % 4 = 0 a word's four values
//              share one scale; otherwise bytes are sorted out one by one), TB rows
//              of x per pass, reduction in workgroup memory — or none with LANES = 1
//              (one thread per row, no barrier); grid split over x, y covers
//              ceil(out/RPW) workgroups.
//   matmul_q8  many rows (prefill): gemm.wgsl's tiles, B dequantised on load;
//              grid x = ceil(out/64), y = ceil(T/64).
// Overrides (matvec_q8): RPW (default 4), LANES (a power of two, default 64),
//   RPW·LANES ≤ 256; TB (default 8; 1 takes a scalar path), as in matmul.wgsl.
// Twin: a float64 Σ x·q·scale (tests); svf's dequantisation later.

override RPW: u32 = 4u;   // output rows per workgroup (matvec)
override LANES: u32 = 64u; // threads per output row (matvec); 1: no reduction, no barrier
override TB: u32 = 8u;     // rows of x per pass (matvec)
const MV_WG: u32 = RPW * LANES;

struct Params { T: u32, n_in: u32, n_out: u32, has_bias: u32, blocks: u32, ldy: u32, y0: u32, w0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<u32>;
@group(0) @binding(3) var<storage, read> ws: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

fn load_a(i: u32, k: u32) -> f32 { return x[i * p.n_in + k]; }
fn load_b(j: u32, k: u32) -> f32 {
    let idx = (p.w0 + j) * p.n_in + k;
    return q8(wq[idx >> 2u], idx & 3u) * ws[(p.w0 + j) * p.blocks + k / 32u];
}

var<workgroup> red: array<f32, TB * MV_WG>; // [TB][RPW·LANES]

@compute @workgroup_size(MV_WG)
fn matvec_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let lane = li % LANES;
    let o = flat_group(wid, nwg) * RPW + li / LANES;
    let oc = p.w0 + min(o, p.n_out - 1u); // the row in the buffers
    let s0 = oc * p.n_in;          // flat index of the row's first value
    let srow = oc * p.blocks;
    let aligned = (p.n_in & 3u) == 0u;
    let w_lo = s0 >> 2u;
    let w_hi = (s0 + p.n_in + 3u) >> 2u;
    for (var t0 = 0u; t0 < p.T; t0 += TB) {
        // Rows past T read row T−1 again (constant trip counts keep acc in registers).
        var xo = array<u32, TB>();
        for (var t = 0u; t < TB; t++) {
            xo[t] = min(t0 + t, p.T - 1u) * p.n_in;
        }
        var acc = array<f32, TB>(); // an initializer: naga zero-initializes a bare `var` once, not per iteration
        var a1 = 0.0;
        if (aligned) {
            // The loop runs over columns, not words: col is the same in every thread of
            // a row set, so x is read once for all of them (lavapipe: a broadcast, not a gather).
            for (var col = 4u * lane; col < p.n_in; col += 4u * LANES) {
                let wd = wq[(s0 + col) >> 2u];
                let q = vec4<f32>(q8(wd, 0u), q8(wd, 1u), q8(wd, 2u), q8(wd, 3u)) * ws[srow + col / 32u];
                if (TB == 1u) { // decode: lavapipe runs the loop over an array 2.5× slower
                    let xi = xo[0] + col;
                    a1 += dot(q, vec4<f32>(x[xi], x[xi + 1u], x[xi + 2u], x[xi + 3u]));
                } else {
                    for (var t = 0u; t < TB; t++) {
                        let xi = xo[t] + col;
                        acc[t] += dot(q, vec4<f32>(x[xi], x[xi + 1u], x[xi + 2u], x[xi + 3u]));
                    }
                }
            }
        } else {
            for (var wi = w_lo + lane; wi < w_hi; wi += LANES) {
                let wd = wq[wi];
                for (var b = 0u; b < 4u; b++) {
                    let idx = 4u * wi + b;
                    if (idx >= s0 && idx < s0 + p.n_in) {
                        let col = idx - s0;
                        let v = q8(wd, b) * ws[srow + col / 32u];
                        for (var t = 0u; t < TB; t++) {
                            acc[t] += x[xo[t] + col] * v;
                        }
                    }
                }
            }
        }
        if (TB == 1u) {
            acc[0] += a1;
        }
        if (LANES == 1u) {
            if (o < p.n_out) {
                for (var t = 0u; t < TB; t++) {
                    if (t0 + t < p.T) {
                        var v = acc[t];
                        if (p.has_bias != 0u) {
                            v += bias[p.y0 + o];
                        }
                        y[(t0 + t) * p.ldy + p.y0 + o] = v;
                    }
                }
            }
        } else {
            for (var t = 0u; t < TB; t++) {
                red[t * MV_WG + li] = acc[t];
            }
            workgroupBarrier();
            for (var s = LANES / 2u; s > 0u; s >>= 1u) {
                if (lane < s) {
                    for (var t = 0u; t < TB; t++) {
                        red[t * MV_WG + li] += red[t * MV_WG + li + s];
                    }
                }
                workgroupBarrier();
            }
            if (lane < min(TB, p.T - t0) && o < p.n_out) {
                var v = red[lane * MV_WG + li - lane];
                if (p.has_bias != 0u) {
                    v += bias[p.y0 + o];
                }
                y[(t0 + lane) * p.ldy + p.y0 + o] = v;
            }
            workgroupBarrier();
        }
    }
}

@compute @workgroup_size(256)
fn matmul_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i0 = wid.y * BM;
    let j0 = wid.x * BN;
    let acc = gemm_tile(i0, j0, p.T, p.n_out, p.n_in, li);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + (li / 16u) * 4u + r;
        for (var c = 0u; c < 4u; c++) {
            let j = j0 + (li % 16u) * 4u + c;
            if (i < p.T && j < p.n_out) {
                var v = acc[r * 4u + c];
                if (p.has_bias != 0u) {
                    v += bias[p.y0 + j];
                }
                y[i * p.ldy + p.y0 + j] = v;
            }
        }
    }
}
