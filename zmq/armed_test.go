package zmq_test

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// Two receives in a row that had to wait make the next one try inside its
// armed wait; one that found its message queued goes back to trying first. Either way
// messages arrive whole, timeouts are exact and Close wakes the wait.
func TestArmedReceive(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(5*time.Second))
		park := parked(pull)
		type result struct {
			msg []string
			err error
		}
		recvAsync := func() <-chan result {
			// A park signal left from an earlier wait (a poke parks
			// twice) must not be taken for this one's.
			select {
			case <-park:
			default:
			}
			out := make(chan result, 1)
			go func() {
				msg, err := pull.RecvMessage(0)
				out <- result{msg, err}
			}()
			return out
		}
		waitedReceive := func(body string) {
			t.Helper()
			got := recvAsync()
			waitFor(t, park, "the receive to park")
			_, err := push.SendMessage(body, "second", "third")
			require.NoError(t, err)
			r := waitFor(t, got, "the message")
			require.NoError(t, r.err)
			assert.Equal(t, []string{body, "second", "third"}, r.msg)
		}

		assert.False(t, zmq.RecvArmed(pull))
		waitedReceive("a")
		assert.False(t, zmq.RecvArmed(pull), "one wait is not a pattern")
		waitedReceive("a2")
		assert.True(t, zmq.RecvArmed(pull), "two waits in a row: the next receive is armed")
		waitedReceive("b") // through the armed wait, parked
		assert.True(t, zmq.RecvArmed(pull))

		// Queued already: the armed try gets it at once, and the next
		// receive tries first again.
		_, err := push.SendMessage("c", "second")
		require.NoError(t, err)
		waitUntilReadable(t, pull)
		msg, err := pull.RecvMessage(0)
		require.NoError(t, err)
		assert.Equal(t, []string{"c", "second"}, msg)
		assert.False(t, zmq.RecvArmed(pull))

		// An armed receive times out on time.
		waitedReceive("d")
		waitedReceive("d2")
		require.True(t, zmq.RecvArmed(pull))
		require.NoError(t, pull.SetRcvtimeo(30*time.Millisecond))
		start := time.Now()
		_, err = pull.RecvMessage(0)
		el := time.Since(start)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.GreaterOrEqual(t, el, 30*time.Millisecond)
		assert.Less(t, el, 2*time.Second)

		// And Close wakes an armed, parked receive.
		require.NoError(t, pull.SetRcvtimeo(-1))
		require.True(t, zmq.RecvArmed(pull))
		got := recvAsync()
		waitFor(t, park, "the receive to park")
		require.NoError(t, pull.Close())
		assert.ErrorIs(t, waitFor(t, got, "the receive to return").err, net.ErrClosed)
	})
}
