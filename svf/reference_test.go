package svf

import "testing"

// TestReferenceZ: z = bf16(bf16(sigmoid(p))·max_mult), as the reference's get_mask.
func TestReferenceZ(t *testing.T) {
	for _, tt := range []struct {
		p       float32
		maxMult float64
		want    float32
	}{
		// want: PyTorch 1.13's torch.sigmoid(p).to(torch.bfloat16) * max_mult
		{0, 1, 0.5},
		{0, 2, 1},
		{1, 1, 0.73046875},              // sigmoid 0.7310586 → bf16 187/256
		{-1, 1, 0.26953125},             // 0.2689414 → 138/512
		{1, 3, 2.1875},                  // 0.73046875·3 = 2.19140625 → bf16 2.1875
		{20, 1, 1},                      // 0.999999998 rounds up to 1
		{-20, 1, 2.066371962428093e-09}, // 2.0611537e-9 → bf16
		{0.1, 1, 0.5234375},             // 0.52497919 → 134/256
		{0.1, 1.5, 0.78515625},          // 0.5234375·1.5 = 0.78515625, exact
	} {
		got := ReferenceZ([]float32{tt.p}, tt.maxMult)[0]
		if got != tt.want {
			t.Errorf("p %v max_mult %v: z %v, want %v", tt.p, tt.maxMult, got, tt.want)
		}
		if got != bf16(got) {
			t.Errorf("p %v: z %v is not a bfloat16", tt.p, got)
		}
	}
}
