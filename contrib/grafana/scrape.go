package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one scrape: each series' value, keyed by name and sorted
// labels, e.g. `zmqguard_client_attempts_total` or
// `zmqguard_client_request_duration_seconds_bucket{le="0.1",outcome="ok"}`.
type scrape struct {
	at     time.Time
	values map[string]float64
}

// scrapeWhile scrapes l's metrics every step for d; the incident runs in
// the middle third.
func scrapeWhile(ctx context.Context, l *load, d, step time.Duration) ([]scrape, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	tick := time.NewTicker(step)
	defer tick.Stop()
	var out []scrape
	for {
		el := time.Since(start)
		l.incident.Store(el > d/3 && el < 2*d/3)
		s, err := scrapeOnce(ctx, client, l.url)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if el >= d {
			return out, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func scrapeOnce(ctx context.Context, client *http.Client, url string) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return scrape{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return scrape{}, err
	}
	s := scrape{at: time.Now(), values: map[string]float64{}}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			labels := labelPairs(m.GetLabel())
			switch {
			case m.Counter != nil:
				s.values[key(name, labels)] = m.Counter.GetValue()
			case m.Gauge != nil:
				s.values[key(name, labels)] = m.Gauge.GetValue()
			case m.Histogram != nil:
				h := m.Histogram
				s.values[key(name+"_count", labels)] = float64(h.GetSampleCount())
				for _, b := range h.GetBucket() {
					s.values[key(name+"_bucket", append(labels, "le="+fmt.Sprint(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return s, nil
}

func labelPairs(ls []*dto.LabelPair) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.GetName()+"="+l.GetValue())
	}
	return out
}

func key(name string, labels []string) string {
	if len(labels) == 0 {
		return name
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}
