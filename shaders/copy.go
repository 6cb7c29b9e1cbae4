package shaders

import "fmt"

var kCopy = &kernelDef{files: []string{"common.wgsl", "copy.wgsl"}, entry: "copy_words", binds: "rw"}

// Copy records dst[0:n] = src[0:n] for n bytes (a multiple of 16) with the copy kernel.
func (b *Batch) Copy(dst, src *Buffer, n int) {
	if n%16 != 0 || uint64(n) > src.size || uint64(n) > dst.size {
		panic(fmt.Sprintf("shaders: Copy: %d bytes from %q (%d) to %q (%d): not a multiple of 16 or too large", n, src.label, src.size, dst.label, dst.size))
	}
	const wg = 256
	gx, gy := b.grid1(ceilDiv(n/16, wg))
	b.dispatch(kCopy, nil, []uint32{uint32(n / 16)}, []*Buffer{src, dst}, gx, gy, 1)
}
