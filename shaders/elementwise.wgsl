// elementwise.wgsl — the MLP's gated activation and the residual add.
//
//   swiglu:  dst[i] = silu(gate[i]) · up[i] = gate[i] / (1 + exp(−gate[i])) · up[i]
//   add:     acc[i] += src[i]                 (residual: x += sub-layer output)
//
// Bindings (a binding number per variable; each entry uses its own):
//   0 Params {n}
//   1 gate f32 [n] (read), 2 up f32 [n] (read), 3 dst f32 [n] (write)     swiglu
//   4 src f32 [n] (read), 5 acc f32 [n] (read_write)                      add
// Workgroup: WG threads, one element each; grid split over x, y.
// Overrides: WG (default 256).
// Twins: model.SwiGLU; the add of model.CPU.Forward (axpy with a = 1).

override WG: u32 = 256u;

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> src: array<f32>;
@group(0) @binding(5) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(WG)
fn swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wid, nwg) * WG + li;
    if (i < p.n) {
        let g = gate[i];
        dst[i] = g / (1.0 + exp(-g)) * up[i];
    }
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wid, nwg) * WG + li;
    if (i < p.n) {
        acc[i] += src[i];
    }
}
