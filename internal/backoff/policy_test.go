package backoff

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Policy
		want Policy
	}{
		{"zero", Policy{}, Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}},
		{"keeps set fields", PPPWorker, PPPWorker},
		{"keeps jitter", Policy{Jitter: 0.3}, Policy{Initial: DefaultInitial, Max: DefaultMax, Multiplier: 2, Jitter: 0.3}},
		{"max follows large initial", Policy{Initial: time.Minute}, Policy{Initial: time.Minute, Max: time.Minute, Multiplier: 2}},
		{"keeps invalid", Policy{Initial: -1, Multiplier: 0.5}, Policy{Initial: -1, Max: DefaultMax, Multiplier: 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.in.WithDefaults())
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Policy
		wantErr string
	}{
		{"zero", Policy{}, ""},
		{"default", Default, ""},
		{"ppp", PPPWorker, ""},
		{"constant", Policy{Initial: time.Second, Max: time.Second, Multiplier: 1}, ""},
		{"full jitter", Policy{Jitter: 1}, ""},
		{"negative initial", Policy{Initial: -time.Second}, "negative Initial"},
		{"max below initial", Policy{Initial: time.Second, Max: time.Millisecond}, "Max 1ms is less than Initial 1s"},
		{"negative max", Policy{Max: -1}, "is less than Initial"},
		{"multiplier below one", Policy{Multiplier: 0.5}, "Multiplier 0.5"},
		{"negative multiplier", Policy{Multiplier: -2}, "Multiplier -2"},
		{"nan multiplier", Policy{Multiplier: math.NaN()}, "Multiplier NaN"},
		{"inf multiplier", Policy{Multiplier: math.Inf(1)}, "Multiplier +Inf"},
		{"negative jitter", Policy{Jitter: -0.1}, "Jitter -0.1"},
		{"jitter above one", Policy{Jitter: 1.5}, "Jitter 1.5"},
		{"nan jitter", Policy{Jitter: math.NaN()}, "Jitter NaN"},
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

func TestPresets(t *testing.T) {
	assert.Equal(t, Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.2}, Default)
	assert.Equal(t, Policy{Initial: time.Second, Max: 32 * time.Second, Multiplier: 2}, PPPWorker)
}
