#include "textflag.h"

// func kern4x8(k int, a, b, c *float64, ldc int)
// c[4,8] (stride ldc) += a[k,4]ᵀ·b[k,8] with a, b packed k-major. Accumulators
// Y0..Y7 hold the tile (row i in Y(2i), Y(2i+1)), each lane one FMA chain in l order.
TEXT ·kern4x8(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $3, R8
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	TESTQ CX, CX
	JE    store

loop:
	VMOVUPD      (DI), Y8
	VMOVUPD      32(DI), Y9
	VBROADCASTSD (SI), Y10
	VBROADCASTSD 8(SI), Y11
	VFMADD231PD  Y8, Y10, Y0
	VFMADD231PD  Y9, Y10, Y1
	VFMADD231PD  Y8, Y11, Y2
	VFMADD231PD  Y9, Y11, Y3
	VBROADCASTSD 16(SI), Y12
	VBROADCASTSD 24(SI), Y13
	VFMADD231PD  Y8, Y12, Y4
	VFMADD231PD  Y9, Y12, Y5
	VFMADD231PD  Y8, Y13, Y6
	VFMADD231PD  Y9, Y13, Y7
	ADDQ         $32, SI
	ADDQ         $64, DI
	DECQ         CX
	JNE          loop

store:
	VADDPD  (DX), Y0, Y0
	VMOVUPD Y0, (DX)
	VADDPD  32(DX), Y1, Y1
	VMOVUPD Y1, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y2, Y2
	VMOVUPD Y2, (DX)
	VADDPD  32(DX), Y3, Y3
	VMOVUPD Y3, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y4, Y4
	VMOVUPD Y4, (DX)
	VADDPD  32(DX), Y5, Y5
	VMOVUPD Y5, 32(DX)
	ADDQ    R8, DX
	VADDPD  (DX), Y6, Y6
	VMOVUPD Y6, (DX)
	VADDPD  32(DX), Y7, Y7
	VMOVUPD Y7, 32(DX)
	VZEROUPPER
	RET

// func rot4(n int, x, y *float64, c, s float64)
// For i < n (a multiple of 4): x[i] ← fma(c, x[i], −(s·y[i])), y[i] ← fma(s, x[i], c·y[i]).
TEXT ·rot4(SB), NOSPLIT, $0-40
	MOVQ         n+0(FP), CX
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	VBROADCASTSD c+24(FP), Y14
	VBROADCASTSD s+32(FP), Y15
	SHRQ         $2, CX
	JE           rotdone

rotloop:
	VMOVUPD     (SI), Y0            // x
	VMOVUPD     (DI), Y1            // y
	VMULPD      Y1, Y15, Y2         // s·y
	VMULPD      Y1, Y14, Y3         // c·y
	VFMSUB231PD Y0, Y14, Y2         // c·x − s·y
	VFMADD231PD Y0, Y15, Y3         // s·x + c·y
	VMOVUPD     Y2, (SI)
	VMOVUPD     Y3, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNE         rotloop

rotdone:
	VZEROUPPER
	RET

// func rotStrip(x *float64, ld, n int, rots *Rotation, nrots int)
// For each rotation {I, C, S} in order, rot4 on rows I and I+1 of x (stride ld
// elements), columns 0…n-1 (n a multiple of 4, > 0).
TEXT ·rotStrip(SB), NOSPLIT, $0-40
	MOVQ  x+0(FP), R9
	MOVQ  ld+8(FP), R10
	SHLQ  $3, R10
	MOVQ  n+16(FP), R11
	SHRQ  $2, R11
	MOVQ  rots+24(FP), R12
	MOVQ  nrots+32(FP), R13
	TESTQ R13, R13
	JE    stripdone
	TESTQ R11, R11
	JE    stripdone

striprot:
	MOVQ         (R12), AX
	IMULQ        R10, AX
	LEAQ         (R9)(AX*1), SI
	LEAQ         (SI)(R10*1), DI
	VBROADCASTSD 8(R12), Y14
	VBROADCASTSD 16(R12), Y15
	MOVQ         R11, CX

stripinner:
	VMOVUPD     (SI), Y0
	VMOVUPD     (DI), Y1
	VMULPD      Y1, Y15, Y2
	VMULPD      Y1, Y14, Y3
	VFMSUB231PD Y0, Y14, Y2
	VFMADD231PD Y0, Y15, Y3
	VMOVUPD     Y2, (SI)
	VMOVUPD     Y3, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        CX
	JNE         stripinner
	ADDQ        $24, R12
	DECQ        R13
	JNE         striprot

stripdone:
	VZEROUPPER
	RET
