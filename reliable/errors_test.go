package reliable_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestClosedErrorsMatchNetErrClosed: the errors of a closed Client and
// Server match net.ErrClosed, as a closed socket's does, and keep their
// texts.
func TestClosedErrorsMatchNetErrClosed(t *testing.T) {
	assert.ErrorIs(t, reliable.ErrClientClosed, net.ErrClosed)
	assert.ErrorIs(t, reliable.ErrServerClosed, net.ErrClosed)
	assert.EqualError(t, reliable.ErrClientClosed, "reliable: client closed")
	assert.EqualError(t, reliable.ErrServerClosed, "reliable: server closed")
	assert.NotErrorIs(t, reliable.ErrClientClosed, reliable.ErrServerClosed)

	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	c, err := reliable.NewClient(zctx, []string{"inproc://closed-errors"})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = c.Request(context.Background(), []byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, err, reliable.ErrClientClosed)

	srv, err := reliable.Listen(zctx, zmqtest.Endpoint(t, "inproc"), echoUpper)
	require.NoError(t, err)
	require.NoError(t, srv.Close())
	assert.ErrorIs(t, srv.Serve(context.Background()), net.ErrClosed)
}

// TestNoReplyErrorDeadline: a request that its context's deadline ended
// matches os.ErrDeadlineExceeded (like every timeout in zmqguard) as well
// as context.DeadlineExceeded, even when no attempt timed out; one that a
// cancellation ended does not.
func TestNoReplyErrorDeadline(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	c, err := reliable.NewClient(zctx, []string{"inproc://no-reply-deadline"})
	require.NoError(t, err)
	defer c.Close()

	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = c.Request(ctx, []byte("x"))
	var nr *reliable.NoReplyError
	require.ErrorAs(t, err, &nr)
	assert.Zero(t, nr.Attempts)
	assert.Nil(t, nr.Last)
	assert.ErrorIs(t, err, reliable.ErrNoReply)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = c.Request(ctx, []byte("x"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, os.ErrDeadlineExceeded)

	assert.True(t, errors.Is(&reliable.NoReplyError{Ctx: context.DeadlineExceeded}, os.ErrDeadlineExceeded))
	assert.False(t, errors.Is(&reliable.NoReplyError{Ctx: context.Canceled}, os.ErrDeadlineExceeded))
	assert.False(t, errors.Is(&reliable.NoReplyError{}, os.ErrDeadlineExceeded))
}

// TestRemoteErrorReplyError: a *RemoteError names its own error reply, so
// a handler that returns one (for example a reply from another server)
// passes it on as it is.
func TestRemoteErrorReplyError(t *testing.T) {
	code, msg := (&reliable.RemoteError{Code: "not-found", Message: "no such key"}).ReplyError()
	assert.Equal(t, "not-found", code)
	assert.Equal(t, "no such key", msg)
}
