package shaders

var kRMSNorm = &kernelDef{files: []string{"common.wgsl", "rmsnorm.wgsl"}, entry: "rmsnorm", binds: "rrw"}

// RMSNorm records dst[T,D] = rows of x[T,D] normalised by their root mean square and
// scaled by w[D] (model.RMSNorm). dst must not be x.
func (b *Batch) RMSNorm(dst, x, w *Buffer, T, D int, eps float64) {
	checkF32("RMSNorm", "dst", dst, T*D)
	checkF32("RMSNorm", "x", x, T*D)
	checkF32("RMSNorm", "w", w, D)
	gx, gy := b.grid1(T)
	var o overrides
	if b.d.cpuLayout() {
		// A thread a row: the reduction's barriers cost more than the sum on CPU adapters.
		o = overrides{"WG": 1}
	}
	b.dispatch(kRMSNorm, o, []uint32{uint32(T), uint32(D), f32(eps)}, []*Buffer{x, w, dst}, gx, gy, 1)
}
