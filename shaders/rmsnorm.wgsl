// rmsnorm.wgsl — RMS normalisation of rows.
//
//   dst[t, i] = x[t, i] · (1/sqrt(mean_i(x[t, i]²) + eps)) · w[i]
//
// Bindings: 0 Params {T, D, eps}; 1 x f32 [T, D] (read); 2 w f32 [D] (read);
//           3 dst f32 [T, D] (write; must not alias x).
// Workgroup: one per row t (grid split over x, y), WG threads striding over D, tree
// reduction of the sum of squares in workgroup memory.
// Overrides: WG (power of two, default 256).
// Twin: model.RMSNorm (sums in float64; here f32).

override WG: u32 = 256u;

struct Params { T: u32, D: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let t = flat_group(wid, nwg);
    let row = min(t, p.T - 1u) * p.D; // out-of-range groups compute a row, then skip the store
    var ss = 0.0;
    for (var i = li; i < p.D; i += WG) {
        let v = x[row + i];
        ss += v * v;
    }
    red[li] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            red[li] += red[li + s];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(red[0] / f32(p.D) + p.eps);
    if (t >= p.T) {
        return;
    }
    for (var i = li; i < p.D; i += WG) {
        dst[row + i] = x[row + i] * scale * w[i];
    }
}
