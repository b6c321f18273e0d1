package reliable

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/backoff"
)

// TestWithBackoffZeroFieldsAreDefaults: WithBackoff(Backoff{}) is the
// Client's default, 100 ms doubling to 2 s with ±20 % jitter, and each
// zero field takes the Client's default.
func TestWithBackoffZeroFieldsAreDefaults(t *testing.T) {
	const ms, s = time.Millisecond, time.Second
	apply := func(b Backoff) backoff.Policy {
		t.Helper()
		cfg := defaultClientConfig()
		require.NoError(t, WithBackoff(b)(&cfg))
		return cfg.backoff
	}
	def := backoff.Policy{Initial: 100 * ms, Max: 2 * s, Multiplier: 2, Jitter: 0.2}
	assert.Equal(t, def, defaultClientConfig().backoff)
	assert.Equal(t, def, apply(Backoff{}))
	assert.Equal(t, backoff.Policy{Initial: 100 * ms, Max: 2 * s, Multiplier: 2}, apply(Backoff{Jitter: -1}), "negative jitter is none")
	assert.Equal(t, backoff.Policy{Initial: 100 * ms, Max: 2 * s, Multiplier: 3, Jitter: 0.2}, apply(Backoff{Multiplier: 3}))
	assert.Equal(t, backoff.Policy{Initial: 5 * s, Max: 5 * s, Multiplier: 2, Jitter: 0.2}, apply(Backoff{Initial: 5 * s}), "Max follows a larger Initial")
	assert.Equal(t, backoff.Policy{Initial: 50 * ms, Max: 50 * ms, Multiplier: 2, Jitter: 0.2}, apply(Backoff{Max: 50 * ms}), "Initial follows a smaller Max")
	assert.Equal(t, backoff.Policy{Initial: 10 * ms, Max: 20 * ms, Multiplier: 1, Jitter: 0.5},
		apply(Backoff{Initial: 10 * ms, Max: 20 * ms, Multiplier: 1, Jitter: 0.5}), "set fields are kept")

	// The schedule of the default, without jitter (rnd 0.5).
	var got []time.Duration
	for a := range 7 {
		got = append(got, apply(Backoff{}).Delay(a, 0.5))
	}
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2 * s, 2 * s}, got)
}
