// rows.wgsl — y[t, o] = Σ_i x[t, i] · w[o, i] + bias[p.y0 + o] for batches of rows on CPU
// adapters (lavapipe, SwiftShader): the tiled kernels' (gemm.wgsl) barriers and
// workgroup memory cost more there than the arithmetic, and the matvec kernels load
// one weight per 8 multiply-adds. Here each thread holds a block of 4 rows × 4 outputs
// in registers, and per 4 values of i loads 4 vec4 of x and 4 of w for 64 multiply-adds
// (recompose.wgsl's scheme): no workgroup memory, no barrier. Rows and outputs past the
// end repeat the last one and are not written.
//
// Entries:
//   matmul_rows     f32 weights w.
//   matmul_q8_rows  Q8 weights (wq, ws: blocks of 32 along i, matmul_q8.wgsl's layout):
//                   per block, two vec4<u32> of each weight row, the products with the
//                   int8 values summed, then times the block's scale. Needs in % 32 = 0.
//   matmul_q8_rows_wide  the same with 4 rows × 8 outputs a thread: 1,024 multiply-adds
//                   per 32 values of i for 48 loads instead of 512 for 40. Chromium's
//                   SwiftShader runs it 22–27 % faster (2.3–2.5 → 2.9–3.1 GFLOP/s at
//                   48×1536×576 and 48×8192×2048, BenchmarkPageKernels); lavapipe 6–10 %
//                   slower, so it keeps the 4×4 blocks.
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params {T, in, out, hasBias, ldy, y0, w0, blocks}: w0 the first row of w (or of
//     wq, ws) — a matrix stacked with others; blocks = ceil(in/32) (Q8)
//   1 x vec4<f32> [T, in/4] (read)
//   2 w vec4<f32> [w0 + out, in/4] (read)                    matmul_rows
//   3 bias f32 [y0 + out] (read; any buffer when hasBias = 0)
//   4 y f32 [T, ldy] (write): columns y0…y0+out−1
//   5 wq vec4<u32> [(w0 + out)·in/16] (read): 16 int8 each    matmul_q8_rows
//   6 ws f32 [w0 + out, blocks] (read)                      matmul_q8_rows
// matmul_rows needs in % 4 = 0, matmul_q8_rows in % 32 = 0 (the caller takes matmul.wgsl's
// matvec otherwise).
// Workgroup 64 threads; ceil(T/4)·ceil(out/4) threads in all (ceil(out/8) for the wide
// entry), grid split over x and y;
// neighbouring threads share their rows of x.
// Twin: model.MatMul.

struct Params { T: u32, n_in: u32, n_out: u32, has_bias: u32, ldy: u32, y0: u32, w0: u32, blocks: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(6) var<storage, read> ws: array<f32>;

// Rows t0…t0+3 of x and rows o0…o0+3 of the weight, as offsets in vec4 (words), the
// last one repeated past the end.
fn rows_x(t0: u32) -> vec4<u32> {
    return min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.T - 1u)) * (p.n_in / 4u);
}

fn rows_w(o0: u32) -> vec4<u32> {
    return vec4<u32>(p.w0) + min(vec4<u32>(o0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n_out - 1u));
}

@compute @workgroup_size(64)
fn matmul_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let blk = block4(wid, nwg, li, (p.n_out + 3u) / 4u);
    let t0 = blk.x;
    let o0 = blk.y;
    if (t0 >= p.T) {
        return;
    }
    let n4 = p.n_in / 4u;
    let xr = rows_x(t0);
    let wr = rows_w(o0) * n4;
    var a = Block();
    for (var k = 0u; k < n4; k++) {
        add4(&a, xr + k, w[wr.x + k], w[wr.y + k], w[wr.z + k], w[wr.w + k]);
    }
    store_rows(t0, o0, a);
}

