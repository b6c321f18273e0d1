package main_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

// TestServeMetricsAndLogs: `zmqguard serve --metrics --log-format json`
// answers requests from `zmqguard req`, exposes what it did at /metrics
// (a real scrape, parsed with the Prometheus text parser) and logs it as
// slog JSON records on stderr.
func TestServeMetricsAndLogs(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--json", "--metrics", "127.0.0.1:0", "--log-format", "json",
		"--log-level", "debug", "--exec", "grep -q boom && exit 3 || echo ok", "tcp://127.0.0.1:*")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, testpeer.StartTied(t, cmd, nil)) // waited for by the test or its cleanup
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	first, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "stderr: %s", stderr.String())
	var ev struct{ Event, Endpoint, Metrics string }
	require.NoError(t, json.Unmarshal([]byte(first), &ev))
	require.Equal(t, "listening", ev.Event)
	require.True(t, strings.HasPrefix(ev.Metrics, "http://127.0.0.1:"), ev.Metrics)

	require.Equal(t, 0, zg(t, "req", ev.Endpoint, "hello").code)
	require.NotEqual(t, 0, zg(t, "req", ev.Endpoint, "boom").code, "an error reply")

	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(ev.Metrics)
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	count := func(name string, labels map[string]string) float64 {
		var n float64
	next:
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				n += m.Counter.GetValue()
			case m.Histogram != nil:
				n += float64(m.Histogram.GetSampleCount())
			case m.Gauge != nil:
				n += m.Gauge.GetValue()
			}
		}
		return n
	}
	assert.Equal(t, 1.0, count("zmqguard_server_handler_duration_seconds", map[string]string{"outcome": "ok"}))
	assert.Equal(t, 1.0, count("zmqguard_server_handler_duration_seconds", map[string]string{"outcome": "error"}))
	assert.Equal(t, 2.0, count("zmqguard_socket_received_messages_total", map[string]string{"component": "server"}))
	assert.Equal(t, 2.0, count("zmqguard_socket_sent_messages_total", map[string]string{"component": "server"}))
	assert.Equal(t, 2.0, count("zmqguard_socket_monitor_events_total", map[string]string{"event": "accepted"}))
	assert.Positive(t, count("zmqguard_server_memory_budget_bytes", map[string]string{"part": "total"}))
	assert.Equal(t, dto.MetricType_HISTOGRAM, fams["zmqguard_server_handler_duration_seconds"].GetType())
	assert.NotNil(t, fams["go_goroutines"], "the Go collector")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait())
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec struct {
			Msg, Level, Event, Outcome string
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a slog JSON record: %s", line)
		kinds[rec.Level+" "+rec.Event+" "+rec.Outcome]++
	}
	assert.Equal(t, 1, kinds["DEBUG handled ok"], "%v", kinds)
	assert.Equal(t, 1, kinds["DEBUG handled error"], "%v", kinds)
	assert.Equal(t, 1, kinds["WARN handler_error "], "%v", kinds)
	assert.Equal(t, 10, kinds["INFO budget "], "%v", kinds)
}

func TestServeObserveFlagsChecked(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--log-format", "xml", "tcp://127.0.0.1:*"},
		{"serve", "--log-format", "json", "--log-level", "loud", "tcp://127.0.0.1:*"},
	} {
		assert.Equal(t, 64, zg(t, args...).code, "%q", args)
	}
	r := zg(t, "serve", "--metrics", "256.0.0.1:1", "tcp://127.0.0.1:*")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--metrics")
}
