//go:build js && wasm

package simd

import (
	"fmt"
	"unsafe"

	"github.com/t2web/t2web/model"
)

// The kernel module's functions, as web/worker.js provides them in the import object
// under "t2simd": level says which modules the browser validated, use picks one, and the
// rest forward to its exports.

//go:wasmimport t2simd level
func level() int32

//go:wasmimport t2simd use
func use(level int32) int32

//go:wasmimport t2simd workers
func workers() int32

//go:wasmimport t2simd matmul_q8
//go:noescape
func matmulQ8(y, xq, xs, wq, ws, bias unsafe.Pointer, T, nb, out, lo, hi int32, sums unsafe.Pointer)

//go:wasmimport t2simd matmul_f32
//go:noescape
func matmulF32(y, x, w, b unsafe.Pointer, T, in, out, lo, hi int32)

//go:wasmimport t2simd scores
//go:noescape
func scores(sc, q, k unsafe.Pointer, n, stride, dh int32, scale float32)

//go:wasmimport t2simd quantize_q8
//go:noescape
func quantizeQ8(q, s, x unsafe.Pointer, rows, nb int32)

//go:wasmimport t2simd swiglu
//go:noescape
func swiglu(dst, gate, up unsafe.Pointer, n int32)

//go:wasmimport t2simd softmax
//go:noescape
func softmax(x unsafe.Pointer, n int32)

//go:wasmimport t2simd block_max
//go:noescape
func blockMax(dst, x unsafe.Pointer, nb int32)

//go:wasmimport t2simd mix
//go:noescape
func mix(out, p, v unsafe.Pointer, n, stride, dh int32)

// Level is the best kernel level the browser runs (LevelNone … LevelRelaxedU8).
func Level() int { return int(level()) }

// Workers is how many workers share the modules' matmuls: 2 where the page is
// cross-origin isolated and the machine has two cores or more (goworker.js runs the
// program on a shared memory, and a second worker runs the kernels on it), else 1.
func Workers() int { return int(workers()) }

// names are the kernel modules' Names, by level.
var names = map[int]string{LevelSIMD: "simd128", LevelRelaxed: "simd128-relaxed", LevelRelaxedU8: "simd128-relaxed-u8"}

// Pick returns the kernels a page's ?kernels= names, by their Name: "" for the best
// module the browser runs (Go's without one), "go" for model.GoKernels, "simd128",
// "simd128-relaxed" or "simd128-relaxed-u8" for a module (an error when the browser
// lacks it).
func Pick(name string) (model.Kernels, error) {
	if name == "" {
		if Level() == LevelNone {
			return model.GoKernels{}, nil
		}
		return New(Level())
	}
	if name == (model.GoKernels{}).Name() {
		return model.GoKernels{}, nil
	}
	for l, n := range names {
		if n == name {
			return New(l)
		}
	}
	return nil, fmt.Errorf("kernels=%s: want go, simd128, simd128-relaxed or simd128-relaxed-u8", name)
}

// Kernels call the kernel module of one level; see model.Kernels.
type Kernels struct {
	level int
	sums  []int32 // matmul_q8's scratch: 128·Σx of each block of x (the u8 module)
}

// New selects the kernel module of the given level (LevelSIMD, LevelRelaxed or
// LevelRelaxedU8); an error when the browser does not run it.
func New(l int) (*Kernels, error) {
	if _, ok := names[l]; !ok {
		return nil, fmt.Errorf("simd: kernel level %d, want %d, %d or %d", l, LevelSIMD, LevelRelaxed, LevelRelaxedU8)
	}
	if use(int32(l)) == 0 {
		why := "did not validate it"
		if l == LevelRelaxedU8 {
			why = "has relaxed SIMD whose dot product does not read unsigned 8-bit exactly (probe_u8)"
		}
		return nil, fmt.Errorf("simd: the browser %s: no %s kernel module (its best is level %d)", why, Files[l], Level())
	}
	return &Kernels{level: l}, nil
}

func (k *Kernels) Name() string { return names[k.level] }

func ptr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

