package shaders

var (
	kSwiGLU = &kernelDef{files: []string{"common.wgsl", "elementwise.wgsl"}, entry: "swiglu", binds: "rrw"}
	kAdd    = &kernelDef{files: []string{"common.wgsl", "elementwise.wgsl"}, entry: "add", binds: "---rw"}
)

// SwiGLU records dst[n] = silu(gate[n]) ⊙ up[n] (model.SwiGLU); dst must not be gate
// or up.
func (b *Batch) SwiGLU(dst, gate, up *Buffer, n int) {
	checkF32("SwiGLU", "dst", dst, n)
	checkF32("SwiGLU", "gate", gate, n)
	checkF32("SwiGLU", "up", up, n)
	gx, gy := b.grid1(ceilDiv(n, 256))
	b.dispatch(kSwiGLU, nil, []uint32{uint32(n)}, []*Buffer{gate, up, dst}, gx, gy, 1)
}

// Add records acc[n] += src[n], the residual connection.
func (b *Batch) Add(acc, src *Buffer, n int) {
	checkF32("Add", "acc", acc, n)
	checkF32("Add", "src", src, n)
	gx, gy := b.grid1(ceilDiv(n, 256))
	b.dispatch(kAdd, nil, []uint32{uint32(n)}, []*Buffer{src, acc}, gx, gy, 1)
}
