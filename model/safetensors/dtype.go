package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// DType names the element type of a tensor as the header spells it.
//
// BF16, F16, F32 and I8 are what t2web's models use. U8, I32, I64 and F64 are accepted too,
// so that files holding them open and their tensors can be read as raw bytes or converted
// to float32. Any other dtype (BOOL, F8_E4M3, ...) makes [Open] fail with an error wrapping
// [ErrUnknownDType].
type DType string

// The dtypes this package reads and writes.
const (
	BF16 DType = "BF16" // bfloat16: sign, 8 exponent bits, 7 mantissa bits
	F16  DType = "F16"  // IEEE 754 binary16: sign, 5 exponent bits, 10 mantissa bits
	F32  DType = "F32"  // IEEE 754 binary32
	F64  DType = "F64"  // IEEE 754 binary64
	I8   DType = "I8"   // signed byte
	U8   DType = "U8"   // unsigned byte
	I32  DType = "I32"  // signed 32-bit integer
	I64  DType = "I64"  // signed 64-bit integer
)

// ErrUnknownDType is wrapped by every error about a dtype this package does not know.
var ErrUnknownDType = errors.New("safetensors: unknown dtype")

// dtypeList is the accepted dtypes, for error messages.
const dtypeList = "BF16, F16, F32, F64, I8, U8, I32, I64"

// Size returns the number of bytes of one element of type d, or 0 if d is unknown.
func (d DType) Size() int {
	switch d {
	case I8, U8:
		return 1
	case BF16, F16:
		return 2
	case F32, I32:
		return 4
	case F64, I64:
		return 8
	}
	return 0
}

// checkDType returns nil if d is known, else an error matching ErrUnknownDType that
// names d and the dtypes accepted.
func checkDType(d DType) error {
	if d.Size() == 0 {
		return dtypeError{d}
	}
	return nil
}

// dtypeError is ErrUnknownDType for one dtype. Its message leaves out the sentinel's
// "safetensors: " prefix, which the errors wrapping it already carry.
type dtypeError struct{ d DType }

func (e dtypeError) Error() string {
	return fmt.Sprintf("unknown dtype %q, want one of %s", string(e.d), dtypeList)
}

func (e dtypeError) Is(target error) bool { return target == ErrUnknownDType }

// BF16ToFloat32 returns the value of the bfloat16 u. It is exact: a bfloat16 is the top 16
// bits of a float32, so infinities, NaN payloads, signed zeros and subnormals carry over.
func BF16ToFloat32(u uint16) float32 {
	return math.Float32frombits(uint32(u) << 16)
}

// Float32ToBF16 returns the bfloat16 nearest to x, ties to even, as PyTorch rounds.
// Values beyond the largest finite bfloat16 round to ±Inf; NaN stays NaN (made quiet,
// sign kept).
func Float32ToBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN: truncating could leave a zero mantissa, an Inf
		return uint16(b>>16) | 0x0040
	}
	// Adding 0x7fff rounds the low half up past 0x8000; adding one more when the kept
	// part is odd makes an exact tie round to even. A carry into the exponent is correct,
	// up to and including Inf.
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16ToFloat32 returns the value of the IEEE 754 binary16 u, exactly: every binary16,
// subnormals included, is a float32. Infinities keep their sign and NaNs their payload.
func F16ToFloat32(u uint16) float32 {
	sign := uint32(u&0x8000) << 16
	exp := uint32(u>>10) & 0x1f
	mant := uint32(u & 0x3ff)
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign) // ±0
		}
		// Subnormal: mant·2⁻²⁴. Shift the leading 1 up to the implicit-bit position,
		// lowering the exponent once per shift; 113 is the float32 biased exponent of 2⁻¹⁴.
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13) // ±Inf or NaN
	}
	// Normal: rebias the exponent from 15 to 127.
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Float32ToF16 returns the IEEE 754 binary16 nearest to x, ties to even. Values from
// 65520 up round to ±Inf; values too small for the smallest subnormal (2⁻²⁴) round to a
// signed zero; NaN stays NaN (made quiet, sign and top payload bits kept).
func Float32ToF16(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // binary16 biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// A binary16 subnormal or zero: the result's mantissa is M·2^(e-14) where M is
		// the float32 significand with its implicit bit. Below e = -10 that is under
		// one half, which rounds to zero. (A float32 subnormal has exp 0, e = -112.)
		if e < -10 {
			return sign
		}
		return sign | roundShift(mant|0x800000, uint(14-e))
	}
	// Normal: drop 13 mantissa bits. A carry out of the mantissa bumps the exponent,
	// which is right, and from the top exponent gives 0x7c00, Inf.
	return sign | roundShift(uint32(e)<<23|mant, 13)
}

// roundShift returns m >> s rounded to nearest, ties to even, for 1 <= s <= 24, as a
// uint16 (the caller guarantees it fits).
func roundShift(m uint32, s uint) uint16 {
	h := m >> s
	rem := m & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || rem == half && h&1 == 1 {
		h++
	}
	return uint16(h)
}

// Float32Bytes returns x as little-endian float32 bytes, the layout of an F32 tensor.
func Float32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// BytesInt8 returns the bytes b of an I8 tensor as int8 values: the same memory, not a
// copy. Copying from this view is a memmove: in wasm a byte loop converting them ran at
// 351 MB/s, 0.4 s of a SmolLM2-sized pack's load in the page's worker.
func BytesInt8(b []byte) []int8 {
	return unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
}

// BytesFloat32 returns the float32 values of the little-endian bytes b, the layout of an
// F32 tensor. It panics if len(b) is not a multiple of 4, a bug in the caller.
func BytesFloat32(b []byte) []float32 {
	if len(b)%4 != 0 {
		panic(fmt.Sprintf("safetensors: BytesFloat32: %d bytes, not a multiple of 4", len(b)))
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

// toFloat32 converts the raw little-endian elements b of dtype d into dst, which holds
// len(b)/d.Size() values. BF16, F16, F32, I8 and U8 convert exactly; F64, I32 and I64
// round to the nearest float32. The caller has checked d and the lengths.
func toFloat32(dst []float32, b []byte, d DType) {
	le := binary.LittleEndian
	switch d {
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFloat32(le.Uint16(b[2*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(le.Uint16(b[2*i:]))
		}
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(b[i]))
		}
	case U8:
		for i := range dst {
			dst[i] = float32(b[i])
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(b[4*i:])))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(b[8*i:])))
		}
	default:
		panic(fmt.Sprintf("safetensors: toFloat32: dtype %q", string(d)))
	}
}
