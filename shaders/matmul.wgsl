// matmul.wgsl — linear layer with f32 weights, and the plain f32 matmul of benchmarks.
//
//   y[t, o] = Σ_i x[t, i] · w[o, i] + bias[p.y0 + o]          (bias when hasBias ≠ 0)
//
// Bindings: 0 Params {T, in, out, hasBias, ldy, y0, w0}; 1 x f32 [T, in] (read);
//   2 w f32 [w0 + out, in] (read; its rows from w0: a matrix stacked with others);
//   3 bias f32 [y0 + out] (read; any buffer when
//   hasBias = 0); 4 y f32 [T, ldy] (write): columns y0…y0+out−1 of each row, so that
//   the parts of a weight split by rows each write their own columns (ldy = out,
//   y0 = 0 for a whole weight).
// Entries:
//   matvec  few rows (decode): a workgroup of RPW·LANES threads takes RPW output rows,
//           LANES threads per row stride over in (weights read once per TB rows of
//           x), partial sums reduced in workgroup memory — or, with LANES = 1, one
//           thread per output row and no barrier at all (CPU adapters: a lavapipe
//           barrier costs tens of µs per workgroup); grid split over x, y covers
//           ceil(out/RPW) workgroups.
//   matmul  many rows (prefill): gemm.wgsl's 64×64 tiles with A = x, B = w;
//           grid x = ceil(out/64), y = ceil(T/64).
// Overrides (matvec): RPW (rows per workgroup, default 4), LANES (threads per row, a
//   power of two, default 64), RPW·LANES ≤ 256; TB (rows of x per pass, default 8; 1
//   takes a scalar path). The engine picks them per adapter (matvecTuning).
// Twin: model.MatMul.

override RPW: u32 = 4u;   // output rows per workgroup (matvec)
override LANES: u32 = 64u; // threads per output row (matvec); 1: no reduction, no barrier
override TB: u32 = 8u;     // rows of x per pass (matvec)
const MV_WG: u32 = RPW * LANES;

struct Params { T: u32, n_in: u32, n_out: u32, has_bias: u32, ldy: u32, y0: u32, w0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn load_a(i: u32, k: u32) -> f32 { return x[i * p.n_in + k]; }
fn load_b(j: u32, k: u32) -> f32 { return w[(p.w0 + j) * p.n_in + k]; }

var<workgroup> red: array<f32, TB * MV_WG>; // [TB][RPW·LANES]

@compute @workgroup_size(MV_WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let lane = li % LANES;
    let o = flat_group(wid, nwg) * RPW + li / LANES;
    let row = (p.w0 + min(o, p.n_out - 1u)) * p.n_in;
    for (var t0 = 0u; t0 < p.T; t0 += TB) {
        // Rows past T read row T−1 again (constant trip counts keep acc in registers).
        var xo = array<u32, TB>();
        for (var t = 0u; t < TB; t++) {
            xo[t] = min(t0 + t, p.T - 1u) * p.n_in;
        }
        var acc = array<f32, TB>(); // an initializer: naga zero-initializes a bare `var` once, not per iteration
        if (TB == 1u) {
            // Decode: a scalar accumulator (lavapipe runs the array form 2.5× slower).
            var a = 0.0;
            for (var i = lane; i < p.n_in; i += LANES) {
                a += x[xo[0] + i] * w[row + i];
            }
            acc[0] = a;
        } else {
            for (var i = lane; i < p.n_in; i += LANES) {
                let wv = w[row + i];
                for (var t = 0u; t < TB; t++) {
                    acc[t] += x[xo[t] + i] * wv;
                }
            }
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
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
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
