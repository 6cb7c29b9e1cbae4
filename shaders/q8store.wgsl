// q8store.wgsl — the Q8 epilogue of the recompose kernels (recompose.wgsl,
// recompose_f32.wgsl): a 64×64 tile of W' from gemm_tile quantised into rows m0+i of
// wq/ws with blocks of 32 along n: scale = max|W'|/127 over the block, q = round(W'/scale)
// (ties away from zero, as svf.QuantizeQ8), clamped to ±127; an all-zero block has scale
// 0. A 64-column tile holds two whole blocks, so a tile quantises its rows alone (block
// maxima pass through workgroup memory: tile_a, free once gemm_tile returns). Needs of
// the including file: Params p with m, n, nb = ceil(n/32), m0; wq atomic<u32> (zeroed
// before: bytes are OR-ed in, since words straddle tiles when n % 4 ≠ 0); ws f32.
// Contains a barrier: call from uniform control flow.

fn store_q8(acc: array<f32, 16>, i0: u32, j0: u32, li: u32) {
    let tx = li % 16u;
    let ty = li / 16u;
    // Each thread's largest |W'| per row over its 4 columns → tile_a[row][tx].
    for (var r = 0u; r < 4u; r++) {
        var mx = 0.0;
        for (var c = 0u; c < 4u; c++) {
            if (j0 + tx * 4u + c < p.n) {
                mx = max(mx, abs(acc[r * 4u + c]));
            }
        }
        tile_a[(ty * 4u + r) * 16u + tx] = mx;
    }
    workgroupBarrier();
    let blk = tx / 8u; // 8 threads × 4 columns = one block of 32
    for (var r = 0u; r < 4u; r++) {
        let i = i0 + ty * 4u + r;
        var bm = 0.0;
        for (var e = 0u; e < 8u; e++) {
            bm = max(bm, tile_a[(ty * 4u + r) * 16u + blk * 8u + e]);
        }
        let sc = bm / 127.0;
        if (i < p.m) {
            if (tx % 8u == 0u && j0 + blk * 32u < p.n) {
                ws[(p.m0 + i) * p.nb + j0 / 32u + blk] = sc;
            }
            for (var c = 0u; c < 4u; c++) {
                let j = j0 + tx * 4u + c;
                if (j < p.n) {
                    var qv = 0i;
                    if (bm > 0.0) {
                        let v = acc[r * 4u + c] / sc;
                        qv = i32(clamp(sign(v) * floor(abs(v) + 0.5), -127.0, 127.0));
                    }
                    let idx = (p.m0 + i) * p.n + j;
                    atomicOr(&wq[idx >> 2u], (bitcast<u32>(qv) & 0xffu) << (8u * (idx & 3u)));
                }
            }
        }
    }
}