@compute @workgroup_size(64)
fn matmul_q8_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) li: u32) {
    let blk = block4(wid, nwg, li, (p.n_out + 3u) / 4u);
    let t0 = blk.x;
    let o0 = blk.y;
    if (t0 >= p.T) {
        return;
    }
    let xr = rows_x(t0);
    let orow = rows_w(o0);
    let wr = orow * (p.n_in / 16u); // in vec4<u32>: two a block
    let sr = orow * p.blocks;
    var a = Block();
    for (var b = 0u; b < p.blocks; b++) {
        // A block of 32 values: two vec4<u32> of each weight row, written out word by
        // word (no loop, no dynamic vector index: SwiftShader keeps both in memory).
        let k = 8u * b;
        let j = 2u * b;
        let u0 = wq[wr.x + j]; let v0 = wq[wr.x + j + 1u];
        let u1 = wq[wr.y + j]; let v1 = wq[wr.y + j + 1u];
        let u2 = wq[wr.z + j]; let v2 = wq[wr.z + j + 1u];
        let u3 = wq[wr.w + j]; let v3 = wq[wr.w + j + 1u];
        var c = Block();
        add4(&c, xr + k, unpack8(u0.x), unpack8(u1.x), unpack8(u2.x), unpack8(u3.x));
        add4(&c, xr + k + 1u, unpack8(u0.y), unpack8(u1.y), unpack8(u2.y), unpack8(u3.y));
        add4(&c, xr + k + 2u, unpack8(u0.z), unpack8(u1.z), unpack8(u2.z), unpack8(u3.z));
        add4(&c, xr + k + 3u, unpack8(u0.w), unpack8(u1.w), unpack8(u2.w), unpack8(u3.w));
        add4(&c, xr + k + 4u, unpack8(v0.x), unpack8(v1.x), unpack8(v2.x), unpack8(v3.x));
        add4(&c, xr + k + 5u, unpack8(v0.y), unpack8(v1.y), unpack8(v2.y), unpack8(v3.y));
        add4(&c, xr + k + 6u, unpack8(v0.z), unpack8(v1.z), unpack8(v2.z), unpack8(v3.z));
        add4(&c, xr + k + 7u, unpack8(v0.w), unpack8(v1.w), unpack8(v2.w), unpack8(v3.w));
        add_scaled(&a, c, qscale(sr, b));
    }
    store_rows(t0, o0, a);
}

// Block is a thread's 4×4 block: row t0 + r of x against outputs o0…o0+3 in a_r.
struct Block { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32> }

// add4 adds to c the products of 4 values of i of the 4 weight rows (w0…w3) with the
// same values of the 4 rows of x at the vec4 offsets xo.
fn add4(c: ptr<function, Block>, xo: vec4<u32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>) {
    let x0 = x[xo.x];
    let x1 = x[xo.y];
    let x2 = x[xo.z];
    let x3 = x[xo.w];
    (*c).a0 += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
    (*c).a1 += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
    (*c).a2 += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
    (*c).a3 += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
}

// qscale is the scales of block b of the 4 Q8 weight rows whose scales start at sr.
fn qscale(sr: vec4<u32>, b: u32) -> vec4<f32> {
    return vec4<f32>(ws[sr.x + b], ws[sr.y + b], ws[sr.z + b], ws[sr.w + b]);
}

// add_scaled adds to a the sums c of one block of 32 values, times their rows' scales s.
fn add_scaled(a: ptr<function, Block>, c: Block, s: vec4<f32>) {
    (*a).a0 += c.a0 * s;
    (*a).a1 += c.a1 * s;
    (*a).a2 += c.a2 * s;
    (*a).a3 += c.a3 * s;
}

// store_rows writes a thread's block a (row t0 + r is a.a_r, its outputs o0…o0+3), plus the
// bias, within T rows and out outputs.
fn store_rows(t0: u32, o0: u32, a: Block) {
    var b = vec4<f32>();
    if (p.has_bias != 0u) {
        let last = p.y0 + p.n_out - 1u;
        b = vec4<f32>(bias[min(p.y0 + o0, last)], bias[min(p.y0 + o0 + 1u, last)],
                      bias[min(p.y0 + o0 + 2u, last)], bias[min(p.y0 + o0 + 3u, last)]);
    }
    store_row(t0, o0, a.a0 + b);
    store_row(t0 + 1u, o0, a.a1 + b);
    store_row(t0 + 2u, o0, a.a2 + b);
    store_row(t0 + 3u, o0, a.a3 + b);
}

fn store_row(t: u32, o0: u32, v: vec4<f32>) {
    if (t >= p.T) {
        return;
    }
    let base = t * p.ldy + p.y0 + o0;
    y[base] = v.x;
    if (o0 + 1u < p.n_out) {
        y[base + 1u] = v.y;
    }
    if (o0 + 2u < p.n_out) {
        y[base + 2u] = v.z;
    }
    if (o0 + 3u < p.n_out) {
        y[base + 3u] = v.w;
    }
}

