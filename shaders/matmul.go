package shaders

import "fmt"

// MatVecRows is the largest T for which MatMul and MatMulQ8 use the matvec kernels
// (weights streamed once per 8 rows); larger batches use the tiled kernels on a GPU and
// rows.wgsl's on a CPU adapter (matKernel).
const MatVecRows = 8

var (
	gemmFiles     = []string{"common.wgsl", "gemm.wgsl"}
	kMatVec       = &kernelDef{files: append(gemmFiles[:2:2], "matmul.wgsl"), entry: "matvec", binds: "rrrw"}
	kMatMul       = &kernelDef{files: append(gemmFiles[:2:2], "matmul.wgsl"), entry: "matmul", binds: "rrrw"}
	kMatVecQ8     = &kernelDef{files: append(gemmFiles[:2:2], "matmul_q8.wgsl"), entry: "matvec_q8", binds: "rrrrw"}
	kMatMulQ8     = &kernelDef{files: append(gemmFiles[:2:2], "matmul_q8.wgsl"), entry: "matmul_q8", binds: "rrrrw"}
	kMatMulRows   = &kernelDef{files: []string{"common.wgsl", "rows.wgsl"}, entry: "matmul_rows", binds: "rrrw--"}
	kMatMulQ8Rows = &kernelDef{files: []string{"common.wgsl", "rows.wgsl"}, entry: "matmul_q8_rows", binds: "r-rwrr"}
	kMatMulQ8Wide = &kernelDef{files: []string{"common.wgsl", "rows.wgsl"}, entry: "matmul_q8_rows_wide", binds: "r-rwrr"}
	gemmTile      = 64
	noOverrides   overrides
)

// matvecTuning picks the matvec kernels' layout for an adapter: on a GPU, 4 rows of 64
// threads each (a reduction in workgroup memory); on a CPU adapter (lavapipe, where
// every barrier costs tens of µs per workgroup) one thread per row and no barrier:
// measured 0.05 → 3.5 GB/s on an 8192×2048 f32 matvec.
func matvecTuning(cpu bool) overrides {
	if cpu {
		return overrides{"RPW": 64, "LANES": 1}
	}
	return overrides{"RPW": 4, "LANES": 64}
}

// matKernel is the kernel a matmul of a batch takes.
type matKernel int

const (
	kernMatVec matKernel = iota // matmul.wgsl's matvec: a few rows
	kernTiled                   // gemm.wgsl's 64×64 tiles: batches on a GPU
	kernRows                    // rows.wgsl's 4×4 blocks a thread (Q8 in 4×8 with Device.rowsWide): batches on a CPU adapter
)

// rowsVec4 says whether rows.wgsl's f32 kernel (and factored_rows.wgsl) can read rows
// of n values: they load vec4.
func rowsVec4(n int) bool { return n%4 == 0 }

// rowsQ8 says whether rows.wgsl's Q8 kernel can read rows of n values: whole blocks of
// 32, as two vec4<u32>.
func rowsQ8(n int) bool { return n%32 == 0 }

// matKernel picks the kernel for T rows: matvec for a few rows; for more, the tiles on a
// GPU and, on a CPU adapter, rows.wgsl's register blocks when its loads can read the
// weight's rows (rowsOK: rowsVec4 or rowsQ8 of in; the matvec kernel otherwise). On
// lavapipe the tiles' barriers made the first pass's prompt of 47 rows cost more than
// its answer's decode steps.
func (b *Batch) matKernel(T int, rowsOK bool) matKernel {
	switch {
	case T > 1 && b.d.cpuLayout() && rowsOK:
		return kernRows
	case T <= MatVecRows || b.d.cpuLayout():
		return kernMatVec
	}
	return kernTiled
}

// matvec returns the overrides for T rows of x — one row (decode) or passes of 8 —
// and the output rows per workgroup.
func (b *Batch) matvec(T int) (overrides, int) {
	o := overrides{"TB": 8}
	if T == 1 {
		o["TB"] = 1
	}
	for k, v := range b.d.matvec {
		o[k] = v
	}
	return o, int(o["RPW"])
}

