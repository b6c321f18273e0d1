package zgprom_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zgprom "github.com/zmqguard/zmqguard/contrib/prometheus"
	"github.com/zmqguard/zmqguard/internal/observetest"
)

// scrape GETs url and parses the text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// runAndScrape registers m, serves it over HTTP, runs observetest with
// it and scrapes the result.
func runAndScrape(t *testing.T, m *zgprom.Metrics) (observetest.Result, map[string]*dto.MetricFamily) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	r := observetest.Run(t, observetest.Config{Client: m, Server: m})
	return r, scrape(t, srv.URL+"/metrics")
}

// value returns the counter, gauge or histogram count of the series of
// fam whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	fam := fams[name]
	if fam == nil {
		return -1
	}
	var sum float64
next:
	for _, m := range fam.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestScrapeShowsWhatHappened: the series a real scrape returns count what
// a real client and server did.
func TestScrapeShowsWhatHappened(t *testing.T) {
	m, err := zgprom.New()
	require.NoError(t, err)
	r, fams := runAndScrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"zmqguard_client_request_duration_seconds", nil, observetest.Requests},
		{"zmqguard_client_request_duration_seconds", map[string]string{"outcome": "ok"}, 1},
		{"zmqguard_client_request_duration_seconds", map[string]string{"outcome": "gave_up"}, 1},
		{"zmqguard_client_request_duration_seconds", map[string]string{"outcome": "remote_error"}, observetest.RemoteError},
		{"zmqguard_client_attempts_total", nil, observetest.Attempts},
		{"zmqguard_client_retries_total", nil, observetest.Retries},
		{"zmqguard_client_attempt_failures_total", map[string]string{"outcome": "timeout"}, observetest.Timeouts},
		{"zmqguard_client_give_ups_total", nil, observetest.GiveUps},
		{"zmqguard_client_stale_replies_total", nil, observetest.Stale},
		{"zmqguard_server_handler_duration_seconds", map[string]string{"outcome": "ok"}, observetest.HandledOK},
		{"zmqguard_server_handler_duration_seconds", map[string]string{"outcome": "panic"}, observetest.Panics},
		{"zmqguard_server_panics_total", nil, observetest.Panics},
		{"zmqguard_server_cache_hits_total", map[string]string{"kind": "in_flight"}, observetest.CacheHits},
		{"zmqguard_server_memory_budget_bytes", map[string]string{"part": "total"}, float64(r.Server.Budget.Total)},
		{"zmqguard_socket_sent_messages_total", map[string]string{"component": "client"}, float64(r.Client.Attempts)},
		{"zmqguard_socket_received_messages_total", map[string]string{"component": "server"}, float64(r.Server.Requests)},
		{"zmqguard_socket_sent_messages_total", map[string]string{"component": "server"}, float64(r.Server.Replies)},
		{"zmqguard_socket_monitor_events_total", map[string]string{"component": "server", "event": "accepted"}, 1},
		{"zmqguard_peer_state_changes_total", map[string]string{"component": "client", "state": "up"}, 1},
	} {
		assert.Equal(t, c.want, value(fams, c.name, c.labels), "%s%v", c.name, c.labels)
	}
	assert.Positive(t, value(fams, "zmqguard_socket_sent_bytes_total", map[string]string{"component": "client"}))
	// No endpoint label unless asked for.
	for _, l := range fams["zmqguard_client_attempts_total"].Metric[0].Label {
		assert.NotEqual(t, "endpoint", l.GetName())
	}
}

// TestEndpointLabelIsOptIn: WithEndpointLabel labels the attempt series
// with the server's address.
func TestEndpointLabelIsOptIn(t *testing.T) {
	m, err := zgprom.New(zgprom.WithEndpointLabel(), zgprom.WithBuckets([]float64{0.1, 1}))
	require.NoError(t, err)
	r, fams := runAndScrape(t, m)
	assert.Equal(t, float64(observetest.Attempts), value(fams, "zmqguard_client_attempts_total", map[string]string{"endpoint": r.Endpoint}))

	_, err = zgprom.New(zgprom.WithBuckets(nil))
	assert.Error(t, err)
	_, err = zgprom.New(nil)
	assert.Error(t, err)
}
