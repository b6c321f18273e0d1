package reliable_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// mutePeer returns a tcp endpoint that accepts connections and never
// speaks: the client's connection never completes its handshake, so the
// client has no peer and its request waits for one.
func mutePeer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	conns := make(chan net.Conn, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			default:
				c.Close()
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return "tcp://" + l.Addr().String()
}

// TestClientNoticesContextTerm: Context.Term closes a client's sockets
// while no peer is connected (a connection that never completes its
// handshake). The request in flight returns at once with
// an error matching net.ErrClosed (it used to wait out three attempts of
// 3 s and fail with "no connected peer"), and so does every later
// request.
func TestClientNoticesContextTerm(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx, err := zmq.NewContext(zmq.WithLinger(0))
		require.NoError(t, err)
		defer zctx.Term()
		c, err := reliable.NewClient(zctx, []string{mutePeer(t)}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(3*time.Second))
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
		// The request is in flight once counted (it then waits for a peer
		// that never completes a handshake).
		waitFor(t, 5*time.Second, "the request to start", func() bool { return c.Stats().Requests == 1 })
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

// TestClientNoticesTermWhileOpening: Context.Term lands while a plain-mode
// client opens its socket, after the socket exists and before its monitor
// starts. The request returns net.ErrClosed at once, and so does the next
// one: the client must not keep the closed socket, with no monitor to
// report it, and wait out its attempts for a peer (one run of the suite
// in six took that path in TestClientNoticesContextTerm, and waited 9 s).
func TestClientNoticesTermWhileOpening(t *testing.T) {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	defer zctx.Term()
	var once sync.Once
	c, err := reliable.NewClient(zctx, []string{mutePeer(t)}, reliable.WithMode(reliable.Plain),
		reliable.WithAttemptTimeout(3*time.Second),
		reliable.WithSocketSetup(func(*zmq.Socket) error {
			// Term closes this socket too: it was made by zctx.
			once.Do(func() { assert.NoError(t, zctx.Term()) })
			return nil
		}))
	require.NoError(t, err)
	defer c.Close()
	for _, body := range []string{"hello", "again"} {
		start := time.Now()
		_, err := c.Request(context.Background(), []byte(body))
		assert.ErrorIs(t, err, net.ErrClosed, "request %q", body)
		assert.Less(t, time.Since(start), time.Second, "request %q: %v", body, err)
	}
	assert.NoError(t, c.Close())
}