// MatMul records y[T,out] = x[T,in]·w[out,in]ᵀ, plus bias[out] on every row when bias
// is not nil (model.MatMul). y must not be x.
func (b *Batch) MatMul(y, x, w, bias *Buffer, T, in, out int) {
	checkF32("MatMul", "y", y, T*out)
	checkF32("MatMul", "x", x, T*in)
	checkF32("MatMul", "w", w, out*in)
	b.matMul(y, x, w, bias, T, in, out, b.matKernel(T, rowsVec4(in)))
}

func (b *Batch) matMul(y, x, w, bias *Buffer, T, in, out int, k matKernel) {
	b.matMulAt(y, x, w, 0, bias, T, in, out, out, 0, k)
}

// MatMulPart records y[t, y0+o] = x[T,in]·w[rows,in]ᵀ (+ bias[y0+o]) for o < rows, in
// y [T, ldy]: the part of a weight split by rows that holds output rows y0…y0+rows−1
// writing its columns of the output. y must not be x.
func (b *Batch) MatMulPart(y, x, w, bias *Buffer, T, in, rows, ldy, y0 int) {
	checkPart("MatMulPart", y, bias, T, rows, ldy, y0)
	checkF32("MatMulPart", "x", x, T*in)
	checkF32("MatMulPart", "w", w, rows*in)
	b.matMulAt(y, x, w, 0, bias, T, in, rows, ldy, y0, b.matKernel(T, rowsVec4(in)))
}

// MatMulLinear records MatMulPart for the f32 or Q8 weight w, rows Row0… of its buffers
// (a matrix stacked with others in one buffer), writing columns y0… of y [T, ldy].
func (b *Batch) MatMulLinear(y, x *Buffer, w Linear, bias *Buffer, T, ldy, y0 int) {
	if w.F == nil {
		b.MatMulQ8Part(y, x, w.Q, bias, T, ldy, y0)
		return
	}
	checkPart("MatMulLinear", y, bias, T, w.Rows, ldy, y0)
	checkF32("MatMulLinear", "x", x, T*w.Cols)
	checkF32("MatMulLinear", "w", w.F, (w.Row0+w.Rows)*w.Cols)
	b.matMulAt(y, x, w.F, w.Row0, bias, T, w.Cols, w.Rows, ldy, y0, b.matKernel(T, rowsVec4(w.Cols)))
}

// checkPart panics unless columns y0…y0+rows−1 lie within y [T, ldy] and bias.
func checkPart(op string, y, bias *Buffer, T, rows, ldy, y0 int) {
	if y0 < 0 || rows < 0 || y0+rows > ldy {
		panic(fmt.Sprintf("shaders: %s: columns %d…%d of rows %d wide", op, y0, y0+rows-1, ldy))
	}
	checkF32(op, "y", y, T*ldy)
	if bias != nil {
		checkF32(op, "bias", bias, ldy)
	}
}

func (b *Batch) matMulAt(y, x, w *Buffer, w0 int, bias *Buffer, T, in, out, ldy, y0 int, k matKernel) {
	hasBias, bb := b.bias("MatMul", bias, y0+out)
	params := []uint32{uint32(T), uint32(in), uint32(out), hasBias, uint32(ldy), uint32(y0), uint32(w0)}
	bufs := []*Buffer{x, w, bb, y}
	switch k {
	case kernMatVec:
		o, rpw := b.matvec(T)
		gx, gy := b.grid1(ceilDiv(out, rpw))
		b.dispatch(kMatVec, o, params, bufs, gx, gy, 1)
	case kernRows: // no wide f32 kernel
		gx, gy := b.gridRows(T, out, 4)
		b.dispatch(kMatMulRows, noOverrides, append(params, 0), bufs, gx, gy, 1)
	default:
		b.dispatch(kMatMul, noOverrides, params, bufs, ceilDiv(out, gemmTile), ceilDiv(T, gemmTile), 1)
	}
}

