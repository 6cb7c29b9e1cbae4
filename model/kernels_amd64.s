#include "textflag.h"

// The int8 dot products of AVX2Kernels.MatMulQ8 (kernels_amd64.go says why they are
// assembly). DotQ8's rule, bit for bit: a block's 32 products are summed exactly in
// int32; block b's sum, converted to float32, times xs_b·ws_b (rounded) is added to
// float32 lane b mod 4; the lanes end as (l0+l1)+(l2+l3).
//
// A block's integer sum is llama.cpp's Q8_0 way on AVX2: |x| as unsigned bytes times w
// with x's sign moved onto it (VPSIGNB), pairs summed to int16 (VPMADDUBSW: at most
// 2·127·127, no saturation, as Q8 values are in [−127, 127]), then to int32 (VPMADDWD by
// ones): eight int32 partial sums. Three VPHADDDs and one add of the 128-bit halves turn
// four blocks' partial sums into their four sums, lanes 0–3, which the float32 steps
// then take on as four lanes of DotQ8's accumulators.

// q8tail<>: the masks of the last group's 1, 2 or 3 blocks (k at offset 16·(k−1)): the
// lanes past a row's last block load 0 and add +0 (a scale is never negative and a
// lane's sum is never −0, so +0 changes none).
DATA q8tail<>+0(SB)/4, $0xffffffff
DATA q8tail<>+4(SB)/4, $0
DATA q8tail<>+8(SB)/4, $0
DATA q8tail<>+12(SB)/4, $0
DATA q8tail<>+16(SB)/4, $0xffffffff
DATA q8tail<>+20(SB)/4, $0xffffffff
DATA q8tail<>+24(SB)/4, $0
DATA q8tail<>+28(SB)/4, $0
DATA q8tail<>+32(SB)/4, $0xffffffff
DATA q8tail<>+36(SB)/4, $0xffffffff
DATA q8tail<>+40(SB)/4, $0xffffffff
DATA q8tail<>+44(SB)/4, $0
GLOBL q8tail<>(SB), RODATA|NOPTR, $48

// Registers of dotsQ8:
//	SI xq, DI xs; R8–R11 the group's four weight rows, R12, R13, AX, BX their scales
//	CX 4·b for block b: the byte offset of xs_b and ws_b; xq and w are at 8·CX
//	DX the end of the whole groups of four blocks, 4·(nb − nb mod 4)
//	Y15 int16 ones; Y0–Y3 each row's sums; Y4–Y7 two blocks of x and |x|
//	X10 xs of the four blocks; X11–X14 each row's four float32 accumulators; Y8, Y9
//	scratch

// LOADX loads the x block at off into X and its absolute values into A.
#define LOADX(off, X, A) \
	VMOVDQU off(SI)(CX*8), X \
	VPABSB  X, A

// BLOCK puts into S the eight int32 partial sums of the block at off of x (X, |x| in A)
// and of the row at W.
#define BLOCK(off, X, A, W, S) \
	VMOVDQU    off(W)(CX*8), S \
	VPSIGNB    X, S, S \
	VPMADDUBSW S, A, S \
	VPMADDWD   Y15, S, S

// PAIR01 sets S to the first two blocks' pairs of partial sums of the row at W, per
// 128-bit half [Σ01 Σ23 of block 0, Σ01 Σ23 of block 1].
#define PAIR01(W, S) \
	BLOCK(0, Y4, Y5, W, S) \
	BLOCK(32, Y6, Y7, W, Y8) \
	VPHADDD Y8, S, S

// PAIR23 adds blocks 2 and 3 of the row at W into S: per 128-bit half, lane j holds the
// half's sum of block j.
#define PAIR23(W, S) \
	BLOCK(64, Y4, Y5, W, Y8) \
	BLOCK(96, Y6, Y7, W, Y9) \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y8, S, S

// TAIL2 adds the third of the last 1–3 blocks, of the row at W, into S (the fourth is
// missing: its sums Y9 are 0).
#define TAIL2(W, S) \
	BLOCK(64, Y4, Y5, W, Y8) \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y8, S, S

