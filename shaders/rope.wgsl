// rope.wgsl — rotary position embedding of the query and key heads, in place, in
// Hugging Face's rotate_half layout (element i pairs with i + Dh/2 of the same head).
//
//   (a, b) = (x[t, h, i], x[t, h, i + half]),  c, s = cs[pos[t], i]
//   x[t, h, i]        = a·c − b·s
//   x[t, h, i + half] = b·c + a·s          for q (H heads) and k (Hkv heads)
//
// The cos/sin table is computed on the host in float64 from model.Config.InvFreq()
// (so llama3 and linear scaling come from the config) and rounded to f32, exactly as
// model.NewRope does: a GPU's f32 sin/cos of pos·inv_freq would be off by up to ~1e-4
// at pos ~ 4096.
//
// Bindings:
//   0 Params {T, H, Hkv, half = Dh/2, S}
//   1 pos u32 [T] (read); rows with pos ≥ S are left alone
//   2 cs  f32 [S, half, 2] (read): (cos, sin) of pos·inv_freq[i]   (RopeTable)
//   3 q   f32 [T, H·Dh] (read_write)
//   4 k   f32 [T, Hkv·Dh] (read_write)
// Workgroup: WG threads, one (t, head, i) pair each; grid split over x, y.
// Overrides: WG (default 64).
// Twin: model.Rope.Apply.

override WG: u32 = 64u;

struct Params { T: u32, H: u32, Hkv: u32, half: u32, S: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pos: array<u32>;
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read_write> k: array<f32>;

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let heads = p.H + p.Hkv;
    let g = flat_group(wid, nwg) * WG + li;
    if (g >= p.T * heads * p.half) {
        return;
    }
    let i = g % p.half;
    let h = (g / p.half) % heads;
    let t = g / (p.half * heads);
    let ps = pos[t];
    if (ps >= p.S) {
        return;
    }
    let r = cs[ps * p.half + i];
    let dh = 2u * p.half;
    if (h < p.H) {
        let o = t * p.H * dh + h * dh + i;
        let a = q[o];
        let b = q[o + p.half];
        q[o] = a * r.x - b * r.y;
        q[o + p.half] = b * r.x + a * r.y;
    } else {
        let o = t * p.Hkv * dh + (h - p.H) * dh + i;
        let a = k[o];
        let b = k[o + p.half];
        k[o] = a * r.x - b * r.y;
        k[o + p.half] = b * r.x + a * r.y;
    }
}
