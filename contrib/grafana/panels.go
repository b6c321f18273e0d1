package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// window is the range of the rates and quantiles ($__rate_interval); a
// test shortens it.
var window = 10 * time.Second

// line is one series of a panel: a legend and its points (seconds since
// the start, value).
type line struct {
	legend string
	xys    plotter.XYs
}

// panel is one panel of the dashboard, as computed from the samples.
type panel struct {
	title, unit string
	lines       []line
}

// selector picks the series of name whose labels include match and sums
// them by the label by ("" sums all).
type selector struct {
	name  string
	match map[string]string
	by    string
}

// parseKey undoes key.
func parseKey(k string) (name string, labels map[string]string) {
	name, rest, ok := strings.Cut(k, "{")
	labels = map[string]string{}
	if !ok {
		return name, labels
	}
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		if n, v, ok := strings.Cut(kv, "="); ok {
			labels[n] = v
		}
	}
	return name, labels
}

// values returns, for each group of sel, its value in each scrape.
func values(samples []scrape, sel selector) map[string][]float64 {
	out := map[string][]float64{}
	for i, s := range samples {
		for k, v := range s.values {
			name, labels := parseKey(k)
			if name != sel.name || !matches(labels, sel.match) {
				continue
			}
			g := labels[sel.by]
			if out[g] == nil {
				out[g] = make([]float64, len(samples))
			}
			out[g][i] += v
		}
	}
	return out
}

func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// rate is PromQL's rate over window, per scrape from the first full
// window on.
func rate(samples []scrape, vals []float64) plotter.XYs {
	var xys plotter.XYs
	start := samples[0].at
	for i, s := range samples {
		j := back(samples, i)
		if j < 0 {
			continue
		}
		dt := s.at.Sub(samples[j].at).Seconds()
		xys = append(xys, plotter.XY{X: s.at.Sub(start).Seconds(), Y: math.Max(vals[i]-vals[j], 0) / dt})
	}
	return xys
}

// back returns the scrape a window before i, or -1.
func back(samples []scrape, i int) int {
	for j := i - 1; j >= 0; j-- {
		if samples[i].at.Sub(samples[j].at) >= window {
			return j
		}
	}
	return -1
}

// quantile is PromQL's histogram_quantile(q, sum by (le) (rate(name_bucket[window]))).
func quantile(samples []scrape, q float64, name string) plotter.XYs {
	buckets := values(samples, selector{name: name + "_bucket", by: "le"})
	type bucket struct {
		le   float64
		vals []float64
	}
	var bs []bucket
	for le, vals := range buckets {
		f, err := strconv.ParseFloat(le, 64)
		if err == nil {
			bs = append(bs, bucket{f, vals})
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	var xys plotter.XYs
	start := samples[0].at
	for i, s := range samples {
		j := back(samples, i)
		if j < 0 || len(bs) == 0 {
			continue
		}
		total := bs[len(bs)-1].vals[i] - bs[len(bs)-1].vals[j] // +Inf is the last bucket
		if total <= 0 {
			continue
		}
		rank, prevLE, prevN := q*total, 0.0, 0.0
		for _, b := range bs {
			n := b.vals[i] - b.vals[j]
			if n >= rank {
				y := b.le
				if !math.IsInf(b.le, 1) && n > prevN {
					y = prevLE + (b.le-prevLE)*(rank-prevN)/(n-prevN)
				} else if math.IsInf(b.le, 1) {
					y = prevLE
				}
				xys = append(xys, plotter.XY{X: s.at.Sub(start).Seconds(), Y: y})
				break
			}
			prevLE, prevN = b.le, n
		}
	}
	return xys
}

// rates returns a line per group of sel, legend prefix+group.
func rates(samples []scrape, sel selector, prefix string) []line {
	var out []line
	groups := values(samples, sel)
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		out = append(out, line{legend: prefix + g, xys: rate(samples, groups[g])})
	}
	return out
}

// panels computes the panels of the dashboard that the picture shows.
func panels(samples []scrape) []panel {
	const req = "zmqguard_client_request_duration_seconds"
	one := func(name, legend string, match map[string]string) line {
		return line{legend, rate(samples, values(samples, selector{name: name, match: match})[""])}
	}
	return []panel{
		{"Requests by outcome", "req/s", rates(samples, selector{name: req + "_count", by: "outcome"}, "")},
		{"Request duration", "seconds", []line{
			{"p50", quantile(samples, 0.5, req)}, {"p99", quantile(samples, 0.99, req)},
		}},
		{"Retries, timeouts, stale replies", "per second", []line{
			one("zmqguard_client_retries_total", "retries", nil),
			one("zmqguard_client_attempt_failures_total", "attempt timeouts", map[string]string{"outcome": "timeout"}),
			one("zmqguard_client_stale_replies_total", "stale replies", nil),
			one("zmqguard_client_give_ups_total", "give-ups", nil),
		}},
		{"Handler failures and cache hits", "per second", append(
			rates(samples, selector{name: "zmqguard_server_handler_duration_seconds_count", match: map[string]string{"outcome": "error"}, by: "outcome"}, ""),
			append(rates(samples, selector{name: "zmqguard_server_handler_duration_seconds_count", match: map[string]string{"outcome": "panic"}, by: "outcome"}, ""),
				rates(samples, selector{name: "zmqguard_server_cache_hits_total", by: "kind"}, "cache hit ")...)...)},
		{"Messages", "msg/s", append(
			rates(samples, selector{name: "zmqguard_socket_sent_messages_total", by: "component"}, "sent by "),
			rates(samples, selector{name: "zmqguard_socket_received_messages_total", by: "component"}, "received by ")...)},
		{"Bytes", "MiB/s", scale(append(
			rates(samples, selector{name: "zmqguard_socket_sent_bytes_total", by: "component"}, "sent by "),
			rates(samples, selector{name: "zmqguard_socket_received_bytes_total", by: "component"}, "received by ")...), 1.0/(1<<20))},
	}
}

func scale(lines []line, f float64) []line {
	for _, l := range lines {
		for i := range l.xys {
			l.xys[i].Y *= f
		}
	}
	return lines
}

// plotPanels draws the panels in a grid of two columns and writes a PNG.
func plotPanels(samples []scrape, out string) error {
	if len(samples) < 2 {
		return fmt.Errorf("%d scrapes: too few to plot", len(samples))
	}
	ps := panels(samples)
	const cols = 2
	rows := (len(ps) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, pn := range ps {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "seconds"
		p.Y.Label.Text = pn.unit
		p.Y.Min = 0
		p.Legend.Top = true
		for k, l := range pn.lines {
			if len(l.xys) == 0 {
				continue
			}
			ln, err := plotter.NewLine(l.xys)
			if err != nil {
				return err
			}
			ln.Color = plotutil.Color(k)
			ln.Width = vg.Points(1.5)
			p.Add(ln)
			p.Legend.Add(l.legend, ln)
		}
		p.Add(plotter.NewGrid())
		grid[i/cols][i%cols] = p
	}
	img := vgimg.New(vg.Points(1100), vg.Points(float64(330*rows)))
	dc := draw.New(img)
	canvases := plot.Align(grid, draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(12), PadY: vg.Points(12),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
