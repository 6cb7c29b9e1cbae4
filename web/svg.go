//go:build js && wasm

package main

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/vugu/vugu"

	"github.com/t2web/t2web/wasm/protocol"
)

// The charts are inline SVG written as text (vg-html): every number is ours, every name
// escaped.

// plotSVG is the convergence plot: best-so-far and mean score per CEM iteration.
func (c *Root) plotSVG() vugu.HTML {
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
func (c *Root) alphaSVG() vugu.HTML {
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

// heatSVG is expert x's map of mean |z−1| per layer (rows) and matrix kind (columns).
func heatSVG(x protocol.ExpertCard) vugu.HTML {
	if len(x.Heat) == 0 || len(x.Kinds) == 0 {
		return vugu.HTML(`<p class="empty">no adapted matrices</p>`)
	}
	top := 0.0
	for _, row := range x.Heat {
		for _, v := range row {
			top = max(top, v)
		}
	}
	const cell, head, left = 14.0, 34.0, 24.0
	cols, rows := len(x.Kinds), len(x.Heat)
	w, h := left+float64(cols)*cell+4, head+float64(rows)*cell+4
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" style="max-width:%gpx" role="img" aria-label="mean |z-1| of %s per layer and matrix (largest %.3g)">`,
		w, h, w*1.6, html.EscapeString(x.Name), top)
	for k, kind := range x.Kinds {
		cx := left + float64(k)*cell + cell/2
		fmt.Fprintf(&b, `<text class="kind" transform="translate(%.1f %g) rotate(-60)">%s</text>`, cx+3, head-3, html.EscapeString(shortKind(kind)))
	}
	for l, row := range x.Heat {
		yy := head + float64(l)*cell
		if rows <= 12 || l%max(rows/8, 1) == 0 {
			fmt.Fprintf(&b, `<text class="layer" x="0" y="%.1f">L%d</text>`, yy+cell-3, l)
		}
		for k, v := range row {
			xx := left + float64(k)*cell
			if v < 0 {
				fmt.Fprintf(&b, `<rect class="none" x="%.1f" y="%.1f" width="%g" height="%g"/>`, xx, yy, cell-1, cell-1)
				continue
			}
			t := 0.0
			if top > 0 {
				t = v / top
			}
			fmt.Fprintf(&b, `<rect class="cell" x="%.1f" y="%.1f" width="%g" height="%g" fill-opacity="%.3f"><title>layer %d %s: mean |z-1| %.4f</title></rect>`,
				xx, yy, cell-1, cell-1, 0.08+0.92*t, l, html.EscapeString(x.Kinds[k]), v)
		}
	}
	b.WriteString(`</svg>`)
	return vugu.HTML(b.String())
}

// shortKind drops the block's prefix of a matrix kind: "mlp.gate_proj" → "gate".
func shortKind(kind string) string {
	if i := strings.LastIndex(kind, "."); i >= 0 {
		kind = kind[i+1:]
	}
	return strings.TrimSuffix(kind, "_proj")
}

// cardText is an expert's card line: where it comes from, its domain and score.
func cardText(x protocol.ExpertCard) string {
	parts := []string{x.Source}
	if x.Domain != "" {
		parts = append(parts, "domain "+x.Domain)
	}
	if x.Score != nil {
		parts = append(parts, fmt.Sprintf("score %.3f", *x.Score))
	} else {
		parts = append(parts, "score not measured")
	}
	if len(x.MixOf) > 0 {
		parts = append(parts, "mixture α "+alphaList(x.MixOf, x.Alpha))
	}
	return strings.Join(parts, " · ")
}
