package reliable_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// unusedEndpoint returns a tcp endpoint on which nothing listens.
func unusedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "tcp://" + addr
}

// TestClientNoticesContextTerm: Context.Term closes a client's sockets
// while no peer is connected. The request in flight returns at once with
// an error matching net.ErrClosed (it used to wait out three attempts of
// 3 s and fail with "no connected peer"), and so does every later
// request.
func TestClientNoticesContextTerm(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx, err := zmq.NewContext(zmq.WithLinger(0))
		require.NoError(t, err)
		defer zctx.Term()
		attempting := make(chan struct{}, 8)
		c, err := reliable.NewClient(zctx, []string{unusedEndpoint(t)}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(3*time.Second),
			reliable.WithEventHook(func(ev reliable.ClientEvent) {
				if ev.Kind == reliable.EventAttempt {
					select {
					case attempting <- struct{}{}:
					default:
					}
				}
			}))
		require.NoError(t, err)
		defer c.Close()

		type result struct {
			err error
			el  time.Duration
		}
		done := make(chan result, 1)
		go func() {
			start := time.Now()
			_, err := c.Request(context.Background(), []byte("hello"))
			done <- result{err, time.Since(start)}
		}()
		<-attempting
		termAt := time.Now()
		require.NoError(t, zctx.Term())
		var r result
		select {
		case r = <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("the request in flight did not notice Context.Term")
		}
		t.Logf("in flight: %v, %v after Term", r.err, time.Since(termAt))
		assert.ErrorIs(t, r.err, net.ErrClosed)
		assert.Less(t, time.Since(termAt), time.Second)

		start := time.Now()
		_, err = c.Request(context.Background(), []byte("again"))
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.Less(t, time.Since(start), time.Second, "a later request: %v", err)
		assert.NoError(t, c.Close())
	})
}
