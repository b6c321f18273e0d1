package zgslog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	zgslog "github.com/zmqguard/zmqguard/contrib/slog"
	"github.com/zmqguard/zmqguard/internal/observetest"
	"github.com/zmqguard/zmqguard/observe"
)

// lockedBuffer is a bytes.Buffer for many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestLogsWhatHappened: a real client and server log, as JSON, one
// record per thing that happened, at its level, with its attributes.
func TestLogsWhatHappened(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o, err := zgslog.New(log)
	require.NoError(t, err)
	r := observetest.Run(t, observetest.Config{Client: o, Server: o})

	buf.mu.Lock()
	lines := strings.Split(strings.TrimSpace(buf.b.String()), "\n")
	buf.mu.Unlock()
	count := map[string]int{}
	var failed, panicked map[string]any
	for _, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		key := rec["msg"].(string) + "@" + rec["level"].(string)
		if o, ok := rec["outcome"].(string); ok {
			key += "/" + o
		}
		count[key]++
		switch rec["msg"] {
		case "zmqguard client attempt_failed":
			failed = rec
		case "zmqguard server panic":
			panicked = rec
		}
	}
	for key, want := range map[string]int{
		"zmqguard client attempt@DEBUG":               observetest.Attempts,
		"zmqguard client attempt_failed@WARN/timeout": observetest.Timeouts,
		"zmqguard client give_up@WARN":                observetest.GiveUps,
		"zmqguard client stale@WARN":                  observetest.Stale,
		"zmqguard client done@DEBUG/ok":               1,
		"zmqguard client done@DEBUG/remote_error":     observetest.RemoteError,
		"zmqguard client done@WARN/gave_up":           1,
		"zmqguard server panic@ERROR":                 observetest.Panics,
		"zmqguard server handled@DEBUG/ok":            observetest.HandledOK,
		"zmqguard server handled@DEBUG/panic":         observetest.Panics,
		"zmqguard server cache_hit@DEBUG":             observetest.CacheHits,
		"zmqguard server budget@INFO":                 10,
		"zmqguard client peer_up@INFO":                1,
		"zmqguard server accepted@DEBUG":              1,
		"zmqguard client sent@DEBUG":                  int(r.Client.Attempts),
		"zmqguard server received@DEBUG":              int(r.Server.Requests),
	} {
		assert.Equal(t, want, count[key], key)
	}
	require.NotNil(t, failed)
	assert.Equal(t, r.Endpoint, failed["endpoint"])
	assert.EqualValues(t, 1, failed["request"], "the request id")
	assert.Contains(t, []any{1.0, 2.0}, failed["attempt"])
	assert.Contains(t, failed["err"], "timed out")
	require.NotNil(t, panicked)
	assert.Contains(t, panicked["name"], "observetest: boom")
}

// TestLevels: Enabled gates records; WithLevel moves a kind.
func TestLevels(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o, err := zgslog.New(log, zgslog.WithLevel(observe.KindSent, slog.LevelInfo))
	require.NoError(t, err)
	o.Observe(t.Context(), observe.Event{Component: observe.Client, Kind: observe.KindAttempt})
	o.Observe(t.Context(), observe.Event{Component: observe.Client, Kind: observe.KindSent, Value: 5})
	assert.NotContains(t, buf.b.String(), "attempt")
	assert.Contains(t, buf.b.String(), "zmqguard client sent")
	_, err = zgslog.New(log, zgslog.WithLevel(observe.Kind(200), slog.LevelInfo))
	assert.Error(t, err)
	_, err = zgslog.New(log, nil)
	assert.Error(t, err)
}
