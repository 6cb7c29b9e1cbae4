package simd

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/kerneltest"
)

// memoryModule is a module that only exports a memory of pages 64 KiB pages as "mem":
// Go's memory, as the kernel module sees it in the page.
func memoryModule(pages int) []byte {
	b := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	b = section(b, 5, uleb([]byte{1, 0}, uint64(pages)))
	b = section(b, 7, append(name([]byte{1}, "mem"), 2, 0))
	return b
}

// wazeroKernels runs the kernel module in wazero (SIMD128; wazero has no relaxed SIMD):
// every call copies its operands into the module's memory and the result back.
type wazeroKernels struct {
	t   testing.TB
	ctx context.Context
	mem api.Memory
	fns map[string]api.Function
	top uint32 // bump allocator
}

func newWazero(t testing.TB, level int) *wazeroKernels {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	t.Cleanup(func() { r.Close(ctx) })
	env, err := r.InstantiateWithConfig(ctx, memoryModule(512), wazero.NewModuleConfig().WithName("env"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.InstantiateWithConfig(ctx, Module(level), wazero.NewModuleConfig().WithName("kernels"))
	if err != nil {
		t.Fatalf("the kernel module: %v", err)
	}
	w := &wazeroKernels{t: t, ctx: ctx, mem: env.Memory(), fns: map[string]api.Function{}}
	for _, n := range []string{"matmul_q8", "matmul_f32", "scores", "mix", "quantize_q8", "swiglu", "softmax", "block_max"} {
		w.fns[n] = k.ExportedFunction(n)
	}
	return w
}

func (w *wazeroKernels) Name() string { return "simd128 in wazero" }

func (w *wazeroKernels) alloc(n int) uint32 {
	p := (w.top + 15) &^ 15
	w.top = p + uint32(n)
	if w.top > w.mem.Size() {
		w.t.Fatalf("wazero memory: %d bytes asked, %d in all", w.top, w.mem.Size())
	}
	return p
}

func (w *wazeroKernels) f32s(x []float32) uint32 {
	if x == nil {
		return 0
	}
	p := w.alloc(4*len(x) + 16)
	for i, v := range x {
		w.mem.WriteUint32Le(p+uint32(4*i), math.Float32bits(v))
	}
	return p + 16*0
}

func (w *wazeroKernels) i8s(x []int8) uint32 {
	p := w.alloc(len(x))
	b := make([]byte, len(x))
	for i, v := range x {
		b[i] = byte(v)
	}
	w.mem.Write(p, b)
	return p
}

func (w *wazeroKernels) back(dst []float32, p uint32) {
	b, _ := w.mem.Read(p, uint32(4*len(dst)))
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

func (w *wazeroKernels) call(name string, args ...uint64) {
	if _, err := w.fns[name].Call(w.ctx, args...); err != nil {
		w.t.Fatalf("%s: %v", name, err)
	}
	w.top = 16 // address 0 means "no bias"
}

func u(p uint32) uint64 { return uint64(p) }
func n(v int) uint64    { return uint64(uint32(int32(v))) }

func (w *wazeroKernels) Quantize(q *model.Q8, x []float32) {
	if q.Cols%model.Q8Block != 0 { // as the page's Kernels: each row's whole blocks, then Go's
		full, nb, stride := q.Cols/model.Q8Block, q.Blocks(), q.Stride()
		for i := range q.Rows {
			row := model.Q8{Q: q.Q[i*stride : (i+1)*stride], Scale: q.Scale[i*nb : (i+1)*nb], Rows: 1, Cols: full * model.Q8Block}
			x := x[i*q.Cols : (i+1)*q.Cols]
			if full > 0 {
				w.Quantize(&row, x[:row.Cols])
			}
			model.QuantizeQ8Row(row.Q[full*model.Q8Block:], row.Scale[full:], x[full*model.Q8Block:])
		}
		return
	}
	w.top = 16
	pq, ps := w.alloc(len(q.Q)), w.f32s(q.Scale)
	w.call("quantize_q8", u(pq), u(ps), u(w.f32s(x[:q.Rows*q.Cols])), n(q.Rows), n(q.Blocks()))
	b, _ := w.mem.Read(pq, uint32(len(q.Q)))
	for i := range q.Q {
		q.Q[i] = int8(b[i])
	}
	w.back(q.Scale, ps)
}

func (w *wazeroKernels) SwiGLU(dst, gate, up []float32) {
	cnt := len(gate) &^ 3
	if cnt > 0 {
		w.top = 16
		pd := w.f32s(dst[:cnt])
		w.call("swiglu", u(pd), u(w.f32s(gate[:cnt])), u(w.f32s(up[:cnt])), n(cnt))
		w.back(dst[:cnt], pd)
	}
	model.GoKernels{}.SwiGLU(dst[cnt:len(gate)], gate[cnt:], up[cnt:len(gate)])
}

func (w *wazeroKernels) Softmax(x []float32) {
	w.top = 16
	px := w.f32s(x)
	w.call("softmax", u(px), n(len(x)))
	w.back(x, px)
}

func (w *wazeroKernels) BlockMax(dst, x []float32) {
	full := len(x) / model.MaxBlock
	if full > 0 {
		w.top = 16
		pd := w.f32s(dst[:full])
		w.call("block_max", u(pd), u(w.f32s(x[:full*model.MaxBlock])), n(full))
		w.back(dst[:full], pd)
	}
	if full < len(dst) {
		model.GoKernels{}.BlockMax(dst[full:], x[full*model.MaxBlock:])
	}
}

func (w *wazeroKernels) MatMulQ8(y []float32, x, wq *model.Q8, bias []float32, lo, hi int) {
	w.top = 16
	py := w.f32s(y)
	args := []uint64{u(py), u(w.i8s(x.Q)), u(w.f32s(x.Scale)), u(w.i8s(wq.Q)), u(w.f32s(wq.Scale)), u(w.f32s(bias)),
		n(x.Rows), n(wq.Blocks()), n(wq.Rows), n(lo), n(hi), u(w.alloc(4 * (x.Rows*wq.Blocks() + 3)))}
	w.call("matmul_q8", args...)
	w.back(y, py)
}

func (w *wazeroKernels) MatMulF32(y, x, wt, b []float32, T, in, out, lo, hi int) {
	w.top = 16
	py := w.f32s(y)
	w.call("matmul_f32", u(py), u(w.f32s(x)), u(w.f32s(wt)), u(w.f32s(b)), n(T), n(in), n(out), n(lo), n(hi))
	w.back(y, py)
}

func (w *wazeroKernels) Scores(sc, q, k []float32, cnt, stride int, scale float32) {
	w.top = 16
	ps := w.f32s(sc)
	w.call("scores", u(ps), u(w.f32s(q)), u(w.f32s(k)), n(cnt), n(stride), n(len(q)), uint64(math.Float32bits(scale)))
	w.back(sc, ps)
}

func (w *wazeroKernels) Mix(out, p, v []float32, cnt, stride int) {
	w.top = 16
	po := w.f32s(out)
	w.call("mix", u(po), u(w.f32s(p)), u(w.f32s(v)), n(cnt), n(stride), n(len(out)))
	w.back(out, po)
}

// TestModule holds the SIMD128 kernel module, run in wazero, to model.GoKernels bit for
// bit. The relaxed modules run in Chromium, in the page tests (wazero has no relaxed
// SIMD).
func TestModule(t *testing.T) {
	kerneltest.Run(t, newWazero(t, LevelSIMD))
}