// HADD4 sets each row's sums Y0–Y3 to VPHADDD of them and Z.
#define HADD4(Z) \
	VPHADDD Z, Y0, Y0 \
	VPHADDD Z, Y1, Y1 \
	VPHADDD Z, Y2, Y2 \
	VPHADDD Z, Y3, Y3

// ACCUM adds the four blocks' sums in S (per 128-bit half; XS is S's lower half) times
// xs·ws (xs in X10, ws of the row at WS) to the row's accumulators ACC.
#define ACCUM(S, XS, WS, ACC) \
	VEXTRACTI128 $1, S, X8 \
	VPADDD       X8, XS, XS \
	VCVTDQ2PS    XS, XS \
	VMULPS       (WS)(CX*1), X10, X9 \
	VMULPS       X9, XS, XS \
	VADDPS       XS, ACC, ACC

// ACCUMMASK is ACCUM for the last 1–3 blocks, M the mask of their lanes (X10 holds xs
// loaded under it).
#define ACCUMMASK(S, XS, WS, ACC, M) \
	VEXTRACTI128 $1, S, X8 \
	VPADDD       X8, XS, XS \
	VCVTDQ2PS    XS, XS \
	VMASKMOVPS   (WS)(CX*1), M, X9 \
	VMULPS       X9, X10, X9 \
	VMULPS       X9, XS, XS \
	VADDPS       XS, ACC, ACC

// LANES stores (l0+l1)+(l2+l3) of the accumulators ACC at off(R).
#define LANES(ACC, off, R) \
	VPERMILPS $0xb1, ACC, X8 \
	VADDPS    X8, ACC, X8 \
	VMOVHLPS  X8, X8, X9 \
	VADDSS    X9, X8, X8 \
	VMOVSS    X8, off(R)

// func dotsQ8(xq *int8, xs *float32, nb int, w *[4]*int8, ws *[4]*float32, groups int, out *float32)
// out[4g+r] = DotQ8 of x (nb blocks) with row r of group g of w, scales ws, for g <
// groups: group 0's rows are w[r], ws[r]; each next group's are 4 rows further on.
TEXT ·dotsQ8(SB), NOSPLIT, $0-56
	MOVL         $1, SI
	MOVQ         SI, X15
	VPBROADCASTW X15, Y15
	MOVQ         w+24(FP), DX
	MOVQ         0(DX), R8
	MOVQ         8(DX), R9
	MOVQ         16(DX), R10
	MOVQ         24(DX), R11
	MOVQ         ws+32(FP), DX
	MOVQ         0(DX), R12
	MOVQ         8(DX), R13
	MOVQ         16(DX), AX
	MOVQ         24(DX), BX

group:
	MOVQ   xq+0(FP), SI
	MOVQ   xs+8(FP), DI
	MOVQ   nb+16(FP), DX
	ANDQ   $-4, DX
	SHLQ   $2, DX
	XORQ   CX, CX
	VXORPS X11, X11, X11
	VXORPS X12, X12, X12
	VXORPS X13, X13, X13
	VXORPS X14, X14, X14
	CMPQ   CX, DX
	JAE    tail

groups:
	LOADX(0, Y4, Y5)
	LOADX(32, Y6, Y7)
	PAIR01(R8, Y0)
	PAIR01(R9, Y1)
	PAIR01(R10, Y2)
	PAIR01(R11, Y3)
	LOADX(64, Y4, Y5)
	LOADX(96, Y6, Y7)
	PAIR23(R8, Y0)
	PAIR23(R9, Y1)
	PAIR23(R10, Y2)
	PAIR23(R11, Y3)
	VMOVUPS (DI)(CX*1), X10
	ACCUM(Y0, X0, R12, X11)
	ACCUM(Y1, X1, R13, X12)
	ACCUM(Y2, X2, AX, X13)
	ACCUM(Y3, X3, BX, X14)
	ADDQ    $16, CX
	CMPQ    CX, DX
	JB      groups

