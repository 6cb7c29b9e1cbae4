// factored.wgsl — the first half of SVF's factored apply, batched over candidates:
//
//   h[t, k] = Sc[cand[t], k] · Σ_j x[t, j] · V[j, k]        (x·V, then ⊙ the row's s)
//
// and then y = h·Uᵀ with matmul(_q8) (U [m, R] is an ordinary out × in weight), so
// y[t] = c·U(s ⊙ Vᵀx[t]) with c folded into Sc (svf_scale): ARCHITECTURE §2. Every row t
// carries the index cand[t] of its candidate's row of Sc, so a whole CEM population is
// one batch. Rows with cand[t] ≥ P get zeros.
//
// Bindings:
//   0 Params {T, n, R, P, rb = ceil(R/32), vf32}
//   1 x    f32 [T, n] (read)
//   2 vq   u32 [ceil(n·R/4)] int8 packed (read)    when vf32 = 0 (else any buffer)
//   3 vs   f32 [n, rb] (read)                      when vf32 = 0
//   4 vf   f32 [n, R] (read)                       when vf32 ≠ 0 (else any buffer)
//   5 sc   f32 [P, R] (read)
//   6 cand u32 [T] (read)
//   7 h    f32 [T, R] (write)
// Workgroup: gemm.wgsl's 64×64 tiles with A = x, B[k', j] = V[j, k'] (K = n, N = R);
// 256 threads; grid x = ceil(R/64), y = ceil(T/64).
// Twin: float64 (tests); svf's factored apply.

struct Params { T: u32, n: u32, R: u32, P: u32, rb: u32, vf32: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> vq: array<u32>;
@group(0) @binding(3) var<storage, read> vs: array<f32>;
@group(0) @binding(4) var<storage, read> vf: array<f32>;
@group(0) @binding(5) var<storage, read> sc: array<f32>;
@group(0) @binding(6) var<storage, read> cand: array<u32>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;

fn load_a(i: u32, k: u32) -> f32 { return x[i * p.n + k]; }

fn load_b(j: u32, k: u32) -> f32 {
    let idx = k * p.R + j;
    if (p.vf32 != 0u) {
        return vf[idx];
    }
    return q8(vq[idx >> 2u], idx & 3u) * vs[k * p.rb + j / 32u];
}

@compute @workgroup_size(256)
fn factored_down(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i0 = wid.y * BM;
    let j0 = wid.x * BN;
    let acc = gemm_tile(i0, j0, p.T, p.R, p.n, li);
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + (li / 16u) * 4u + r;
        if (i < p.T) {
            let c = cand[i];
            for (var q = 0u; q < 4u; q++) {
                let j = j0 + (li % 16u) * 4u + q;
                if (j < p.R) {
                    var v = 0.0;
                    if (c < p.P) {
                        v = acc[r * 4u + q] * sc[c * p.R + j];
                    }
                    h[i * p.R + j] = v;
                }
            }
        }
    }
}