// gridRows is the grid of rows.wgsl's kernels (and factored_rows.wgsl's) for T rows and
// out outputs: a thread a block of 4 rows × cols outputs (4, or 8 for the wide entry),
// 64 threads a workgroup.
func (b *Batch) gridRows(T, out, cols int) (gx, gy int) {
	return b.grid1(ceilDiv(ceilDiv(T, 4)*ceilDiv(out, cols), 64))
}

// MatMulQ8 records y[T,out] = x[T,in]·wᵀ with the Q8 weight w [out,in], plus
// bias[out] when bias is not nil. y must not be x.
func (b *Batch) MatMulQ8(y, x *Buffer, w Q8, bias *Buffer, T int) {
	out, in := w.Rows, w.Cols
	checkF32("MatMulQ8", "y", y, T*out)
	checkF32("MatMulQ8", "x", x, T*in)
	checkQ8("MatMulQ8", "w", w)
	b.matMulQ8(y, x, w, bias, T, b.matKernel(T, rowsQ8(in)))
}

func (b *Batch) matMulQ8(y, x *Buffer, w Q8, bias *Buffer, T int, k matKernel) {
	b.matMulQ8At(y, x, w, bias, T, w.Rows, 0, k)
}

// MatMulQ8Part records y[t, y0+o] = x[T,in]·wᵀ (+ bias[y0+o]) for the Q8 part
// w [rows,in] of a weight split by rows, in y [T, ldy] (see MatMulPart).
func (b *Batch) MatMulQ8Part(y, x *Buffer, w Q8, bias *Buffer, T, ldy, y0 int) {
	checkPart("MatMulQ8Part", y, bias, T, w.Rows, ldy, y0)
	checkF32("MatMulQ8Part", "x", x, T*w.Cols)
	checkQ8("MatMulQ8Part", "w", w)
	b.matMulQ8At(y, x, w, bias, T, ldy, y0, b.matKernel(T, rowsQ8(w.Cols)))
}

func (b *Batch) matMulQ8At(y, x *Buffer, w Q8, bias *Buffer, T, ldy, y0 int, k matKernel) {
	out, in := w.Rows, w.Cols
	hasBias, bb := b.bias("MatMulQ8", bias, y0+out)
	if k == kernRows {
		// rows.wgsl's Params order: the weight's first row, then its blocks.
		params := []uint32{uint32(T), uint32(in), uint32(out), hasBias, uint32(ldy), uint32(y0), uint32(w.Row0), uint32(w.Blocks())}
		def, cols := kMatMulQ8Rows, 4 // outputs a thread
		if b.d.rowsWide {
			def, cols = kMatMulQ8Wide, 8
		}
		gx, gy := b.gridRows(T, out, cols)
		b.dispatch(def, noOverrides, params, []*Buffer{x, bb, y, w.Q, w.Scale}, gx, gy, 1)
		return
	}
	params := []uint32{uint32(T), uint32(in), uint32(out), hasBias, uint32(w.Blocks()), uint32(ldy), uint32(y0), uint32(w.Row0)}
	bufs := []*Buffer{x, w.Q, w.Scale, bb, y}
	if k == kernMatVec {
		o, rpw := b.matvec(T)
		gx, gy := b.grid1(ceilDiv(out, rpw))
		b.dispatch(kMatVecQ8, o, params, bufs, gx, gy, 1)
		return
	}
	b.dispatch(kMatMulQ8, noOverrides, params, bufs, ceilDiv(out, gemmTile), ceilDiv(T, gemmTile), 1)
}

func (b *Batch) bias(op string, bias *Buffer, out int) (uint32, *Buffer) {
	if bias == nil {
		return 0, b.d.dummy
	}
	checkF32(op, "bias", bias, out)
	return 1, bias
}
