package strsweep

import (
	"slices"
	"testing"
)

func TestAll(t *testing.T) {
	got := slices.Collect(All([]string{"a", "é"}, 2))
	want := []string{"", "a", "aa", "aé", "é", "éa", "éé"}
	if !slices.Equal(got, want) {
		t.Errorf("All(a, é; 2) = %q, want %q", got, want)
	}
	var first []string
	for s := range All([]string{"x"}, 5) {
		if first = append(first, s); len(first) == 2 {
			break
		}
	}
	if !slices.Equal(first, []string{"", "x"}) {
		t.Errorf("stopped after two: %q", first)
	}
}
