// recompose.wgsl — the adapted weight of singular-value fine-tuning, from Q8 factors:
//
//   W'[i, j] = Σ_k U[i, k] · s[k] · V[j, k],   s = σ ⊙ z · c,  c = Σσ / Σ(σ⊙z)
//
// (ARCHITECTURE §1; s comes from svf.wgsl's svf_scale, or the host). U = Uq·Us and
// V = Vq·Vs are Q8 with blocks of 32 along R; the scales and s are applied as tiles
// are loaded into workgroup memory (gemm.wgsl: A = U·diag(s), B = V, K = R).
//
// Bindings:
//   0 Params {m, n, R, rb = ceil(R/32), nb = ceil(n/32), m0}: W' goes to rows m0…m0+m−1
//     of w, or of wq and ws (a matrix stacked with others in one buffer)
//   1 uq u32 [ceil(m·R/4)] int8 packed (read); 2 us f32 [m, rb] (read)
//   3 vq u32 [ceil(n·R/4)] int8 packed (read); 4 vs f32 [n, rb] (read)
//   5 s  f32 [R] (read)
//   6 w  f32 [m0 + m, n] (write)                            recompose
//   7 wq atomic<u32> [ceil((m0+m)·n/4)] int8 packed (read_write; zeroed before: bytes
//     are OR-ed in, since words straddle tiles when n % 4 ≠ 0)   recompose_q8
//   8 ws f32 [m0 + m, nb] (write)                           recompose_q8
// recompose_q8 writes W' as Q8 with blocks of 32 along n: scale = max|W'|/127 over
// the block, q = round(W'/scale) (ties away from zero, as svf.QuantizeQ8), clamped to
// ±127; an all-zero block has scale 0. A 64-column tile holds two whole blocks, so a tile quantises its rows
// alone (block maxima pass through workgroup memory).
// Workgroup: 256 threads, one 64×64 tile of W' (4×4 per thread); grid x = ceil(n/64),
// y = ceil(m/64).
// Twin: float64 Σ_k U·s·V (tests); svf's recomposition; the Q8 store is q8store.wgsl.

struct Params { m: u32, n: u32, R: u32, rb: u32, nb: u32, m0: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> uq: array<u32>;
@group(0) @binding(2) var<storage, read> us: array<f32>;
@group(0) @binding(3) var<storage, read> vq: array<u32>;
@group(0) @binding(4) var<storage, read> vs: array<f32>;
@group(0) @binding(5) var<storage, read> s: array<f32>;
@group(0) @binding(6) var<storage, read_write> w: array<f32>;
@group(0) @binding(7) var<storage, read_write> wq: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read_write> ws: array<f32>;

fn load_a(i: u32, k: u32) -> f32 {
    let idx = i * p.R + k;
    return q8(uq[idx >> 2u], idx & 3u) * us[i * p.rb + k / 32u] * s[k];
}

fn load_b(j: u32, k: u32) -> f32 {
    let idx = j * p.R + k;
    return q8(vq[idx >> 2u], idx & 3u) * vs[j * p.rb + k / 32u];
}

@compute @workgroup_size(256)
fn recompose(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i0 = wid.y * BM;
    let j0 = wid.x * BN;
    let acc = gemm_tile(i0, j0, p.m, p.n, p.R, li);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + (li / 16u) * 4u + r;
        for (var c = 0u; c < 4u; c++) {
            let j = j0 + (li % 16u) * 4u + c;
            if (i < p.m && j < p.n) {
                w[(p.m0 + i) * p.n + j] = acc[r * 4u + c];
            }
        }
    }
}

@compute @workgroup_size(256)
fn recompose_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i0 = wid.y * BM;
    let j0 = wid.x * BN;
    let acc = gemm_tile(i0, j0, p.m, p.n, p.R, li); // ends with a barrier: tile_a is free
    store_q8(acc, i0, j0, li);
}
