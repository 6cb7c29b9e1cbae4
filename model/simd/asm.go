package simd

import (
	"encoding/binary"
	"math"
)

// A tiny WebAssembly assembler: just what the kernel module needs — one imported
// memory, functions of i32/f32 parameters, locals, structured control and the MVP,
// SIMD128 and relaxed-SIMD instructions the kernels use. Written here rather than
// taken from a library: no Go library served to us emits SIMD128 (wazero and the
// wasm binary tools read modules, they do not write them), and these 200 lines keep
// `make site` a Go-only build.

// Value types.
const (
	i32  byte = 0x7f
	f32  byte = 0x7d
	v128 byte = 0x7b
)

// Instructions without immediates (MVP).
const (
	opEnd     = 0x0b
	opDrop    = 0x1a
	opI32Eqz  = 0x45
	opI32GeS  = 0x4e
	opI32GtS  = 0x4a
	opI32LtS  = 0x48
	opI32Add  = 0x6a
	opI32Sub  = 0x6b
	opI32Mul  = 0x6c
	opI32Shl  = 0x74
	opF32Add  = 0x92
	opF32Mul  = 0x94
	opF32Sub  = 0x93
	opF32Div  = 0x95
	opF32Max  = 0x97
	opF32Eq   = 0x5b
	opF32Lt   = 0x5d
	opI32Or   = 0x72
	opF32CvtI = 0xb2 // f32.convert_i32_s
)

// SIMD instructions (after the 0xfd prefix, LEB128).
const (
	simdLoad        = 0x00
	simdStore       = 0x0b
	simdConst       = 0x0c
	simdShuffle     = 0x0d
	simdI8Splat     = 0x0f
	simdF32Splat    = 0x13
	simdI32Extract  = 0x1b
	simdF32Extract  = 0x1f
	simdF32Replace  = 0x20
	simdI8LtS       = 0x25
	simdXor         = 0x51
	simdI8Abs       = 0x60
	simdI8Sub       = 0x71
	simdI16ExtLoS   = 0x87
	simdI16ExtHiS   = 0x88
	simdI32Add      = 0xae
	simdI32Sub      = 0xb1
	simdI32DotI16   = 0xba
	simdF32Add      = 0xe4
	simdF32Mul      = 0xe6
	simdF32CvtI32   = 0xfa
	simdF32Abs      = 0xe0
	simdF32Neg      = 0xe1
	simdF32Sub      = 0xe5
	simdF32Div      = 0xe7
	simdF32Min      = 0xe8
	simdI32Shl      = 0xab
	simdF32Max      = 0xe9
	simdF32Nearest  = 0x6a
	simdI32TruncS   = 0xf8  // i32x4.trunc_sat_f32x4_s
	simdI16NarrowS  = 0x85  // i16x8.narrow_i32x4_s
	simdI8NarrowS   = 0x65  // i8x16.narrow_i16x8_s
	simdRelaxedDotA = 0x113 // i32x4.relaxed_dot_i8x16_i7x16_add_s
)

