// factored_rows.wgsl — factored.wgsl's h[t, k] = Sc[cand[t], k] · Σ_j x[t, j] · V[j, k]
// for CPU adapters (lavapipe, SwiftShader), in rows.wgsl's scheme: each thread a block
// of 4 rows × 4 columns of h in registers; per 4 values of j, 4 vec4 of x and 4 of V's
// rows (4 words when V is Q8) for 64 multiply-adds; no workgroup memory, no barrier.
// Rows and columns past the end repeat the last one and are not written; rows with
// cand[t] ≥ P get zeros.
//
// Bindings: 0 Params {T, n, R, P, rb = ceil(R/32)}; 1 x vec4<f32> [T, n/4] (read);
//   2 vq u32 [n·R/4] (read: V's int8, VQ) and 3 vs f32 [n, rb] (read: its scales, VQ),
//   or 4 vf vec4<f32> [n, R/4] (read: V in f32, not VQ) — the others any buffer;
//   5 sc f32 [P, R] (read); 6 cand u32 [T] (read); 7 h f32 [T, R] (write).
// Needs n % 4 = 0 and R % 4 = 0 (the caller takes factored.wgsl otherwise).
// Workgroup 64 threads; ceil(T/4)·ceil(R/4) threads in all, grid split over x and y.
// Overrides: VQ (V is Q8).
// Twin: float64 (tests); svf's factored apply.

override VQ: bool = true;

struct Params { T: u32, n: u32, R: u32, P: u32, rb: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> vq: array<u32>;
@group(0) @binding(3) var<storage, read> vs: array<f32>;
@group(0) @binding(4) var<storage, read> vf: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> sc: array<f32>;
@group(0) @binding(6) var<storage, read> cand: array<u32>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;

// vrow is V[j, k0…k0+3].
fn vrow(j: u32, k0: u32) -> vec4<f32> {
    let e = (j * p.R + k0) / 4u;
    if (VQ) {
        return unpack8(vq[e]) * vs[j * p.rb + k0 / 32u];
    }
    return vf[e];
}

@compute @workgroup_size(64)
fn factored_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let blk = block4(wid, nwg, li, p.R / 4u);
    let t0 = blk.x;
    let k0 = blk.y;
    if (t0 >= p.T) {
        return;
    }
    let n4 = p.n / 4u;
    let xr = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.T - 1u)) * n4;
    var a0 = vec4<f32>();
    var a1 = vec4<f32>();
    var a2 = vec4<f32>();
    var a3 = vec4<f32>();
    for (var j = 0u; j < n4; j++) {
        let x0 = x[xr.x + j];
        let x1 = x[xr.y + j];
        let x2 = x[xr.z + j];
        let x3 = x[xr.w + j];
        let v0 = vrow(4u * j, k0);
        let v1 = vrow(4u * j + 1u, k0);
        let v2 = vrow(4u * j + 2u, k0);
        let v3 = vrow(4u * j + 3u, k0);
        a0 += x0.x * v0 + x0.y * v1 + x0.z * v2 + x0.w * v3;
        a1 += x1.x * v0 + x1.y * v1 + x1.z * v2 + x1.w * v3;
        a2 += x2.x * v0 + x2.y * v1 + x2.z * v2 + x2.w * v3;
        a3 += x3.x * v0 + x3.y * v1 + x3.z * v2 + x3.w * v3;
    }
    store_h(t0, k0, a0);
    store_h(t0 + 1u, k0, a1);
    store_h(t0 + 2u, k0, a2);
    store_h(t0 + 3u, k0, a3);
}

// store_h writes h[t, k0…k0+3] = a ⊙ the scales of row t's candidate (zeros for none).
fn store_h(t: u32, k0: u32, a: vec4<f32>) {
    if (t >= p.T) {
        return;
    }
    var v = vec4<f32>();
    let c = cand[t];
    if (c < p.P) {
        let s = c * p.R + k0;
        v = a * vec4<f32>(sc[s], sc[s + 1u], sc[s + 2u], sc[s + 3u]);
    }
    let o = t * p.R + k0;
    h[o] = v.x;
    h[o + 1u] = v.y;
    h[o + 2u] = v.z;
    h[o + 3u] = v.w;
}
