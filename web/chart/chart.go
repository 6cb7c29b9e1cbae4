// Package chart writes the page's charts as inline SVG text (the page sets it with
// vg-html): every number is formatted here and every name escaped.
package chart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Point is one value of a chart at an iteration (from 1).
type Point struct {
	Iter int
	V    float64
}

// Series is one line of a chart: its class (the style sheet's), its name and its points.
type Series struct {
	Class, Name string
	Points      []Point
}

// Line is a line chart of series over iterations 1…iters, one circle per point (a
// title says its value), on [lo, hi], or on the range of the values when lo ≥ hi; unit
// follows the ticks.
func Line(label string, iters int, unit string, lo, hi float64, series []Series) string {
	const w, h, pad = 320.0, 160.0, 24.0
	auto, last := lo >= hi, 0
	if auto {
		lo, hi = math.Inf(1), math.Inf(-1)
	}
	for _, s := range series {
		for _, p := range s.Points {
			last = max(last, p.Iter)
			if auto {
				lo, hi = min(lo, p.V), max(hi, p.V)
			}
		}
	}
	if auto && last == 0 {
		lo, hi = 0, 1
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	iters = max(iters, last, 1)
	x := func(i int) float64 {
		if iters <= 1 {
			return pad + (w-2*pad)/2
		}
		return pad + float64(i-1)*(w-2*pad)/float64(iters-1)
	}
	y := func(v float64) float64 { return h - pad - (v-lo)/(hi-lo)*(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h, html.EscapeString(label))
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/><line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`,
		pad, h-pad, w-pad, h-pad, pad, pad, pad, h-pad)
	top, bottom := tickLabels(hi, lo)
	fmt.Fprintf(&b, `<text class="tick" x="2" y="%g">%s%s</text><text class="tick" x="2" y="%g">%s%s</text>`, pad+4, top, unit, h-pad, bottom, unit)
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g">iteration %d</text>`, w-pad-70, h-6, last)
	for _, s := range series {
		pts := make([]string, len(s.Points))
		for i, p := range s.Points {
			pts[i] = fmt.Sprintf("%.1f,%.1f", x(p.Iter), y(p.V))
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, s.Class, strings.Join(pts, " "))
		for _, p := range s.Points {
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2.5"><title>iteration %d: %s %.4g%s</title></circle>`,
				s.Class, x(p.Iter), y(p.V), p.Iter, html.EscapeString(s.Name), p.V, unit)
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// tickLabels writes the ends of an axis with three significant digits, or as many more as
// they need to differ: a search whose scores span 0.004 gets "-5.531" and "-5.527", not
// "-5.53" twice.
func tickLabels(hi, lo float64) (string, string) {
	for digits := 3; ; digits++ {
		a, b := strconv.FormatFloat(hi, 'g', digits, 64), strconv.FormatFloat(lo, 'g', digits, 64)
		if a != b || digits == 17 {
			return a, b
		}
	}
}
