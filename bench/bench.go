package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config says how long and how much to run.
type Config struct {
	Quick  bool           // few short rounds: checks that every row runs
	Rounds int            // rounds; 0 means 5 (full) or 2 (quick)
	Filter *regexp.Regexp // run only rows whose name matches; nil: all
	Log    io.Writer      // progress; nil: none
}

// n returns full or quick by mode.
func (c *Config) n(full, quick int) int {
	if c.Quick {
		return quick
	}
	return full
}

// Metric is one number a row reports per variant and round.
type Metric struct {
	Key          string // e.g. "msgs/s", "p50-us"
	HigherBetter bool
	// MinBase: no ratio for a round whose baseline value is below it (an
	// allocation count of 0.0001 is 0, not a divisor).
	MinBase float64
}

// Variant is one implementation measured in a row. Run measures once (one
// round) and returns a value for each of the row's metrics.
type Variant struct {
	Name string
	Run  func(cfg *Config) (map[string]float64, error)
}

// Row is one comparison: the same measurement over several variants.
type Row struct {
	Name     string
	Note     string // what the row measures, for the docs and the json
	Metrics  []Metric
	Baseline string // variant that ratios are taken against ("" : none)
	Variants []Variant
}

// Result is one (row, variant, metric) line of the table, as written to
// results.json.
type Result struct {
	Row          string    `json:"row"`
	Variant      string    `json:"variant"`
	Metric       string    `json:"metric"`
	HigherBetter bool      `json:"higher_better"`
	Median       float64   `json:"median"`
	Min          float64   `json:"min"`
	Max          float64   `json:"max"`
	Samples      []float64 `json:"samples"`
	Baseline     string    `json:"baseline,omitempty"`
	Ratio        *float64  `json:"ratio,omitempty"`     // median of per-round variant/baseline
	RatioMin     *float64  `json:"ratio_min,omitempty"` // spread of the per-round ratios
	RatioMax     *float64  `json:"ratio_max,omitempty"`
	Errors       []string  `json:"errors,omitempty"`
}

// Report is the whole run, as written to results.json.
type Report struct {
	Schema   string    `json:"schema"` // "zmqguard-bench/1"
	Mode     string    `json:"mode"`   // "full" or "quick"
	Rounds   int       `json:"rounds"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Results  []Result  `json:"results"`
	Failures int       `json:"failures"` // variant runs that returned an error
}

type cell struct {
	vals map[string]float64
	err  error
}

// Run runs the rows that match cfg.Filter, interleaved in rounds: in round r
// every row runs each of its variants once, starting with a variant that
// rotates with r so that no variant always runs first.
func Run(cfg *Config, rows []Row) *Report {
	if cfg.Rounds <= 0 {
		cfg.Rounds = cfg.n(5, 2)
	}
	var sel []Row
	for _, r := range rows {
		if cfg.Filter == nil || cfg.Filter.MatchString(r.Name) {
			sel = append(sel, r)
		}
	}
	rep := &Report{Schema: "zmqguard-bench/1", Mode: "full", Rounds: cfg.Rounds, Started: time.Now().UTC(), Machine: machine()}
	if cfg.Quick {
		rep.Mode = "quick"
	}
	// cells[row][variant][round]
	cells := make([][][]cell, len(sel))
	for i, r := range sel {
		cells[i] = make([][]cell, len(r.Variants))
		for j := range r.Variants {
			cells[i][j] = make([]cell, cfg.Rounds)
		}
	}
	for round := 0; round < cfg.Rounds; round++ {
		for i, r := range sel {
			for k := range r.Variants {
				j := (k + round) % len(r.Variants)
				v := r.Variants[j]
				start := time.Now()
				vals, err := safeRun(cfg, v)
				cells[i][j][round] = cell{vals, err}
				if cfg.Log != nil {
					status := "ok"
					if err != nil {
						status = "ERROR: " + err.Error()
					}
					fmt.Fprintf(cfg.Log, "round %d/%d %-34s %-28s %6.2fs %s\n", round+1, cfg.Rounds, r.Name, v.Name, time.Since(start).Seconds(), status)
				}
			}
		}
	}
	cleanupShared()
	for i, r := range sel {
		base := slices.IndexFunc(r.Variants, func(v Variant) bool { return v.Name == r.Baseline })
		for j, v := range r.Variants {
			for _, m := range r.Metrics {
				res := Result{Row: r.Name, Variant: v.Name, Metric: m.Key, HigherBetter: m.HigherBetter}
				var ratios []float64
				for round, c := range cells[i][j] {
					if c.err != nil {
						if m == r.Metrics[0] {
							res.Errors = append(res.Errors, c.err.Error())
							rep.Failures++
						}
						continue
					}
					x, ok := c.vals[m.Key]
					if !ok || math.IsNaN(x) {
						continue
					}
					res.Samples = append(res.Samples, x)
					if base >= 0 && base != j {
						b := cells[i][base][round]
						if bx, ok := b.vals[m.Key]; b.err == nil && ok && bx != 0 && math.Abs(bx) >= m.MinBase {
							ratios = append(ratios, x/bx)
						}
					}
				}
				if len(res.Samples) == 0 {
					if len(res.Errors) > 0 {
						rep.Results = append(rep.Results, res)
					}
					continue
				}
				res.Median, res.Min, res.Max = stats(res.Samples)
				if base >= 0 && base != j && len(ratios) > 0 {
					md, lo, hi := stats(ratios)
					res.Baseline, res.Ratio, res.RatioMin, res.RatioMax = r.Baseline, &md, &lo, &hi
				}
				rep.Results = append(rep.Results, res)
			}
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	return rep
}

func safeRun(cfg *Config, v Variant) (vals map[string]float64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	vals, err = v.Run(cfg)
	if err == nil && vals == nil {
		err = errors.New("no result")
	}
	return vals, err
}

// stats returns the median, min and max of xs.
func stats(xs []float64) (med, lo, hi float64) {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// percentile returns the p-th percentile (0..100) of sorted durations, in µs.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}

// Table renders the report as a Markdown table.
func (rep *Report) Table() string {
	var b strings.Builder
	b.WriteString("| row | variant | metric | median | min-max | ratio vs baseline (min-max) |\n")
	b.WriteString("| --- | --- | --- | ---: | ---: | ---: |\n")
	for _, r := range rep.Results {
		arrow := "↓"
		if r.HigherBetter {
			arrow = "↑"
		}
		ratio := ""
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%sx (%s-%s)", rnum(*r.Ratio), rnum(*r.RatioMin), rnum(*r.RatioMax))
		}
		med, spread := "ERROR", ""
		if len(r.Samples) > 0 {
			med, spread = num(r.Median), num(r.Min)+" - "+num(r.Max)
		}
		if len(r.Errors) > 0 {
			spread += fmt.Sprintf(" (%d errors: %s)", len(r.Errors), trunc(r.Errors[0], 60))
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s | %s |\n", r.Row, r.Variant, r.Metric, arrow, med, spread, ratio)
	}
	return b.String()
}

func trunc(s string, n int) string {
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func num(x float64) string {
	ax := math.Abs(x)
	switch {
	case ax >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case ax >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	case ax >= 100:
		return fmt.Sprintf("%.0f", x)
	case ax >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// rnum formats a ratio with two significant digits below 0.1.
func rnum(x float64) string {
	if x != 0 && math.Abs(x) < 0.1 {
		return fmt.Sprintf("%.2g", x)
	}
	return fmt.Sprintf("%.2f", x)
}
