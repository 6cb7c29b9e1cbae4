// embed.wgsl — embedding gather: the rows of a table picked by token ids.
//
//   dst[t, d] = table[tokens[t], d]                        (embed_f32)
//   dst[t, d] = q[tokens[t], d] · scale[tokens[t], d/32]   (embed_q8)
//
// A table split by rows is gathered part by part: a part holding rows base…base+V−1
// takes tokens[t] − base, and with keep ≠ 0 leaves alone the rows of dst whose token is
// in another part (base = 0, keep = 0 for a whole table).
//
// Bindings:
//   0 Params {T, D, V, blocks = ceil(D/32), base, keep}
//   1 tokens u32 [T] (read); ids ≥ base + V (or < base) give a zero row, or none with keep
//   2 table f32 [V, D] (read)                        embed_f32 only
//   3 q     u32 [ceil(V·D/4)] int8 packed (read)     embed_q8 only
//   4 scale f32 [V, blocks] (read)                   embed_q8 only
//   5 dst   f32 [T, D] (write)
// Workgroup: WG threads along d; grid x = ceil(D/WG), y = T.
// Overrides: WG (default 64).
// Twin: copy of rows (model.CPU.Forward's embedding step); Q8 via q·scale in float64.

override WG: u32 = 64u;

struct Params { T: u32, D: u32, V: u32, blocks: u32, base: u32, keep: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> q: array<u32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn embed_f32(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d = gid.x;
    let t = gid.y;
    if (d >= p.D || t >= p.T) {
        return;
    }
    let tok = tokens[t] - p.base; // below base: wraps past V
    var v = 0.0;
    if (tok < p.V) {
        v = table[tok * p.D + d];
    } else if (p.keep != 0u) {
        return;
    }
    dst[t * p.D + d] = v;
}

@compute @workgroup_size(WG)
fn embed_q8(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d = gid.x;
    let t = gid.y;
    if (d >= p.D || t >= p.T) {
        return;
    }
    let tok = tokens[t] - p.base; // below base: wraps past V
    var v = 0.0;
    if (tok < p.V) {
        let i = tok * p.D + d;
        v = q8(q[i >> 2u], i & 3u) * scale[tok * p.blocks + d / 32u];
    } else if (p.keep != 0u) {
        return;
    }
    dst[t * p.D + d] = v;
}