tail:
	// The last nb mod 4 blocks: block 0 of the group always, 1 and 2 when there; the
	// sums of the missing ones are 0 (Y9 below), their lanes' scales masked to 0.
	MOVQ nb+16(FP), DX
	ANDQ $3, DX
	JZ   done
	LOADX(0, Y4, Y5)
	BLOCK(0, Y4, Y5, R8, Y0)
	BLOCK(0, Y4, Y5, R9, Y1)
	BLOCK(0, Y4, Y5, R10, Y2)
	BLOCK(0, Y4, Y5, R11, Y3)
	VPXOR Y9, Y9, Y9
	CMPQ  DX, $2
	JB    tail1
	LOADX(32, Y6, Y7)
	BLOCK(32, Y6, Y7, R8, Y8)
	VPHADDD Y8, Y0, Y0
	BLOCK(32, Y6, Y7, R9, Y8)
	VPHADDD Y8, Y1, Y1
	BLOCK(32, Y6, Y7, R10, Y8)
	VPHADDD Y8, Y2, Y2
	BLOCK(32, Y6, Y7, R11, Y8)
	VPHADDD Y8, Y3, Y3
	CMPQ    DX, $3
	JB      tail2
	LOADX(64, Y4, Y5)
	TAIL2(R8, Y0)
	TAIL2(R9, Y1)
	TAIL2(R10, Y2)
	TAIL2(R11, Y3)
	JMP tailsum

tail1:
	HADD4(Y9)

tail2:
	HADD4(Y9)

tailsum:
	DECQ       DX
	SHLQ       $4, DX
	LEAQ       q8tail<>(SB), SI
	VMOVDQU    (SI)(DX*1), X7
	VMASKMOVPS (DI)(CX*1), X7, X10
	ACCUMMASK(Y0, X0, R12, X11, X7)
	ACCUMMASK(Y1, X1, R13, X12, X7)
	ACCUMMASK(Y2, X2, AX, X13, X7)
	ACCUMMASK(Y3, X3, BX, X14, X7)

done:
	MOVQ out+48(FP), DX
	LANES(X11, 0, DX)
	LANES(X12, 4, DX)
	LANES(X13, 8, DX)
	LANES(X14, 12, DX)
	ADDQ $16, out+48(FP)
	DECQ groups+40(FP)
	JZ   ret

	// The next four rows: 4·nb·32 bytes of weights on, 4·nb·4 of scales.
	MOVQ nb+16(FP), DX
	SHLQ $7, DX
	ADDQ DX, R8
	ADDQ DX, R9
	ADDQ DX, R10
	ADDQ DX, R11
	SHRQ $3, DX
	ADDQ DX, R12
	ADDQ DX, R13
	ADDQ DX, AX
	ADDQ DX, BX
	JMP  group

ret:
	VZEROUPPER
	RET

// DOTSTEP adds a's values at CX times each row's to X0–X3: four of them with packed
// instructions (VMOVUPS, VMULPS, VADDPS), lane 0's with scalar ones (VMOVSS, …).
#define DOTSTEP(LOAD, MUL, ADD) \
	LOAD (SI)(CX*1), X4 \
	MUL  (R8)(CX*1), X4, X5 \
	ADD  X5, X0, X0 \
	MUL  (R9)(CX*1), X4, X6 \
	ADD  X6, X1, X1 \
	MUL  (R10)(CX*1), X4, X7 \
	ADD  X7, X2, X2 \
	MUL  (R11)(CX*1), X4, X8 \
	ADD  X8, X3, X3

// func dotsF32x4(a *float32, b *[4]*float32, n int, out *[4]float32)
// out[r] = DotF32(a[:n], b[r][:n]): element i into lane i mod 4 of row r's four float32
// accumulators (X0–X3) for the whole groups of four, the rest into lane 0, each product
// rounded before it is added; then (l0+l1)+(l2+l3).
TEXT ·dotsF32x4(SB), NOSPLIT, $0-32
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DX
	MOVQ   0(DX), R8
	MOVQ   8(DX), R9
	MOVQ   16(DX), R10
	MOVQ   24(DX), R11
	MOVQ   n+16(FP), DX
	SHLQ   $2, DX
	MOVQ   DX, BX
	ANDQ   $-16, BX
	XORQ   CX, CX
	VXORPS X0, X0, X0
	VXORPS X1, X1, X1
	VXORPS X2, X2, X2
	VXORPS X3, X3, X3
	CMPQ   CX, BX
	JAE    f32rest

