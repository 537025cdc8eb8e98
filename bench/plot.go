package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotPercentiles are the points of each latency curve.
var plotPercentiles = []float64{1, 10, 25, 50, 75, 90, 95, 98, 99, 99.5, 99.9, 99.95, 99.99, 100}

// nines maps a percentile to the plot's x axis, -log10(1-p/100), so that 90, 99 and 99.9
// are evenly spaced; 100 is drawn at 4.5.
func nines(p float64) float64 {
	if p >= 100 {
		return 4.5
	}
	return -math.Log10(1 - p/100)
}

// Plot draws the latency-by-percentile curve of every operation of every report into path;
// the extension (.svg, .png, .pdf, …) picks the format.
func Plot(path string, reports []*Report) error {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".svg", ".png", ".pdf", ".jpg", ".jpeg", ".eps", ".tif", ".tiff":
	default:
		return fmt.Errorf("bench: plot %s: unsupported extension %q", path, ext)
	}
	p := plot.New()
	if len(reports) > 0 {
		p.Title.Text = "keelbench " + reports[0].Workload + ": latency by percentile"
	}
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = ticks125{}
	p.X.Min, p.X.Max = 0, 4.6
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{
		{Value: nines(50), Label: "50"}, {Value: nines(90), Label: "90"}, {Value: nines(99), Label: "99"},
		{Value: nines(99.9), Label: "99.9"}, {Value: nines(99.99), Label: "99.99"}, {Value: nines(100), Label: "max"},
	})
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false // bottom right: latency grows to the right, so that corner stays empty
	var lines []any
	for _, r := range reports {
		for _, o := range r.Ops {
			h := r.hists[o.Op]
			if h == nil || h.Count() == 0 {
				continue
			}
			xys := make(plotter.XYs, len(plotPercentiles))
			for i, pc := range plotPercentiles {
				// A log axis cannot draw 0; floor at 1µs.
				xys[i] = plotter.XY{X: nines(pc), Y: math.Max(msf(h.Percentile(pc)), 0.001)}
			}
			label := o.Op
			if len(reports) > 1 {
				label = r.Name + " " + o.Op
			}
			lines = append(lines, label, xys)
		}
	}
	if len(lines) == 0 {
		return fmt.Errorf("bench: plot %s: nothing was measured", path)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

// ticks125 labels a log axis at 1, 2 and 5 times each power of ten, so that even a range
// narrower than a decade gets a few labels.
type ticks125 struct{}

// Ticks implements plot.Ticker.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, e); v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}
