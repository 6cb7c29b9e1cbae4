package pack

import (
	"fmt"
	"strconv"
	"strings"
)

// The names of a pack's tensors. The writer (svf/convert) and every reader (Tensors,
// svf, the GPU engine's streaming loader) build and take them apart here, so the
// format's naming lives in one place.
//
//	U("X"), S("X"), V("X")      X.U [M,R], X.S [R], X.V [N,R]: adapted matrix X's factors
//	Scales.Of("T")              T.scale: the Q8 block scales of tensor T
//	Exact.Of("X.U")             X.U.hi: the f32 first K columns of an exact-rank factor
//	Part("T", k)                T#k: rows part k of a tensor split across shards
//	Scales.Of(Part("T", k))     T#k.scale: that part's scales (and T#k.hi its f32 columns)

// U names the left singular vectors of adapted matrix x, [M,R].
func U(x string) string { return x + ".U" }

// S names the singular values of adapted matrix x, [R].
func S(x string) string { return x + ".S" }

// V names the right singular vectors of adapted matrix x, [N,R].
func V(x string) string { return x + ".V" }

// A Piece is what a stored tensor holds of a tensor T: its values (T itself, int8 for
// a Q8 tensor), its Q8 block scales (T.scale) or, for an exact-rank factor, its f32
// first columns (T.hi).
type Piece string

// The pieces of a tensor.
const (
	Values Piece = ""
	Scales Piece = ".scale"
	Exact  Piece = ".hi"
)

// Pieces returns every piece, values first.
func Pieces() []Piece { return []Piece{Values, Scales, Exact} }

// Of names piece p of tensor t.
func (p Piece) Of(t string) string { return t + string(p) }

// CutPiece splits a tensor name into the tensor it is a piece of and which: "X.U.scale"
// is (X.U, Scales); a name with neither suffix is its own Values.
func CutPiece(name string) (string, Piece) {
	for _, p := range []Piece{Scales, Exact} {
		if t, ok := strings.CutSuffix(name, string(p)); ok {
			return t, p
		}
	}
	return name, Values
}

// Part names rows part k of tensor t, which the writer split across shards
// (Manifest.Parts holds how many parts t has).
func Part(t string, k int) string { return t + "#" + strconv.Itoa(k) }

// CutPart takes the part number out of a stored tensor's name: "X.U#2.scale" is
// (X.U.scale, 2). A tensor that is not split gives its name and -1.
func CutPart(stored string) (string, int, error) {
	h := strings.IndexByte(stored, '#')
	if h < 0 {
		return stored, -1, nil
	}
	num, piece, dotted := strings.Cut(stored[h+1:], ".")
	k, err := strconv.Atoi(num)
	if err != nil || k < 0 || strconv.Itoa(k) != num {
		return "", 0, fmt.Errorf("tensor %s: the part after # is %q, want a part number", stored, num)
	}
	name := stored[:h]
	if dotted {
		name += "." + piece
	}
	return name, k, nil
}