f32groups:
	DOTSTEP(VMOVUPS, VMULPS, VADDPS)
	ADDQ $16, CX
	CMPQ CX, BX
	JB   f32groups

f32rest:
	CMPQ CX, DX
	JAE  f32done
	DOTSTEP(VMOVSS, VMULSS, VADDSS)
	ADDQ $4, CX
	JMP  f32rest

f32done:
	MOVQ out+24(FP), DX
	LANES(X0, 0, DX)
	LANES(X1, 4, DX)
	LANES(X2, 8, DX)
	LANES(X3, 12, DX)
	VZEROUPPER
	RET

// MIX adds p·v to the accumulators, products rounded before they are added.
#define MIX(off, ACC, T) \
	VMULPS off(AX), Y8, T \
	VADDPS T, ACC, ACC

// func mixF32(out, p, v *float32, n, stride, cols int)
// out[j] = Σ_{i<n} p[i]·v[i·stride+j] for j < cols, a multiple of 32, added for i = 0,
// 1, … in order from +0, 32 columns at a time in Y0–Y3 (four chains of additions).
TEXT ·mixF32(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), R8
	MOVQ n+24(FP), R9
	MOVQ stride+32(FP), R10
	SHLQ $2, R10
	MOVQ cols+40(FP), R11

mix32:
	CMPQ   R11, $32
	JB     mixdone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   R8, AX
	XORQ   CX, CX
	CMPQ   CX, R9
	JAE    mix32store

mix32rows:
	VBROADCASTSS (SI)(CX*4), Y8
	MIX(0, Y0, Y4)
	MIX(32, Y1, Y5)
	MIX(64, Y2, Y6)
	MIX(96, Y3, Y7)
	ADDQ         R10, AX
	INCQ         CX
	CMPQ         CX, R9
	JB           mix32rows

mix32store:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, R8
	SUBQ    $32, R11
	JMP     mix32

mixdone:
	VZEROUPPER
	RET

// q8perm<>: VPERMD's indexes that put VPACKSSWB's dwords [v0a v1a v2a v3a v0b v1b v2b
// v3b] (vector k's values 0–3 in vka, 4–7 in vkb) back in order.
DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// func quantizeQ8(q *int8, scale *float32, x *float32, nb int)
// QuantizeQ8Row's rule for nb whole blocks of 32 values, bit for bit: per block
// d = absmax/127 and id = 1/d (float32 divisions); q = x·id rounded to the nearest
// integer, ties to even (VROUNDPS 0), clamped to [−127, 127]; a block whose d is 0 or
// whose id is infinite gets q = 0. A block holding a NaN gets q = 0 and a NaN scale, as
// Go's NaN-propagating max gives; one holding an infinity q = 0 and scale +Inf (its
// products are 0 or NaN, and Go converts a NaN to int8 0 on amd64).
TEXT ·quantizeQ8(SB), NOSPLIT, $0-32
	MOVQ         q+0(FP), DI
	MOVQ         scale+8(FP), DX
	MOVQ         x+16(FP), SI
	MOVQ         nb+24(FP), CX
	MOVL         $0x7fffffff, AX
	MOVQ         AX, X15
	VPBROADCASTD X15, Y15           // |·| mask
	MOVL         $0x42fe0000, AX    // 127
	MOVQ         AX, X14
	VBROADCASTSS X14, Y14
	MOVL         $0xc2fe0000, AX    // −127
	MOVQ         AX, X13
	VBROADCASTSS X13, Y13
	MOVL         $0x3f800000, AX    // 1
	MOVQ         AX, X12
	MOVL         $0x7f800000, AX    // +Inf
	MOVQ         AX, X11
	VMOVDQU      q8perm<>(SB), Y10
	TESTQ        CX, CX
	JZ           qdone

