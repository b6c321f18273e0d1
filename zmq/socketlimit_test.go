package zmq_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestSocketLimitErrorSaysSo: at the context's ZMQ_MAX_SOCKETS, NewSocket
// fails with a *SocketLimitError that names the limit (libzmq's own error
// is "too many open files", with few files open), and that still matches
// EMFILE.
func TestSocketLimitErrorSaysSo(t *testing.T) {
	c := zmqtest.Context(t)
	require.NoError(t, c.SetMaxSockets(8))
	var err error
	for range 16 {
		var s *zmq.Socket
		if s, err = c.NewSocket(zmq.DEALER); err != nil {
			break
		}
		t.Cleanup(func() { s.Close() })
	}
	var le *zmq.SocketLimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 8, le.Max)
	assert.ErrorIs(t, err, zmq.ErrTooManySockets)
	assert.ErrorIs(t, err, syscall.EMFILE)
	assert.Contains(t, err.Error(), "ZMQ_MAX_SOCKETS is 8")
	assert.Contains(t, err.Error(), "not yet reaped")
}

// TestTightSocketLoop: a tight NewSocket+Connect+Close loop no longer
// fails after about a thousand sockets. libzmq counted the closed sockets
// its reaper had not caught up with against ZMQ_MAX_SOCKETS (1023), and
// failed with "too many open files" while the process had ~1300 of 20000
// open (LINGER 0, as reliable's sockets have, makes it fail sooner);
// NewContext now sets the limit to the file limit.
func TestTightSocketLoop(t *testing.T) {
	c := zmqtest.Context(t, zmq.WithLinger(0))
	limit, err := c.GetMaxSockets()
	require.NoError(t, err)
	t.Logf("ZMQ_MAX_SOCKETS %d", limit)
	assert.GreaterOrEqual(t, limit, zmq.MaxSocketsDflt)
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	if rl.Cur < 4096 {
		t.Skipf("the file limit (%d) is too low: the context's socket limit follows it", rl.Cur)
	}
	n := 20000
	if testing.Short() {
		n = 3000
	}
	start := time.Now()
	for i := range n {
		s, err := c.NewSocket(zmq.DEALER)
		require.NoError(t, err, "after %d sockets", i)
		require.NoError(t, s.Connect("tcp://127.0.0.1:5555"))
		require.NoError(t, s.Close())
	}
	t.Logf("%d sockets in %v", n, time.Since(start))
}
