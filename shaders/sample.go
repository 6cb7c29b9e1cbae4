package shaders

import (
	"fmt"
	"math"
	"math/bits"
)

var (
	kArgmax = &kernelDef{files: []string{"common.wgsl", "sample.wgsl"}, entry: "argmax", binds: "rw"}
	kSample = &kernelDef{files: []string{"common.wgsl", "sample.wgsl"}, entry: "sample", binds: "rwrw"}
)

// Sampling chooses how Sample draws a token, as model.SamplerParams does (the
// repetition penalty is not applied here).
type Sampling struct {
	Temperature float32 // ≤ 0: greedy (Argmax)
	TopK        int     // keep the k most likely tokens; 0: all
	TopP        float32 // keep the smallest set whose probability reaches p; 0 or ≥ 1: all
}

// Argmax records out[rows] (u32) = the index of the largest value of each row of
// logits[rows,V], the lowest index among ties (model.Argmax).
func (b *Batch) Argmax(out, logits *Buffer, rows, V int) {
	checkF32("Argmax", "out", out, rows)
	checkF32("Argmax", "logits", logits, rows*V)
	gx, gy := b.grid1(rows)
	b.dispatch(kArgmax, nil, []uint32{uint32(rows), uint32(V), 0, 0, 0, 0}, []*Buffer{logits, out}, gx, gy, 1)
}

// Sample records out[rows] (u32) = a token drawn from each row of logits[rows,V] with
// the uniform number u[rows] (f32 in [0,1), written by the host before each submit):
// softmax at temperature s.Temperature over the s.TopK most likely tokens, cut to the
// smallest prefix reaching s.TopP, then the first token whose cumulative weight exceeds
// u times the kept weight (model.Sampler.Sample with u for its random draw). scratch
// is f32 [rows, V]. A temperature ≤ 0 records Argmax.
func (b *Batch) Sample(out, logits, u, scratch *Buffer, rows, V int, s Sampling) {
	if s.Temperature <= 0 {
		b.Argmax(out, logits, rows, V)
		return
	}
	if V <= 0 || s.TopK < 0 {
		panic(fmt.Sprintf("shaders: Sample: V=%d TopK=%d", V, s.TopK))
	}
	checkF32("Sample", "out", out, rows)
	checkF32("Sample", "logits", logits, rows*V)
	checkF32("Sample", "u", u, rows)
	checkF32("Sample", "scratch", scratch, rows*V)
	gx, gy := b.grid1(rows)
	params := []uint32{uint32(rows), uint32(V), uint32(s.TopK), math.Float32bits(s.TopP),
		math.Float32bits(1 / s.Temperature), uint32(bits.Len32(uint32(V)))}
	b.dispatch(kSample, nil, params, []*Buffer{logits, out, u, scratch}, gx, gy, 1)
}
