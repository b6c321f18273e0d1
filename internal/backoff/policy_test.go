package backoff

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Policies of the tests: the zguide Paranoid Pirate worker's reconnect
// schedule and a general-purpose one.
var (
	pppWorker = Policy{Initial: time.Second, Max: 32 * time.Second, Multiplier: 2}
	general   = Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}
)

func TestFill(t *testing.T) {
	const ms, s = time.Millisecond, time.Second
	def := Policy{Initial: 100 * ms, Max: 2 * s, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		name string
		in   Policy
		want Policy
	}{
		{"zero is the default", Policy{}, def},
		{"keeps set fields", pppWorker, Policy{Initial: s, Max: 32 * s, Multiplier: 2, Jitter: 0.2}},
		{"negative jitter is none", Policy{Jitter: -1}, Policy{Initial: 100 * ms, Max: 2 * s, Multiplier: 2}},
		{"keeps jitter", Policy{Jitter: 0.3}, Policy{Initial: 100 * ms, Max: 2 * s, Multiplier: 2, Jitter: 0.3}},
		{"max follows large initial", Policy{Initial: time.Minute}, Policy{Initial: time.Minute, Max: time.Minute, Multiplier: 2, Jitter: 0.2}},
		{"initial follows small max", Policy{Max: 50 * ms}, Policy{Initial: 50 * ms, Max: 50 * ms, Multiplier: 2, Jitter: 0.2}},
		{"keeps invalid", Policy{Initial: -1, Multiplier: 0.5}, Policy{Initial: -1, Max: 2 * s, Multiplier: 0.5, Jitter: 0.2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.in.Fill(def))
		})
	}
	assert.Equal(t, pppWorker, Policy{}.Fill(pppWorker))
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Policy
		wantErr string
	}{
		{"general", general, ""},
		{"ppp", pppWorker, ""},
		{"constant", Policy{Initial: time.Second, Max: time.Second, Multiplier: 1}, ""},
		{"no delay", Policy{Multiplier: 1}, ""},
		{"full jitter", Policy{Multiplier: 1, Jitter: 1}, ""},
		{"zero multiplier", Policy{}, "Multiplier 0"},
		{"negative initial", Policy{Initial: -time.Second, Multiplier: 1}, "negative Initial"},
		{"max below initial", Policy{Initial: time.Second, Max: time.Millisecond, Multiplier: 1}, "Max 1ms is less than Initial 1s"},
		{"negative max", Policy{Max: -1, Multiplier: 1}, "is less than Initial"},
		{"multiplier below one", Policy{Multiplier: 0.5}, "Multiplier 0.5"},
		{"negative multiplier", Policy{Multiplier: -2}, "Multiplier -2"},
		{"nan multiplier", Policy{Multiplier: math.NaN()}, "Multiplier NaN"},
		{"inf multiplier", Policy{Multiplier: math.Inf(1)}, "Multiplier +Inf"},
		{"negative jitter", Policy{Multiplier: 1, Jitter: -0.1}, "Jitter -0.1"},
		{"jitter above one", Policy{Multiplier: 1, Jitter: 1.5}, "Jitter 1.5"},
		{"nan jitter", Policy{Multiplier: 1, Jitter: math.NaN()}, "Jitter NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "backoff: ")
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	err := Policy{Initial: -1, Multiplier: 0.1, Jitter: 2}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Initial")
	assert.Contains(t, err.Error(), "Multiplier")
	assert.Contains(t, err.Error(), "Jitter")
}
