// recompose_f32.wgsl — the adapted weight from f32 factors:
//
//   W'[i, j] = Σ_k U[i, k] · s[k] · V[j, k],   s = σ ⊙ z · c
//
// Bindings: 0 Params {m, n, R}; 1 u f32 [m, R] (read); 2 v f32 [n, R] (read);
//   3 s f32 [R] (read); 4 w f32 [m, n] (write).
// Workgroup: gemm.wgsl's 64×64 tiles, 256 threads; grid x = ceil(n/64), y = ceil(m/64).
// Twin: float64 Σ_k U·s·V (tests).

struct Params { m: u32, n: u32, R: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> w: array<f32>;

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
                w[i * p.n + j] = acc[r * 4u + c];
            }
        }
    }
}
