//go:build js && wasm

package main

import (
	"fmt"
	"html"
	"strings"

	"github.com/vugu/vugu"

	"github.com/t2web/t2web/wasm/protocol"
)

// Experts is the experts view: a card per expert of the loaded model (Shared.Experts),
// each with its map of how far it moves the singular values, and buttons to answer the
// chat with it (Shared.UseExpert) or download it (Shared.Download). It keeps no state of
// its own: the experts come from the engine, and what the buttons change is shared.
type Experts struct {
	*Shared
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