qblock:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	// A NaN anywhere: q = 0, scale NaN.
	VCMPPS    $3, Y1, Y0, Y4
	VCMPPS    $3, Y3, Y2, Y5
	VORPS     Y5, Y4, Y4
	VMOVMSKPS Y4, AX
	TESTL     AX, AX
	JNZ       qnan

	// absmax: exact whatever the order.
	VANDPS       Y15, Y0, Y4
	VANDPS       Y15, Y1, Y5
	VANDPS       Y15, Y2, Y6
	VANDPS       Y15, Y3, Y7
	VMAXPS       Y5, Y4, Y4
	VMAXPS       Y7, Y6, Y6
	VMAXPS       Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0x4e, X4, X5
	VMAXPS       X5, X4, X4
	VPERMILPS    $0xb1, X4, X5
	VMAXPS       X5, X4, X4

	VDIVSS   X14, X4, X4 // d = absmax/127
	VMOVSS   X4, (DX)
	VXORPS   X5, X5, X5
	VUCOMISS X5, X4
	JE       qzero
	VUCOMISS X11, X4     // an infinite x: x·(1/d) is NaN or 0, and Go's int8 of NaN 0
	JE       qzero
	VDIVSS   X4, X12, X5 // id = 1/d
	VUCOMISS X11, X5
	JE       qzero

	VBROADCASTSS X5, Y5
	VMULPS       Y5, Y0, Y0
	VMULPS       Y5, Y1, Y1
	VMULPS       Y5, Y2, Y2
	VMULPS       Y5, Y3, Y3
	VROUNDPS     $0, Y0, Y0
	VROUNDPS     $0, Y1, Y1
	VROUNDPS     $0, Y2, Y2
	VROUNDPS     $0, Y3, Y3
	VMINPS       Y14, Y0, Y0
	VMINPS       Y14, Y1, Y1
	VMINPS       Y14, Y2, Y2
	VMINPS       Y14, Y3, Y3
	VMAXPS       Y13, Y0, Y0
	VMAXPS       Y13, Y1, Y1
	VMAXPS       Y13, Y2, Y2
	VMAXPS       Y13, Y3, Y3
	VCVTPS2DQ    Y0, Y0
	VCVTPS2DQ    Y1, Y1
	VCVTPS2DQ    Y2, Y2
	VCVTPS2DQ    Y3, Y3
	VPACKSSDW    Y1, Y0, Y0
	VPACKSSDW    Y3, Y2, Y2
	VPACKSSWB    Y2, Y0, Y0
	VPERMD       Y0, Y10, Y0
	VMOVDQU      Y0, (DI)
	JMP          qnext

qnan:
	MOVL $0x7fc00000, (DX)

qzero:
	VPXOR   Y0, Y0, Y0
	VMOVDQU Y0, (DI)

qnext:
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $128, SI
	DECQ CX
	JNZ  qblock

qdone:
	VZEROUPPER
	RET

// exp32<>: Exp32's constants as float32 (int32 127 at 48), each broadcast where used.
DATA exp32<>+0(SB)/4, $0xc2ae0000  // −87
DATA exp32<>+4(SB)/4, $0x42b00000  // 88
DATA exp32<>+8(SB)/4, $0x3fb8aa3b  // log2 e
DATA exp32<>+12(SB)/4, $0x3f318000 // 0.693359375
DATA exp32<>+16(SB)/4, $0xb95e8083 // −2.12194440e−4
DATA exp32<>+20(SB)/4, $0x39506967 // 1.9875691500e−4
DATA exp32<>+24(SB)/4, $0x3ab743ce // 1.3981999507e−3
DATA exp32<>+28(SB)/4, $0x3c088908 // 8.3334519073e−3
DATA exp32<>+32(SB)/4, $0x3d2aa9c1 // 4.1665795894e−2
DATA exp32<>+36(SB)/4, $0x3e2aaaaa // 1.6666665459e−1
DATA exp32<>+40(SB)/4, $0x3f000000 // 5.0000001201e−1
DATA exp32<>+44(SB)/4, $0x3f800000 // 1
DATA exp32<>+48(SB)/4, $127
DATA exp32<>+52(SB)/4, $0x80000000 // the sign bit
GLOBL exp32<>(SB), RODATA|NOPTR, $56