// add8 is add4 for 8 weight rows: c gets w0…w3's products, d w4…w7's, from one load of
// the 4 rows of x.
fn add8(c: ptr<function, Block>, d: ptr<function, Block>, xo: vec4<u32>, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>,
        w4: vec4<f32>, w5: vec4<f32>, w6: vec4<f32>, w7: vec4<f32>) {
    let x0 = x[xo.x];
    let x1 = x[xo.y];
    let x2 = x[xo.z];
    let x3 = x[xo.w];
    (*c).a0 += vec4<f32>(dot(x0, w0), dot(x0, w1), dot(x0, w2), dot(x0, w3));
    (*c).a1 += vec4<f32>(dot(x1, w0), dot(x1, w1), dot(x1, w2), dot(x1, w3));
    (*c).a2 += vec4<f32>(dot(x2, w0), dot(x2, w1), dot(x2, w2), dot(x2, w3));
    (*c).a3 += vec4<f32>(dot(x3, w0), dot(x3, w1), dot(x3, w2), dot(x3, w3));
    (*d).a0 += vec4<f32>(dot(x0, w4), dot(x0, w5), dot(x0, w6), dot(x0, w7));
    (*d).a1 += vec4<f32>(dot(x1, w4), dot(x1, w5), dot(x1, w6), dot(x1, w7));
    (*d).a2 += vec4<f32>(dot(x2, w4), dot(x2, w5), dot(x2, w6), dot(x2, w7));
    (*d).a3 += vec4<f32>(dot(x3, w4), dot(x3, w5), dot(x3, w6), dot(x3, w7));
}

@compute @workgroup_size(64)
fn matmul_q8_rows_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) li: u32) {
    // block4's scheme with blocks of 8 outputs.
    let g = flat_group(wid, nwg) * 64u + li;
    let cols = (p.n_out + 7u) / 8u;
    let t0 = (g / cols) * 4u;
    let o0 = (g % cols) * 8u;
    if (t0 >= p.T) {
        return;
    }
    let xr = rows_x(t0);
    let oa = rows_w(o0);
    let ob = rows_w(o0 + 4u);
    let wa = oa * (p.n_in / 16u);
    let wb = ob * (p.n_in / 16u);
    let sa = oa * p.blocks;
    let sb = ob * p.blocks;
    var a = Block();
    var a2 = Block();
    for (var b = 0u; b < p.blocks; b++) {
        let k = 8u * b;
        let j = 2u * b;
        let u0 = wq[wa.x + j]; let v0 = wq[wa.x + j + 1u];
        let u1 = wq[wa.y + j]; let v1 = wq[wa.y + j + 1u];
        let u2 = wq[wa.z + j]; let v2 = wq[wa.z + j + 1u];
        let u3 = wq[wa.w + j]; let v3 = wq[wa.w + j + 1u];
        let u4 = wq[wb.x + j]; let v4 = wq[wb.x + j + 1u];
        let u5 = wq[wb.y + j]; let v5 = wq[wb.y + j + 1u];
        let u6 = wq[wb.z + j]; let v6 = wq[wb.z + j + 1u];
        let u7 = wq[wb.w + j]; let v7 = wq[wb.w + j + 1u];
        var c = Block();
        var d = Block();
        add8(&c, &d, xr + k, unpack8(u0.x), unpack8(u1.x), unpack8(u2.x), unpack8(u3.x), unpack8(u4.x), unpack8(u5.x), unpack8(u6.x), unpack8(u7.x));
        add8(&c, &d, xr + k + 1u, unpack8(u0.y), unpack8(u1.y), unpack8(u2.y), unpack8(u3.y), unpack8(u4.y), unpack8(u5.y), unpack8(u6.y), unpack8(u7.y));
        add8(&c, &d, xr + k + 2u, unpack8(u0.z), unpack8(u1.z), unpack8(u2.z), unpack8(u3.z), unpack8(u4.z), unpack8(u5.z), unpack8(u6.z), unpack8(u7.z));
        add8(&c, &d, xr + k + 3u, unpack8(u0.w), unpack8(u1.w), unpack8(u2.w), unpack8(u3.w), unpack8(u4.w), unpack8(u5.w), unpack8(u6.w), unpack8(u7.w));
        add8(&c, &d, xr + k + 4u, unpack8(v0.x), unpack8(v1.x), unpack8(v2.x), unpack8(v3.x), unpack8(v4.x), unpack8(v5.x), unpack8(v6.x), unpack8(v7.x));
        add8(&c, &d, xr + k + 5u, unpack8(v0.y), unpack8(v1.y), unpack8(v2.y), unpack8(v3.y), unpack8(v4.y), unpack8(v5.y), unpack8(v6.y), unpack8(v7.y));
        add8(&c, &d, xr + k + 6u, unpack8(v0.z), unpack8(v1.z), unpack8(v2.z), unpack8(v3.z), unpack8(v4.z), unpack8(v5.z), unpack8(v6.z), unpack8(v7.z));
        add8(&c, &d, xr + k + 7u, unpack8(v0.w), unpack8(v1.w), unpack8(v2.w), unpack8(v3.w), unpack8(v4.w), unpack8(v5.w), unpack8(v6.w), unpack8(v7.w));
        add_scaled(&a, c, qscale(sa, b));
        add_scaled(&a2, d, qscale(sb, b));
    }
    store_rows(t0, o0, a);
    if (o0 + 4u < p.n_out) {
        store_rows(t0, o0 + 4u, a2);
    }
}
