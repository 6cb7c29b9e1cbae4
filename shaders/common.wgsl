// common.wgsl — helpers prepended to every kernel module.

// q8 returns byte b (0…3) of the little-endian word w as a signed value: the int8 at
// flat index 4·word + b of a Q8 buffer. Shifts only — no unpack built-ins, no f16.
fn q8(w: u32, b: u32) -> f32 {
    return f32(bitcast<i32>(w << (24u - 8u * b)) >> 24u);
}

// unpack8 returns the four int8 values of a little-endian word as floats, lowest byte
// first (q8 of bytes 0…3).
fn unpack8(v: u32) -> vec4<f32> {
    let s = vec4<i32>(bitcast<i32>(v << 24u), bitcast<i32>(v << 16u), bitcast<i32>(v << 8u), bitcast<i32>(v));
    return vec4<f32>(s >> vec4<u32>(24u));
}

// flat_group rebuilds the workgroup index of a grid split over x and y (Batch.grid1).
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// block4 is the first row and column of the 4×4 block that thread li of a 64-thread
// workgroup computes in rows.wgsl's and factored_rows.wgsl's scheme (grid split over x
// and y: Batch.gridRows), with cols blocks of 4 columns a row of blocks: neighbouring
// threads share their rows.
fn block4(wid: vec3<u32>, nwg: vec3<u32>, li: u32, cols: u32) -> vec2<u32> {
    let g = flat_group(wid, nwg) * 64u + li;
    return vec2<u32>((g / cols) * 4u, (g % cols) * 4u);
}

// Note for every kernel: gogpu's naga zero-initializes a `var x: T;` without an
// initializer once per invocation, not each time the declaration runs (WGSL says each
// time); inside loops, write `var x = T();`.
