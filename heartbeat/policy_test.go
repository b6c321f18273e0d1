package heartbeat

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPolicyWithDefaults(t *testing.T) {
	assert.Equal(t, Policy{Interval: time.Second, Liveness: 3, SuspectAfter: 1}, Policy{}.WithDefaults())
	p := Policy{Interval: 250 * time.Millisecond, Liveness: 5, SuspectAfter: 2}
	assert.Equal(t, p, p.WithDefaults())
	assert.Equal(t, Policy{Interval: -1, Liveness: 3, SuspectAfter: 1}, Policy{Interval: -1}.WithDefaults())
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       Policy
		wantErr string
	}{
		{"zero", Policy{}, ""},
		{"ppp", Policy{Interval: time.Second, Liveness: 3, SuspectAfter: 1}, ""},
		{"suspect off", Policy{Liveness: 2, SuspectAfter: 2}, ""},
		{"liveness one", Policy{Liveness: 1}, ""},
		{"negative interval", Policy{Interval: -time.Second}, "negative Interval"},
		{"negative liveness", Policy{Liveness: -1}, "negative Liveness"},
		{"negative suspect", Policy{SuspectAfter: -1}, "negative SuspectAfter"},
		{"suspect beyond liveness", Policy{Liveness: 3, SuspectAfter: 4}, "SuspectAfter 4 exceeds Liveness 3"},
		{"too long", Policy{Interval: 1000 * time.Hour, Liveness: 1 << 40}, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			assert.ErrorContains(t, err, "heartbeat: ")
		})
	}
}

func TestPolicyThresholds(t *testing.T) {
	p := Policy{}.WithDefaults()
	assert.Equal(t, 3*time.Second, p.deadAfter())
	s, ok := p.suspectAfter()
	assert.True(t, ok)
	assert.Equal(t, 1500*time.Millisecond, s)

	_, ok = Policy{Interval: time.Second, Liveness: 2, SuspectAfter: 2}.suspectAfter()
	assert.False(t, ok, "SuspectAfter == Liveness turns Suspect off")
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr string
	}{
		{"none", nil, ""},
		{"all", []Option{WithPolicy(Policy{Interval: time.Millisecond}), WithEventBuffer(1), WithOnChange(func(Event) {})}, ""},
		{"invalid policy", []Option{WithPolicy(Policy{Liveness: -3})}, "negative Liveness"},
		{"zero buffer", []Option{WithEventBuffer(0)}, "event buffer 0"},
		{"nil callback", []Option{WithOnChange(nil)}, "nil OnChange"},
		{"nil option", []Option{nil}, "nil option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(tt.opts...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, tr.Close())
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, tr)
		})
	}

	_, err := New(WithEventBuffer(-1), WithOnChange(nil))
	require.ErrorContains(t, err, "event buffer -1")
	require.ErrorContains(t, err, "nil OnChange", "errors are joined")
}

func TestTrackerPolicyHasDefaults(t *testing.T) {
	tr := newTracker(t, WithPolicy(Policy{Liveness: 5}))
	assert.Equal(t, Policy{Interval: time.Second, Liveness: 5, SuspectAfter: 1}, tr.Policy())
}
