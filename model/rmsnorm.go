package model

import "math"

// RMSNorm writes rows of x[T,D], normalised by their root mean square and scaled by
// w[D], to dst[T,D]: dst = x / sqrt(mean(x²) + eps) ⊙ w. The mean is summed in float64,
// as llama.cpp does.
func RMSNorm(dst, x, w []float32, T, D int, eps float64) {
	for t := range T {
		row := x[t*D : t*D+D]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		scale := float32(1 / math.Sqrt(ss/float64(D)+eps))
		out := dst[t*D : t*D+D]
		for i, v := range row {
			out[i] = v * scale * w[i]
		}
	}
}
