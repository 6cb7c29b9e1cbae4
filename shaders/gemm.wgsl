// gemm.wgsl — the tiled matrix-product core shared by matmul, matmul_q8, recompose and
// factored; prepended to those kernels, which define the element loaders:
//
//   fn load_a(i: u32, k: u32) -> f32     A[i, k], called with i < M, k < K
//   fn load_b(j: u32, k: u32) -> f32     B[j, k], called with j < N, k < K
//
// gemm_tile returns, for thread li of a 256-thread workgroup, its 4×4 block of
//
//   C[i, j] = Σ_k A[i, k] · B[j, k]      i in [i0, i0+64), j in [j0, j0+64)
//
// rows i0 + 4·(li/16) + r, columns j0 + 4·(li%16) + c at index 4·r + c. Tiles of
// BK = 16 along k pass through workgroup memory (2 × 4 KiB), out-of-range elements as 0.
// It contains barriers: call it from uniform control flow with uniform M, N, K.
// BK = 16 measured best on lavapipe (f32 1536×576×576: 1.9 GFLOP/s; BK = 8: 1.3,
// BK = 32: 0.4).
// Workgroup layout of the callers: @workgroup_size(256), grid x = ceil(N/64),
// y = ceil(M/64).

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [BK][BM]
var<workgroup> tile_b: array<f32, 1024>; // [BK][BN]

fn gemm_tile(i0: u32, j0: u32, M: u32, N: u32, K: u32, li: u32) -> array<f32, 16> {
    let tx = li % 16u;
    let ty = li / 16u;
    var acc = array<f32, 16>();
    for (var k0 = 0u; k0 < K; k0 += BK) {
        for (var e = li; e < BM * BK; e += 256u) {
            let ii = e / BK;
            let kk = e % BK;
            let gk = k0 + kk;
            var a = 0.0;
            if (i0 + ii < M && gk < K) {
                a = load_a(i0 + ii, gk);
            }
            tile_a[kk * BM + ii] = a;
            var b = 0.0;
            if (j0 + ii < N && gk < K) {
                b = load_b(j0 + ii, gk);
            }
            tile_b[kk * BN + ii] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a = vec4<f32>(tile_a[kk * BM + ty * 4u], tile_a[kk * BM + ty * 4u + 1u],
                              tile_a[kk * BM + ty * 4u + 2u], tile_a[kk * BM + ty * 4u + 3u]);
            let b = vec4<f32>(tile_b[kk * BN + tx * 4u], tile_b[kk * BN + tx * 4u + 1u],
                              tile_b[kk * BN + tx * 4u + 2u], tile_b[kk * BN + tx * 4u + 3u]);
            for (var r = 0u; r < 4u; r++) {
                acc[r * 4u] += a[r] * b.x;
                acc[r * 4u + 1u] += a[r] * b.y;
                acc[r * 4u + 2u] += a[r] * b.z;
                acc[r * 4u + 3u] += a[r] * b.w;
            }
        }
        workgroupBarrier();
    }
    return acc;
}
