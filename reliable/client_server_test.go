package reliable_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// serveBackground runs a reliable.Server until the test ends.
func serveBackground(t *testing.T, zctx *zmq.Context, h reliable.Handler, opts ...reliable.ServerOption) *reliable.Server {
	t.Helper()
	s, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", h, opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return s
}

// TestClientGetsRemoteErrors: the server's error replies become
// *RemoteError on the client, without retries, in both modes.
func TestClientGetsRemoteErrors(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		var execs atomic.Int64
		s := serveBackground(t, zctx, func(ctx context.Context, req [][]byte) ([][]byte, error) {
			execs.Add(1)
			switch string(req[0]) {
			case "fail":
				return nil, errors.New("disk on fire")
			case "panic":
				panic("boom")
			}
			return req, nil
		})
		c := newClient(t, zctx, []string{s.Addr()}, reliable.WithMode(mode))
		for _, tc := range []struct{ body, code string }{{"fail", wire.CodeHandler}, {"panic", wire.CodePanic}} {
			_, err := c.Request(context.Background(), []byte(tc.body))
			var re *reliable.RemoteError
			require.ErrorAs(t, err, &re, tc.body)
			assert.Equal(t, tc.code, re.Code)
		}
		rep, err := c.Request(context.Background(), []byte("ok"))
		require.NoError(t, err)
		assert.Equal(t, "ok", string(rep[0]))
		assert.EqualValues(t, 3, execs.Load(), "error replies are answers: no retry")
		assert.EqualValues(t, 3, c.Stats().Attempts)
	})
}

// TestClientRetryIsNotReexecuted: the handler outlasts the attempt
// timeout; the client's retries are joined to the running request by the
// server's duplicate suppression, so it executes once and the client gets
// its reply.
func TestClientRetryIsNotReexecuted(t *testing.T) {
	zctx := zmqtest.Context(t)
	var execs atomic.Int64
	s := serveBackground(t, zctx, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		execs.Add(1)
		select {
		case <-time.After(350 * time.Millisecond):
		case <-ctx.Done():
		}
		return req, nil
	})
	c := newClient(t, zctx, []string{s.Addr()},
		reliable.WithAttemptTimeout(100*time.Millisecond), reliable.WithMaxAttempts(8),
		reliable.WithBackoff(reliable.Backoff{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond, Jitter: -1}))
	rep, err := c.Request(context.Background(), []byte("slow"))
	require.NoError(t, err)
	assert.Equal(t, "slow", string(rep[0]))
	assert.EqualValues(t, 1, execs.Load())
	assert.Greater(t, c.Stats().Attempts, uint64(1))
	st := s.Stats()
	assert.Greater(t, st.DuplicatesInFlight+st.DuplicatesCached, uint64(0))
}

// TestClientServerCURVE: an encrypted client and server.
func TestClientServerCURVE(t *testing.T) {
	if !zmq.HasCurve() {
		t.Skip("libzmq without CURVE")
	}
	zctx := zmqtest.Context(t)
	srvPub, srvSec, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	cliPub, cliSec, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	s := serveBackground(t, zctx, func(ctx context.Context, req [][]byte) ([][]byte, error) { return req, nil },
		reliable.WithServerSocketSetup(func(s *zmq.Socket) error { return s.ServerAuthCurve(zmq.CURVE_ALLOW_ANY, srvSec) }))
	c := newClient(t, zctx, []string{s.Addr()},
		reliable.WithSocketSetup(func(s *zmq.Socket) error { return s.ClientAuthCurve(srvPub, cliPub, cliSec) }))
	rep, err := c.Request(context.Background(), []byte("secret"))
	require.NoError(t, err)
	assert.Equal(t, "secret", string(rep[0]))

	// A client with the wrong server key never gets through.
	wrongPub, _, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	bad := newClient(t, zctx, []string{s.Addr()}, reliable.WithAttemptTimeout(100*time.Millisecond), reliable.WithMaxAttempts(1),
		reliable.WithSocketSetup(func(s *zmq.Socket) error { return s.ClientAuthCurve(wrongPub, cliPub, cliSec) }))
	_, err = bad.Request(context.Background(), []byte("secret"))
	assert.ErrorIs(t, err, reliable.ErrNoReply)
}
