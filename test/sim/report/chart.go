package report

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var armColors = map[string]color.Color{
	ArmNone:      color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff},
	ArmChart:     color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	ArmPrepuller: color.RGBA{R: 0xd6, G: 0x62, B: 0x1e, A: 0xff},
	ArmPlaced:    color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// Chart writes a PNG with three panels (cold-start share, pull wait p95,
// GB pulled per node), one bar group per scheduler, one bar per arm.
func Chart(rows []Summary, path string) error {
	var schedulers, arms []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen["s/"+r.Scheduler] {
			seen["s/"+r.Scheduler] = true
			schedulers = append(schedulers, r.Scheduler)
		}
		if !seen["a/"+r.Arm] {
			seen["a/"+r.Arm] = true
			arms = append(arms, r.Arm)
		}
	}
	value := func(metric func(Summary) float64, arm, sched string) float64 {
		for _, r := range rows {
			if r.Arm == arm && r.Scheduler == sched {
				return metric(r)
			}
		}
		return 0
	}
	panels := []struct {
		title, unit string
		metric      func(Summary) float64
	}{
		{"Cold starts", "% of measured starts", func(s Summary) float64 { return 100 * s.ColdShare }},
		{"User wait caused by pulls, p95", "simulated seconds", func(s Summary) float64 { return s.P95 }},
		{"Bytes pulled per node", "GB (mean over nodes)", func(s Summary) float64 { return s.GBPerNode }},
	}
	const w, h = 11 * vg.Centimeter, 10 * vg.Centimeter
	img := vgimg.New(3*w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	barWidth := vg.Points(18)
	for i, panel := range panels {
		p := plot.New()
		p.Title.Text = panel.title
		p.Y.Label.Text = panel.unit
		p.Y.Min = 0
		for j, arm := range arms {
			vals := make(plotter.Values, len(schedulers))
			for k, sched := range schedulers {
				vals[k] = value(panel.metric, arm, sched)
			}
			bars, err := plotter.NewBarChart(vals, barWidth)
			if err != nil {
				return fmt.Errorf("chart %q: %w", panel.title, err)
			}
			bars.LineStyle.Width = 0
			if c, ok := armColors[arm]; ok {
				bars.Color = c
			}
			bars.Offset = vg.Length(j-len(arms)/2) * barWidth
			p.Add(bars)
			if i == 0 {
				p.Legend.Add(arm, bars)
			}
		}
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.YOffs = vg.Millimeter * 2
		p.NominalX(schedulers...)
		p.X.Min, p.X.Max = -0.6, float64(len(schedulers))-0.4
		top := 0.0
		for _, r := range rows {
			top = max(top, panel.metric(r))
		}
		// Room above the tallest bar for the legend.
		p.Y.Max = top * 1.3
		p.Draw(tiles.At(dc, i, 0))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing chart %s: %w", path, err)
	}
	return f.Close()
}
