package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// The site's icon: a white "T" and an amber superscript "2" on the theme's navy, drawn
// from rectangles on a 32×32 grid, as SVG and as PNGs (the manifest needs 192 and 512
// pixel PNGs for a browser to offer installing the page).

// iconUnits is the side of the icon's grid.
const iconUnits = 32

// iconRect is a rectangle of the grid, [x0, x1) × [y0, y1), in one color.
type iconRect struct {
	x0, y0, x1, y1 int
	fill           color.RGBA
}

var (
	iconNavy  = color.RGBA{0x1d, 0x2a, 0x44, 0xff} // manifest.webmanifest's theme_color
	iconWhite = color.RGBA{0xf4, 0xf6, 0xfa, 0xff}
	iconAmber = color.RGBA{0xf0, 0xa0, 0x30, 0xff}
)

// iconRects are the glyphs, drawn over the navy background; they stay inside the
// central circle that a maskable icon keeps.
var iconRects = func() []iconRect {
	r := []iconRect{
		{7, 9, 20, 12, iconWhite},   // T's bar
		{12, 12, 15, 25, iconWhite}, // T's stem
	}
	// "2" in a 3×5 pixel font, 2 units a pixel, its top left at (21, 7).
	two := []string{
		"###",
		"..#",
		"###",
		"#..",
		"###",
	}
	for y, row := range two {
		for x, c := range row {
			if c == '#' {
				x0, y0 := 20+2*x, 7+2*y
				r = append(r, iconRect{x0, y0, x0 + 2, y0 + 2, iconAmber})
			}
		}
	}
	return r
}()

// iconSVG is the icon as SVG, with rounded corners.
func iconSVG() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d">`+"\n", iconUnits, iconUnits)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" rx="6" fill="%s"/>`+"\n", iconUnits, iconUnits, hexColor(iconNavy))
	for _, r := range iconRects {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", r.x0, r.y0, r.x1-r.x0, r.y1-r.y0, hexColor(r.fill))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// iconPNG is the icon as a size×size PNG, square (a maskable icon fills its square).
func iconPNG(size int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			// The grid point at the pixel's centre.
			ux := (float64(x) + 0.5) * iconUnits / float64(size)
			uy := (float64(y) + 0.5) * iconUnits / float64(size)
			c := iconNavy
			for _, r := range iconRects {
				if ux >= float64(r.x0) && ux < float64(r.x1) && uy >= float64(r.y0) && uy < float64(r.y1) {
					c = r.fill
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // writing to memory does not fail
	}
	return b.Bytes()
}

func hexColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }
