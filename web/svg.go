//go:build js && wasm

package main

import (
	"fmt"
	"html"
	"strings"

	"github.com/vugu/vugu"

	"github.com/t2web/t2web/web/chart"
)

// The charts are inline SVG written as text (vg-html, see package chart): every number is
// ours, every name escaped.

// plotSVG is the convergence plot: best-so-far and mean score per CEM iteration.
func (c *FewShot) plotSVG() vugu.HTML {
	var best, mean []chart.Point
	iters := 1
	for _, s := range c.Steps {
		best, mean = append(best, chart.Point{Iter: s.Iter, V: s.Best}), append(mean, chart.Point{Iter: s.Iter, V: s.Mean})
		iters = max(iters, s.Iters)
	}
	return vugu.HTML(chart.Line("CEM convergence: score per iteration", iters, "", 0, 0, []chart.Series{{Class: "mean", Name: "mean", Points: mean}, {Class: "best", Name: "best", Points: best}}))
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
