package chart

import (
	"encoding/xml"
	"strings"
	"testing"
)

// svg is what a test reads back of Line's output: the tick labels, the points and the
// polylines.
type svg struct {
	Ticks   []string `xml:"text"`
	Circles []struct {
		Class string  `xml:"class,attr"`
		CY    float64 `xml:"cy,attr"`
		Title string  `xml:"title"`
	} `xml:"circle"`
	Lines []struct {
		Class string `xml:"class,attr"`
	} `xml:"polyline"`
}

func parse(t *testing.T, s string) svg {
	t.Helper()
	var v svg
	if err := xml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("Line wrote SVG that does not parse: %v\n%s", err, s)
	}
	return v
}

func TestLineTicks(t *testing.T) {
	for _, c := range []struct {
		name      string
		lo, hi    float64
		values    []float64
		top, down string
	}{
		{"fixed range", 0, 100, []float64{20, 35}, "100 %", "0 %"},
		{"auto range", 0, 0, []float64{-7.25, -5.5}, "-5.5 %", "-7.25 %"},
		// A CEM search whose likelihoods span less than 0.01 once read "-5.53" at both ends.
		{"close scores", 0, 0, []float64{-5.5312, -5.5274}, "-5.527 %", "-5.531 %"},
		{"closer still", 0, 0, []float64{0.1234561, 0.1234567}, "0.123457 %", "0.123456 %"},
		{"one value", 0, 0, []float64{2}, "2.5 %", "1.5 %"},
		{"no values", 0, 0, nil, "1 %", "0 %"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pts []Point
			for i, v := range c.values {
				pts = append(pts, Point{Iter: i + 1, V: v})
			}
			v := parse(t, Line("score", 4, " %", c.lo, c.hi, []Series{{Class: "best", Name: "best", Points: pts}}))
			if len(v.Ticks) < 2 || v.Ticks[0] != c.top || v.Ticks[1] != c.down {
				t.Fatalf("ticks %q, want %q at the top and %q at the bottom", v.Ticks, c.top, c.down)
			}
		})
	}
}

func TestLinePoints(t *testing.T) {
	s := Line(`a <b> & "c"`, 3, "", 0, 0, []Series{
		{Class: "mean", Name: "mean", Points: []Point{{1, 1}, {2, 2}}},
		{Class: "best", Name: `<script>`, Points: []Point{{1, 2}, {2, 4}, {3, 4}}},
	})
	if strings.Contains(s, "<script>") || strings.Contains(s, `a <b>`) {
		t.Fatalf("a name reached the SVG unescaped:\n%s", s)
	}
	v := parse(t, s)
	if len(v.Lines) != 2 || v.Lines[0].Class != "mean" || v.Lines[1].Class != "best" {
		t.Fatalf("polylines %+v, want mean then best", v.Lines)
	}
	if len(v.Circles) != 5 {
		t.Fatalf("%d circles, want one per point (5)", len(v.Circles))
	}
	// Higher values are drawn higher (smaller y); the top value on the top of the axis.
	best := v.Circles[2:]
	if !(best[0].CY > best[1].CY && best[1].CY == best[2].CY) {
		t.Fatalf("best's points at y %v, %v, %v: want 2 below 4, and 4 twice at one height", best[0].CY, best[1].CY, best[2].CY)
	}
	if want := "iteration 3: <script> 4"; best[2].Title != want {
		t.Fatalf("the last point's title is %q, want %q", best[2].Title, want)
	}
}
