// svf.wgsl — the singular-value scales of SVF experts, one row per candidate z:
//
//   Sc[p, k] = σ[k] · Z[p, k] · c_p,   c_p = Σ_k σ[k] / Σ_k σ[k]·Z[p, k]  (1 when that is 0)
//
// (ARCHITECTURE §1: the factor keeps the nuclear norm; a uniform z gives Sc = σ.) The
// rows feed recompose (P = 1) and factored (one row per CEM candidate).
//
// Bindings: 0 Params {R, P}; 1 sigma f32 [R] (read); 2 z f32 [P, R] (read);
//   3 sc f32 [P, R] (write).
// Workgroup: WG threads per candidate p (grid x = P), both sums reduced in workgroup
// memory.
// Overrides: WG (power of two, default 256).
// Twin: float64 in the tests; svf's expert application.

override WG: u32 = 256u;

struct Params { R: u32, P: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sigma: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc: array<f32>;

var<workgroup> red_s: array<f32, WG>;
var<workgroup> red_sz: array<f32, WG>;

@compute @workgroup_size(WG)
fn svf_scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let row = wid.x * p.R;
    var a = 0.0;
    var b = 0.0;
    for (var k = li; k < p.R; k += WG) {
        a += sigma[k];
        b += sigma[k] * z[row + k];
    }
    red_s[li] = a;
    red_sz[li] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            red_s[li] += red_s[li + s];
            red_sz[li] += red_sz[li + s];
        }
        workgroupBarrier();
    }
    let c = select(1.0, red_s[0] / red_sz[0], red_sz[0] != 0.0); // svf.NuclearScale: 1 when Σσz = 0
    for (var k = li; k < p.R; k += WG) {
        sc[row + k] = sigma[k] * z[row + k] * c;
    }
}
