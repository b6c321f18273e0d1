package ppp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/reliable"
)

// TestWorkerDefaultBackoff checks the zguide reconnect schedule, as a
// pure function of the attempt number.
func TestWorkerDefaultBackoff(t *testing.T) {
	var got []time.Duration
	for a := range 8 {
		got = append(got, defaultWorkerConfig().Backoff.Delay(a, 0.9))
	}
	s := time.Second
	assert.Equal(t, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 32 * s, 32 * s}, got, "no jitter")
}

// TestWithWorkerBackoffZeroFieldsAreDefaults: the zero Backoff is the
// worker's default, and each zero field takes the worker's default.
func TestWithWorkerBackoffZeroFieldsAreDefaults(t *testing.T) {
	const s = time.Second
	apply := func(b reliable.Backoff) backoff.Policy {
		t.Helper()
		cfg := defaultWorkerConfig()
		require.NoError(t, WithWorkerBackoff(b)(&cfg))
		return cfg.Backoff
	}
	assert.Equal(t, defaultWorkerConfig().Backoff, apply(reliable.Backoff{}))
	assert.Equal(t, backoff.Policy{Initial: s, Max: 32 * s, Multiplier: 2}, apply(reliable.Backoff{}))
	assert.Equal(t, backoff.Policy{Initial: s, Max: 4 * s, Multiplier: 2}, apply(reliable.Backoff{Max: 4 * s}))
	assert.Equal(t, backoff.Policy{Initial: 100 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2},
		apply(reliable.Backoff{Max: 100 * time.Millisecond}), "Initial follows a smaller Max")
	assert.Equal(t, backoff.Policy{Initial: s, Max: 32 * s, Multiplier: 2, Jitter: 0.1}, apply(reliable.Backoff{Jitter: 0.1}))
	assert.Equal(t, backoff.Policy{Initial: s, Max: 32 * s, Multiplier: 2}, apply(reliable.Backoff{Jitter: -1}))
}
