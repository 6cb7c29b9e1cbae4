package pack_test

import (
	"strings"
	"testing"

	"github.com/t2web/t2web/model/pack"
)

// The writer names a split tensor's pieces with Part and Piece.Of; the readers take the
// names apart with CutPart and CutPiece. They must agree on every name the writer makes.
func TestNamesRoundTrip(t *testing.T) {
	const x = "model.layers.0.mlp.up_proj"
	for _, tensor := range []string{pack.U(x), pack.V(x), pack.S(x), "model.embed_tokens.weight"} {
		for _, piece := range pack.Pieces() {
			for _, k := range []int{-1, 0, 7, 12} {
				stored := tensor
				if k >= 0 {
					stored = pack.Part(tensor, k)
				}
				stored = piece.Of(stored)
				name, part, err := pack.CutPart(stored)
				if err != nil || part != k || name != piece.Of(tensor) {
					t.Errorf("CutPart(%q) = %q, %d, %v; want %q, %d", stored, name, part, err, piece.Of(tensor), k)
				}
				base, p := pack.CutPiece(name)
				if base != tensor || p != piece {
					t.Errorf("CutPiece(%q) = %q, %q; want %q, %q", name, base, p, tensor, piece)
				}
			}
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{pack.U("m.q_proj"), "m.q_proj.U"},
		{pack.S("m.q_proj"), "m.q_proj.S"},
		{pack.V("m.q_proj"), "m.q_proj.V"},
		{pack.Scales.Of(pack.Part(pack.U("m.q_proj"), 3)), "m.q_proj.U#3.scale"},
		{pack.Exact.Of(pack.V("m.q_proj")), "m.q_proj.V.hi"},
	} {
		if tc.got != tc.want {
			t.Errorf("name %q, want %q", tc.got, tc.want)
		}
	}
}

func TestCutPartBad(t *testing.T) {
	for _, stored := range []string{"x#", "x#a", "x#-1", "x#01", "x#+2.scale", "x#1e3"} {
		_, _, err := pack.CutPart(stored)
		if err == nil || !strings.Contains(err.Error(), stored) || !strings.Contains(err.Error(), "part number") {
			t.Errorf("CutPart(%q): error %v, want one naming the tensor and its part number", stored, err)
		}
	}
}
