package shaders

import "fmt"

var (
	kEmbedF32 = &kernelDef{files: []string{"common.wgsl", "embed.wgsl"}, entry: "embed_f32", binds: "rr--w"}
	kEmbedQ8  = &kernelDef{files: []string{"common.wgsl", "embed.wgsl"}, entry: "embed_q8", binds: "r-rrw"}
)

// Embed records dst[T,D] = rows tokens[T] (u32) of table[V,D]; ids ≥ V give zeros.
func (b *Batch) Embed(dst, table, tokens *Buffer, T, D, V int) {
	b.EmbedPart(dst, table, tokens, T, D, V, 0, false)
}

// EmbedPart records the gather from one part of a table split by rows, table [V,D]
// holding rows base…base+V−1: dst[t] = table[tokens[t]−base] for the tokens it holds.
// With keep the other rows of dst are left as they are (every part writes its own);
// without, they become zeros.
func (b *Batch) EmbedPart(dst, table, tokens *Buffer, T, D, V, base int, keep bool) {
	checkF32("Embed", "dst", dst, T*D)
	checkF32("Embed", "table", table, V*D)
	checkF32("Embed", "tokens", tokens, T)
	b.dispatch(kEmbedF32, nil, []uint32{uint32(T), uint32(D), uint32(V), 0, uint32(base), b2u(keep)},
		[]*Buffer{tokens, table, dst}, ceilDiv(D, 64), T, 1)
}

// EmbedQ8 records dst[T,D] = rows tokens[T] of the Q8 table[V,D], dequantised.
func (b *Batch) EmbedQ8(dst *Buffer, table Q8, tokens *Buffer, T int) {
	b.EmbedQ8Part(dst, table, tokens, T, 0, false)
}

// EmbedQ8Part is EmbedPart for a Q8 part table [V,D] holding rows base…base+V−1.
func (b *Batch) EmbedQ8Part(dst *Buffer, table Q8, tokens *Buffer, T, base int, keep bool) {
	V, D := table.Rows, table.Cols
	checkF32("EmbedQ8", "dst", dst, T*D)
	checkWhole("EmbedQ8", "table", table)
	checkF32("EmbedQ8", "tokens", tokens, T)
	b.dispatch(kEmbedQ8, nil, []uint32{uint32(T), uint32(D), uint32(V), uint32(table.Blocks()), uint32(base), b2u(keep)},
		[]*Buffer{tokens, table.Q, table.Scale, dst}, ceilDiv(D, 64), T, 1)
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}

// checkF32 panics when buf holds fewer than n 4-byte elements.
func checkF32(op, name string, buf *Buffer, n int) {
	if buf == nil || buf.size < uint64(4*n) {
		size := uint64(0)
		if buf != nil {
			size = buf.size
		}
		panic(fmt.Sprintf("shaders: %s: %s has %d bytes, shape needs %d elements (%d bytes)", op, name, size, n, 4*n))
	}
}

// checkQ8 panics when x's buffers are smaller than its shape.
func checkQ8(op, name string, x Q8) {
	n := x.Row0 + x.Rows
	if x.Q == nil || x.Scale == nil || x.Row0 < 0 || x.Q.size < uint64(n*x.Cols) || x.Scale.size < uint64(4*n*x.Blocks()) {
		panic(fmt.Sprintf("shaders: %s: Q8 %s [%d,%d] (from row %d) has buffers too small or nil", op, name, x.Rows, x.Cols, x.Row0))
	}
}

// checkWhole panics when x is a view of rows of larger buffers, which op does not take.
func checkWhole(op, name string, x Q8) {
	checkQ8(op, name, x)
	if x.Row0 != 0 {
		panic(fmt.Sprintf("shaders: %s: Q8 %s is a view from row %d; %s takes whole matrices", op, name, x.Row0, op))
	}
}
