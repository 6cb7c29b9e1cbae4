// recompose_f32.wgsl — the adapted weight from f32 factors:
//
//   W'[i, j] = Σ_k U[i, k] · s[k] · V[j, k],   s = σ ⊙ z · c
//
// Bindings: 0 Params {m, n, R, m0, nb = ceil(n/32)}; 1 u f32 [m, R] (read);
//   2 v f32 [n, R] (read); 3 s f32 [R] (read); W' goes to rows m0… (a matrix stacked
//   with others in one buffer) of
//   4 w f32 [m0 + m, n] (write)                                        recompose_f32
//   5 wq atomic<u32>, 6 ws f32: Q8 (q8store.wgsl)                       recompose_f32_q8
// Workgroup: gemm.wgsl's 64×64 tiles, 256 threads; grid x = ceil(n/64), y = ceil(m/64).
// Twin: float64 Σ_k U·s·V (tests).

struct Params { m: u32, n: u32, R: u32, m0: u32, nb: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> w: array<f32>;
@group(0) @binding(5) var<storage, read_write> wq: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> ws: array<f32>;

fn load_a(i: u32, k: u32) -> f32 { return u[i * p.R + k] * s[k]; }
fn load_b(j: u32, k: u32) -> f32 { return v[j * p.R + k]; }

@compute @workgroup_size(256)
fn recompose_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
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
fn recompose_f32_q8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i0 = wid.y * BM;
    let j0 = wid.x * BN;
    let acc = gemm_tile(i0, j0, p.m, p.n, p.R, li); // ends with a barrier: tile_a is free
    store_q8(acc, i0, j0, li);
}