func (k *Kernels) Quantize(q *model.Q8, x []float32) {
	if q.Rows == 0 {
		return
	}
	if q.Cols%model.Q8Block != 0 {
		// The kernel quantises whole blocks: it takes each row's, Go the short last
		// block (the same rule). Ranks of packs with an exact rank are often such.
		full, nb, stride := q.Cols/model.Q8Block, q.Blocks(), q.Stride()
		_ = x[q.Rows*q.Cols-1]
		_ = q.Q[q.Rows*stride-1]
		for i := range q.Rows {
			row, qr, sr := x[i*q.Cols:(i+1)*q.Cols], q.Q[i*stride:(i+1)*stride], q.Scale[i*nb:(i+1)*nb]
			if full > 0 {
				quantizeQ8(ptr(qr), ptr(sr), ptr(row), 1, int32(full))
			}
			model.QuantizeQ8Row(qr[full*model.Q8Block:], sr[full:], row[full*model.Q8Block:])
		}
		return
	}
	_ = x[q.Rows*q.Cols-1]
	_ = q.Q[q.Rows*q.Stride()-1]
	quantizeQ8(ptr(q.Q), ptr(q.Scale), ptr(x), int32(q.Rows), int32(q.Blocks()))
}

func (k *Kernels) SwiGLU(dst, gate, up []float32) {
	n := len(gate) &^ 3
	if n > 0 {
		_, _ = dst[n-1], up[n-1]
		swiglu(ptr(dst), ptr(gate), ptr(up), int32(n))
	}
	model.GoKernels{}.SwiGLU(dst[n:len(gate)], gate[n:], up[n:len(gate)]) // the same rule
}

func (k *Kernels) Softmax(x []float32) {
	if len(x) > 0 {
		softmax(ptr(x), int32(len(x)))
	}
}

func (k *Kernels) BlockMax(dst, x []float32) {
	full := len(x) / model.MaxBlock
	if full > 0 {
		_ = dst[full-1]
		blockMax(ptr(dst), ptr(x), int32(full))
	}
	if full < len(dst) { // a short last block: Go's, the same maximum
		model.GoKernels{}.BlockMax(dst[full:], x[full*model.MaxBlock:])
	}
}

func (k *Kernels) MatMulQ8(y []float32, x, w *model.Q8, bias []float32, lo, hi int) {
	if lo >= hi || x.Rows == 0 {
		return
	}
	_ = y[(x.Rows-1)*w.Rows+hi-1] // bounds, as Go's kernels would panic
	var sums unsafe.Pointer
	if k.level == LevelRelaxedU8 {
		// The last blocks' step reads four sums from any block: three more keep it
		// inside. Twice that: the second half is the second worker's, when one runs the
		// upper output rows (goworker.js).
		if n := 2 * (x.Rows*w.Blocks() + 3); len(k.sums) < n {
			k.sums = make([]int32, n)
		}
		sums = ptr(k.sums)
	}
	matmulQ8(ptr(y), ptr(x.Q), ptr(x.Scale), ptr(w.Q), ptr(w.Scale), ptr(bias),
		int32(x.Rows), int32(w.Blocks()), int32(w.Rows), int32(lo), int32(hi), sums)
}

func (k *Kernels) MatMulF32(y, x, w, b []float32, T, in, out, lo, hi int) {
	if lo >= hi || T == 0 {
		return
	}
	_ = y[(T-1)*out+hi-1]
	_ = x[T*in-1]
	_ = w[hi*in-1]
	matmulF32(ptr(y), ptr(x), ptr(w), ptr(b), int32(T), int32(in), int32(out), int32(lo), int32(hi))
}

func (k *Kernels) Scores(sc, q, kc []float32, n, stride int, scale float32) {
	if n == 0 {
		return
	}
	_ = sc[n-1]
	_ = kc[(n-1)*stride+len(q)-1]
	scores(ptr(sc), ptr(q), ptr(kc), int32(n), int32(stride), int32(len(q)), scale)
}

func (k *Kernels) Mix(out, p, v []float32, n, stride int) {
	if n == 0 {
		clear(out)
		return
	}
	_ = p[n-1]
	_ = v[(n-1)*stride+len(out)-1]
	mix(ptr(out), ptr(p), ptr(v), int32(n), int32(stride), int32(len(out)))
}
