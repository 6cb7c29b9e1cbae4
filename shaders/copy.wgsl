// copy.wgsl — plain copy, the memory-bandwidth yardstick of the benchmarks.
//
//   dst[i] = src[i],  i < n   (n vec4<u32> words = 16·n bytes)
//
// Bindings: 0 Params {n}; 1 src vec4<u32> [n] (read); 2 dst vec4<u32> [n] (write).
// Workgroup: WG threads, one element each; grid split over x, y (Batch.grid1).
// Overrides: WG (default 256).
// Twin: Go's copy.

override WG: u32 = 256u;

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(WG)
fn copy_words(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wid, nwg) * WG + li;
    if (i < p.n) {
        dst[i] = src[i];
    }
}
