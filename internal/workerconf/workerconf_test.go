package workerconf_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/internal/workerconf"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSetters(t *testing.T) {
	def := backoff.Policy{Initial: time.Second, Max: 4 * time.Second, Multiplier: 2}
	c := workerconf.New(time.Second, 3, def, 16, time.Second)
	require.NoError(t, c.SetHeartbeat(time.Millisecond, 2))
	require.NoError(t, c.SetBackoff(backoff.Policy{}, def))
	assert.Equal(t, def, c.Backoff, "zero fields take the defaults")
	require.NoError(t, c.SetBacklog(1))
	require.NoError(t, c.SetGrace(0))
	for name, err := range map[string]error{
		"heartbeat": c.SetHeartbeat(0, 3),
		"liveness":  c.SetHeartbeat(time.Second, 1),
		"backoff":   c.SetBackoff(backoff.Policy{Multiplier: 0.5}, def),
		"backlog":   c.SetBacklog(0),
		"grace":     c.SetGrace(-1),
		"tracker":   c.SetTracker(nil),
	} {
		var oe *zmq.OptionError
		require.ErrorAs(t, workerconf.Check("WithX", err), &oe, name)
		assert.Equal(t, "WithX", oe.Option, name)
	}
	// A rejected value leaves the Config as it was.
	assert.Equal(t, time.Millisecond, c.Interval)
	assert.Equal(t, 2, c.Liveness)
	assert.Equal(t, def, c.Backoff)
	assert.Equal(t, 1, c.Backlog)
	assert.Zero(t, c.Grace)
	assert.Nil(t, c.Tracker)
	assert.NoError(t, workerconf.Check("WithX", nil))
}
