//go:build js && wasm

package main

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/vugu/vugu"
)

// The charts are inline SVG written as text (vg-html): every number is ours, every name
// escaped.

// plotSVG is the convergence plot: best-so-far and mean score per CEM iteration.
func (c *FewShot) plotSVG() vugu.HTML {
	var best, mean []point
	iters := 1
	for _, s := range c.Steps {
		best, mean = append(best, point{s.Iter, s.Best}), append(mean, point{s.Iter, s.Mean})
		iters = max(iters, s.Iters)
	}
	return chartSVG("CEM convergence: score per iteration", iters, "", 0, 0, []chartSeries{{"mean", "mean", mean}, {"best", "best", best}})
}

// point is one value of a chart at an iteration (from 1).
type point struct {
	Iter int
	V    float64
}

// chartSeries is one line of a chart: its class (the style), its name and its points.
type chartSeries struct {
	class, name string
	points      []point
}

// chartSVG is a line chart of series over iterations 1…iters, one circle per point (a
// title says its value), on [lo, hi], or on the range of the values when lo ≥ hi; unit
// follows the ticks.
func chartSVG(label string, iters int, unit string, lo, hi float64, series []chartSeries) vugu.HTML {
	const w, h, pad = 320.0, 160.0, 24.0
	auto, last := lo >= hi, 0
	if auto {
		lo, hi = math.Inf(1), math.Inf(-1)
	}
	for _, s := range series {
		for _, p := range s.points {
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
	fmt.Fprintf(&b, `<text class="tick" x="2" y="%g">%.3g%s</text><text class="tick" x="2" y="%g">%.3g%s</text>`, pad+4, hi, unit, h-pad, lo, unit)
	fmt.Fprintf(&b, `<text class="tick" x="%g" y="%g">iteration %d</text>`, w-pad-70, h-6, last)
	for _, s := range series {
		pts := make([]string, len(s.points))
		for i, p := range s.points {
			pts[i] = fmt.Sprintf("%.1f,%.1f", x(p.Iter), y(p.V))
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, s.class, strings.Join(pts, " "))
		for _, p := range s.points {
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2.5"><title>iteration %d: %s %.4g%s</title></circle>`,
				s.class, x(p.Iter), y(p.V), p.Iter, html.EscapeString(s.name), p.V, unit)
		}
	}
	b.WriteString(`</svg>`)
	return vugu.HTML(b.String())
}

// alphaSVG is the adapted mixture's α as a bar chart, one bar per expert (the mean over
// layers for per-layer α), on [0, 1].
func (c *FewShot) alphaSVG() vugu.HTML {
	m := c.Adapted
	const bar, gap, label, w = 18.0, 8.0, 90.0, 320.0
	h := float64(len(m.Experts))*(bar+gap) + gap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" role="img" aria-label="α per expert">`, w, h)
	for k, name := range m.Experts {
		a := 0.0
		if k < len(m.Alpha) {
			a = mean(m.Alpha[k])
		}
		yy := gap + float64(k)*(bar+gap)
		fmt.Fprintf(&b, `<text class="name" x="0" y="%.1f">%s</text>`, yy+bar-5, html.EscapeString(name))
		fmt.Fprintf(&b, `<rect class="track" x="%g" y="%.1f" width="%g" height="%g"/>`, label, yy, w-label-40, bar)
		fmt.Fprintf(&b, `<rect class="bar" data-expert="%s" data-alpha="%.4f" x="%g" y="%.1f" width="%.1f" height="%g"/>`,
			html.EscapeString(name), a, label, yy, a*(w-label-40), bar)
		fmt.Fprintf(&b, `<text class="value" x="%g" y="%.1f">%.2f</text>`, w-36, yy+bar-5, a)
	}
	b.WriteString(`</svg>`)
	return vugu.HTML(b.String())
}