// POLY sets P = P·R + the constant at off.
#define POLY(off, P, R, T) \
	VMULPS       R, P, P \
	VBROADCASTSS exp32<>+off(SB), T \
	VADDPS       T, P, P

// EXP32 replaces X by Exp32 of each of its lanes, every step Exp32's float32 operation
// in its order (a NaN stays NaN: min and max take it from their second operand). Y1–Y4
// are scratch.
#define EXP32(X) \
	VBROADCASTSS exp32<>+4(SB), Y1 \
	VMINPS       X, Y1, X \
	VBROADCASTSS exp32<>+0(SB), Y1 \
	VMAXPS       X, Y1, X \
	VBROADCASTSS exp32<>+8(SB), Y1 \
	VMULPS       Y1, X, Y1 \
	VROUNDPS     $0, Y1, Y1 \
	VBROADCASTSS exp32<>+12(SB), Y2 \
	VMULPS       Y2, Y1, Y2 \
	VSUBPS       Y2, X, X \
	VBROADCASTSS exp32<>+16(SB), Y2 \
	VMULPS       Y2, Y1, Y2 \
	VSUBPS       Y2, X, X \
	VMULPS       X, X, Y3 \
	VBROADCASTSS exp32<>+20(SB), Y2 \
	VMULPS       X, Y2, Y2 \
	VBROADCASTSS exp32<>+24(SB), Y4 \
	VADDPS       Y4, Y2, Y2 \
	POLY(28, Y2, X, Y4) \
	POLY(32, Y2, X, Y4) \
	POLY(36, Y2, X, Y4) \
	POLY(40, Y2, X, Y4) \
	VMULPS       Y3, Y2, Y2 \
	VADDPS       X, Y2, Y2 \
	VBROADCASTSS exp32<>+44(SB), Y4 \
	VADDPS       Y4, Y2, Y2 \
	VCVTTPS2DQ   Y1, Y1 \
	VPBROADCASTD exp32<>+48(SB), Y4 \
	VPADDD       Y4, Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y1, Y2, X

// func swiGLU8(dst, gate, up *float32, n int)
// dst[i] = swiGLU1(gate[i], up[i]) = (g/(1+Exp32(−g)))·up for i < n, a multiple of 8.
TEXT ·swiGLU8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	JZ   swidone

swiloop:
	VMOVUPS      (SI), Y5
	VBROADCASTSS exp32<>+52(SB), Y0
	VXORPS       Y5, Y0, Y0 // −g
	EXP32(Y0)
	VBROADCASTSS exp32<>+44(SB), Y1
	VADDPS       Y0, Y1, Y0 // d = 1 + e
	VDIVPS       Y0, Y5, Y0 // g/d
	VMULPS       (DX), Y0, Y0
	VMOVUPS      Y0, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $32, DI
	DECQ         CX
	JNZ          swiloop

swidone:
	VZEROUPPER
	RET

// func expSum8(x *float32, n int, m float32, acc *[4]float32)
// x[i] = Exp32(x[i] − m) for i < n, a multiple of 8, each added to acc[i mod 4] in order
// of i: Softmax's first loop.
TEXT ·expSum8(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y6
	MOVQ         acc+24(FP), DX
	VMOVUPS      (DX), X7
	SHRQ         $3, CX
	JZ           expdone

exploop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y6, Y0, Y0
	EXP32(Y0)
	VMOVUPS      Y0, (SI)
	VADDPS       X0, X7, X7
	VEXTRACTF128 $1, Y0, X0
	VADDPS       X0, X7, X7
	ADDQ         $32, SI
	DECQ         CX
	JNZ          exploop

expdone:
	VMOVUPS X7, (DX)
	VZEROUPPER
	RET