func uleb(b []byte, v uint64) []byte {
	return binary.AppendUvarint(b, v)
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// fn is one function being written.
type fn struct {
	name    string
	params  []byte
	results []byte
	locals  []byte // types of the locals after the parameters
	code    []byte
}

func newFn(name string, params []byte, results ...byte) *fn {
	return &fn{name: name, params: params, results: results}
}

// local adds a local of type t and returns its index.
func (f *fn) local(t byte) uint32 {
	f.locals = append(f.locals, t)
	return uint32(len(f.params) + len(f.locals) - 1)
}

func (f *fn) op(ops ...byte) { f.code = append(f.code, ops...) }
func (f *fn) get(i uint32)   { f.code = uleb(append(f.code, 0x20), uint64(i)) }
func (f *fn) set(i uint32)   { f.code = uleb(append(f.code, 0x21), uint64(i)) }
func (f *fn) tee(i uint32)   { f.code = uleb(append(f.code, 0x22), uint64(i)) }
func (f *fn) i32c(v int32)   { f.code = sleb(append(f.code, 0x41), int64(v)) }
func (f *fn) f32c0()         { f.code = append(f.code, 0x43, 0, 0, 0, 0) }

// f32x4c writes v128.const with v in every f32 lane.
func (f *fn) f32x4c(v float32) {
	var imm []byte
	for range 4 {
		imm = binary.LittleEndian.AppendUint32(imm, math.Float32bits(v))
	}
	f.simd(simdConst, imm...)
}

// i32x4c writes v128.const with v in every i32 lane.
func (f *fn) i32x4c(v int32) {
	var imm []byte
	for range 4 {
		imm = binary.LittleEndian.AppendUint32(imm, uint32(v))
	}
	f.simd(simdConst, imm...)
}

// i8x16c writes v128.const with v in every i8 lane.
func (f *fn) i8x16c(v int8) {
	imm := make([]byte, 16)
	for i := range imm {
		imm[i] = byte(v)
	}
	f.simd(simdConst, imm...)
}

// f32c writes f32.const v.
func (f *fn) f32c(v float32) {
	f.code = binary.LittleEndian.AppendUint32(append(f.code, 0x43), math.Float32bits(v))
}

// f32load and f32store take the address from the stack, with a constant offset.
func (f *fn) f32load(off uint32)  { f.code = uleb(append(f.code, 0x2a, 2), uint64(off)) }
func (f *fn) f32store(off uint32) { f.code = uleb(append(f.code, 0x38, 2), uint64(off)) }

// i32load and i32store are f32load and f32store's i32 twins.
func (f *fn) i32load(off uint32)  { f.code = uleb(append(f.code, 0x28, 2), uint64(off)) }
func (f *fn) i32store(off uint32) { f.code = uleb(append(f.code, 0x36, 2), uint64(off)) }

// simd writes a SIMD instruction with its immediates.
func (f *fn) simd(op uint32, imm ...byte) {
	f.code = uleb(append(f.code, 0xfd), uint64(op))
	f.code = append(f.code, imm...)
}

// load and store a v128 at the address on the stack plus off (align 16 is a hint only).
func (f *fn) load(off uint32) {
	f.simd(simdLoad)
	f.code = uleb(append(f.code, 4), uint64(off))
}

func (f *fn) store(off uint32) {
	f.simd(simdStore)
	f.code = uleb(append(f.code, 4), uint64(off))
}

func (f *fn) zero128() { f.simd(simdConst, make([]byte, 16)...) }

// shuffle32 writes i8x16.shuffle picking i32 lanes a..d of the two operands (0–3 the
// first, 4–7 the second).
func (f *fn) shuffle32(a, b, c, d byte) {
	var imm []byte
	for _, l := range []byte{a, b, c, d} {
		imm = append(imm, 4*l, 4*l+1, 4*l+2, 4*l+3)
	}
	f.simd(simdShuffle, imm...)
}

// Control: block and loop (no result), if with an optional result, br, br_if, end.
func (f *fn) block() { f.op(0x02, 0x40) }
func (f *fn) loop()  { f.op(0x03, 0x40) }
func (f *fn) ifThen(t ...byte) {
	if len(t) == 0 {
		f.op(0x04, 0x40)
	} else {
		f.op(0x04, t[0])
	}
}
func (f *fn) elseDo()        { f.op(0x05) }
func (f *fn) end()           { f.op(opEnd) }
func (f *fn) br(depth int)   { f.code = uleb(append(f.code, 0x0c), uint64(depth)) }
func (f *fn) brIf(depth int) { f.code = uleb(append(f.code, 0x0d), uint64(depth)) }

// inc adds c to the i32 local i.
func (f *fn) inc(i uint32, c int32) {
	f.get(i)
	f.i32c(c)
	f.op(opI32Add)
	f.set(i)
}

// body returns the function's code entry, its size and then locals, code and end.
func (f *fn) body() (size, b []byte) {
	b = uleb(b, uint64(len(f.locals)))
	for _, t := range f.locals { // one entry per local: simple, and the module is small
		b = append(uleb(b, 1), t)
	}
	b = append(b, f.code...)
	b = append(b, opEnd)
	return uleb(nil, uint64(len(b))), b
}

// section appends section id with its contents.
func section(out []byte, id byte, contents []byte) []byte {
	out = append(out, id)
	out = uleb(out, uint64(len(contents)))
	return append(out, contents...)
}

func name(b []byte, s string) []byte {
	return append(uleb(b, uint64(len(s))), s...)
}

// module writes a module that imports memory env.mem (Go's memory, at least 0 pages) and
// exports fns by name.
func module(fns []*fn) []byte {
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	// types: one per function
	var types []byte
	types = uleb(types, uint64(len(fns)))
	for _, f := range fns {
		types = append(types, 0x60)
		types = append(uleb(types, uint64(len(f.params))), f.params...)
		types = append(uleb(types, uint64(len(f.results))), f.results...)
	}
	out = section(out, 1, types)
	var imports []byte
	imports = uleb(imports, 1)
	imports = name(imports, "env")
	imports = name(imports, "mem")
	imports = append(imports, 0x02, 0x00, 0x00) // memory, limits: min 0, no max
	out = section(out, 2, imports)
	var funcs []byte
	funcs = uleb(funcs, uint64(len(fns)))
	for i := range fns {
		funcs = uleb(funcs, uint64(i))
	}
	out = section(out, 3, funcs)
	var exports []byte
	exports = uleb(exports, uint64(len(fns)))
	for i, f := range fns {
		exports = name(exports, f.name)
		exports = append(exports, 0x00)
		exports = uleb(exports, uint64(i))
	}
	out = section(out, 7, exports)
	var code []byte
	code = uleb(code, uint64(len(fns)))
	for _, f := range fns {
		size, b := f.body()
		code = append(code, size...)
		code = append(code, b...)
	}
	return section(out, 10, code)
}
