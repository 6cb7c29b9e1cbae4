package shaders

import (
	"fmt"
	"math"
)

var kRope = &kernelDef{files: []string{"common.wgsl", "rope.wgsl"}, entry: "rope", binds: "rrww"}

// RopeTable is the (cos, sin) table [positions, len(invFreq), 2] the Rope kernel reads:
// cos and sin of pos·invFreq[i] computed in float64 and rounded to float32, as
// model.NewRope tabulates them. Pass model.Config.InvFreq() so RoPE scaling applies.
func RopeTable(invFreq []float64, positions int) []float32 {
	half := len(invFreq)
	cs := make([]float32, positions*half*2)
	for p := range positions {
		for i, f := range invFreq {
			s, c := math.Sincos(float64(p) * f)
			cs[(p*half+i)*2], cs[(p*half+i)*2+1] = float32(c), float32(s)
		}
	}
	return cs
}

// Rope records the rotation in place of q[T, H·Dh] and k[T, Hkv·Dh] for the positions
// pos[T] (u32), reading cs[S, Dh/2, 2] from RopeTable (model.Rope.Apply). Rows whose
// position is ≥ S are left alone.
func (b *Batch) Rope(q, k, cs, pos *Buffer, T, H, Hkv, Dh, S int) {
	if Dh%2 != 0 {
		panic(fmt.Sprintf("shaders: Rope: odd head dimension %d", Dh))
	}
	checkF32("Rope", "q", q, T*H*Dh)
	checkF32("Rope", "k", k, T*Hkv*Dh)
	checkF32("Rope", "cs", cs, S*Dh)
	checkF32("Rope", "pos", pos, T)
	gx, gy := b.grid1(ceilDiv(T*(H+Hkv)*Dh/2, 64))
	b.dispatch(kRope, nil, []uint32{uint32(T), uint32(H), uint32(Hkv), uint32(Dh / 2), uint32(S)},
		[]*Buffer{pos, cs, q, k}, gx, gy, 1)
}
