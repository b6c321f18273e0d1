package reliable_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// hostileServer starts a server process that answers every request as
// mode says (see runHostileServer).
func hostileServer(t *testing.T, mode string, size int) *testpeer.Proc {
	t.Helper()
	return testpeer.StartCustom(t, "hostile-server", "ZG_HOSTILE="+mode, fmt.Sprintf("ZG_SIZE=%d", size))
}

// TestClientRejectsOversizedReplies: a hostile server answers with 16 MiB,
// either as one frame (over the client sockets' ZMQ_MAXMSGSIZE: libzmq
// drops the connection at the frame's header, the attempt fails as
// ErrPeerGone) or as sixteen frames of 1 MiB (each within the frame limit:
// the client counts the whole and refuses it with a *TooLargeError). The
// request never succeeds, and the error says why when the client can know.
func TestClientRejectsOversizedReplies(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		for _, tc := range []struct {
			hostile string
			want    error
		}{
			{"big-frame", reliable.ErrPeerGone},
			{"many-frames", reliable.ErrTooLarge},
		} {
			t.Run(tc.hostile, func(t *testing.T) {
				zctx := zmqtest.Context(t)
				srv := hostileServer(t, tc.hostile, 16<<20)
				c := newClient(t, zctx, []string{srv.Endpoint}, reliable.WithMode(mode),
					reliable.WithMaxAttempts(2), reliable.WithAttemptTimeout(2*time.Second),
					reliable.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond}))
				start := time.Now()
				rep, err := c.Request(context.Background(), []byte("hello"))
				el := time.Since(start)
				require.Error(t, err)
				assert.Nil(t, rep)
				assert.ErrorIs(t, err, reliable.ErrNoReply)
				assert.ErrorIs(t, err, tc.want)
				if tc.want == reliable.ErrTooLarge {
					var tl *reliable.TooLargeError
					require.ErrorAs(t, err, &tl)
					assert.Equal(t, "reply", tl.What)
					assert.Equal(t, int64(16<<20), tl.Size)
					assert.Equal(t, int64(reliable.DefaultMaxReplySize), tl.Limit)
					assert.Equal(t, uint64(2), c.Stats().TooLarge)
				}
				assert.Less(t, el, 3*time.Second, "the attempts failed fast: %v", err)
				t.Logf("%v in %v", err, el)
			})
		}
	})
}

// TestClientReconnectsAfterOversizedFrame: libzmq gives up on a
// connection whose peer sent a frame over ZMQ_MAXMSGSIZE (a protocol
// error ends the session; it does not reconnect). The correlated client
// connects again itself, so a server that sent one oversized reply is
// reached again: the retry gets the answer.
func TestClientReconnectsAfterOversizedFrame(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		srv := hostileServer(t, "big-frame-once", 16<<20)
		c := newClient(t, zctx, []string{srv.Endpoint}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(2*time.Second), reliable.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond}))
		start := time.Now()
		rep, err := c.Request(context.Background(), []byte("hello"))
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("hello")}, rep)
		st := c.Stats()
		assert.Equal(t, uint64(2), st.Attempts)
		assert.Equal(t, uint64(1), st.FailedFast)
		assert.Less(t, time.Since(start), 2*time.Second)
		for range 3 {
			_, err = c.Request(context.Background(), []byte("again"))
			require.NoError(t, err)
		}
	})
}

// TestClientMaxReplySizeOption: a client configured for larger replies
// takes the sixteen frames of 1 MiB; -1 removes the limit.
func TestClientMaxReplySizeOption(t *testing.T) {
	for _, limit := range []int64{32 << 20, -1} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			zctx := zmqtest.Context(t)
			srv := hostileServer(t, "many-frames", 16<<20)
			c := newClient(t, zctx, []string{srv.Endpoint}, reliable.WithMaxReplySize(limit))
			rep, err := c.Request(context.Background(), []byte("hello"))
			require.NoError(t, err)
			assert.Len(t, rep, 16)
		})
	}
	for _, bad := range []int64{0, -2} {
		_, err := reliable.NewClient(zmqtest.Context(t), []string{"tcp://127.0.0.1:5555"}, reliable.WithMaxReplySize(bad))
		var oe *zmq.OptionError
		assert.ErrorAs(t, err, &oe)
		_, err = reliable.NewClient(zmqtest.Context(t), []string{"tcp://127.0.0.1:5555"}, reliable.WithMaxRequestSize(bad))
		assert.ErrorAs(t, err, &oe)
	}
}

// TestClientNoBodyReplyIsMalformed: a server that answers [ID, ""] (no
// body frame, which docs/PROTOCOL.md section 5 forbids) never produces a
// successful reply: the attempt fails as malformed (matching
// wire.ErrMalformed), and so does the request after its retries. In plain
// mode libzmq's REQ socket takes such a reply for a protocol error and
// drops the connection: the attempts fail as ErrPeerGone (and the socket
// is reset).
func TestClientNoBodyReplyIsMalformed(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		srv := hostileServer(t, "no-body", 0)
		c := newClient(t, zctx, []string{srv.Endpoint}, reliable.WithMode(mode),
			reliable.WithMaxAttempts(2), reliable.WithAttemptTimeout(500*time.Millisecond),
			reliable.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond}))
		rep, err := c.Request(context.Background(), []byte("hello"))
		require.Error(t, err, "a reply without a body is not a success: %q", rep)
		assert.Nil(t, rep)
		assert.ErrorIs(t, err, reliable.ErrNoReply)
		if mode == reliable.Correlated {
			assert.ErrorIs(t, err, wire.ErrMalformed)
			assert.Equal(t, uint64(2), c.Stats().Malformed)
		} else {
			assert.ErrorIs(t, err, reliable.ErrPeerGone)
		}
		t.Log(err)
	})
}

// TestClientRefusesOversizedRequest: a request over the client's own limit
// (by default the server's default limit) is refused at once with a
// *TooLargeError, without an attempt; the server never sees it.
func TestClientRefusesOversizedRequest(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode reliable.Mode) {
		zctx := zmqtest.Context(t)
		ep := echoServer(t, zctx, "tcp")
		c := newClient(t, zctx, []string{ep}, reliable.WithMode(mode))
		half := make([]byte, reliable.DefaultMaxRequestSize/2)
		_, err := c.Request(context.Background(), half, half, []byte("x"))
		var tl *reliable.TooLargeError
		require.ErrorAs(t, err, &tl)
		assert.ErrorIs(t, err, reliable.ErrTooLarge)
		assert.NotErrorIs(t, err, reliable.ErrNoReply)
		assert.Equal(t, &reliable.TooLargeError{What: "request", Size: reliable.DefaultMaxRequestSize + 1, Frames: 3, Limit: reliable.DefaultMaxRequestSize}, tl)
		st := c.Stats()
		assert.Zero(t, st.Attempts)
		assert.Equal(t, uint64(1), st.TooLarge)

		rep, err := c.Request(context.Background(), half, half)
		require.NoError(t, err, "exactly the limit is allowed")
		assert.Len(t, rep, 2)
	})
}

// TestReqSocketBoundsReplies: a ReqSocket refuses a reply of many frames
// over DefaultMaxReplySize with a *TooLargeError and stays usable; a
// single frame over it makes libzmq drop the connection, and the receive
// times out (the socket repairs itself, as after any failed receive).
func TestReqSocketBoundsReplies(t *testing.T) {
	zctx := zmqtest.Context(t)
	t.Run("many-frames", func(t *testing.T) {
		srv := hostileServer(t, "many-frames", 16<<20)
		r, err := reliable.NewReqSocket(zctx)
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, r.Connect(srv.Endpoint))
		for range 2 {
			_, err = r.SendMessage("hello")
			require.NoError(t, err)
			rep, err := r.RecvMessageBytes(0)
			assert.ErrorIs(t, err, reliable.ErrTooLarge)
			assert.Empty(t, rep)
		}
		require.NoError(t, r.SetMaxmsgsize(-1))
		_, err = r.SendMessage("hello")
		require.NoError(t, err)
		rep, err := r.RecvMessage(0)
		require.NoError(t, err)
		assert.Len(t, rep, 16)
		assert.Zero(t, r.Resets())
	})
	t.Run("big-frame", func(t *testing.T) {
		srv := hostileServer(t, "big-frame", 16<<20)
		r, err := reliable.NewReqSocket(zctx)
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, r.SetRcvtimeo(500*time.Millisecond))
		require.NoError(t, r.Connect(srv.Endpoint))
		_, err = r.SendMessage("hello")
		require.NoError(t, err)
		_, err = r.RecvMessageBytes(0)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 1, r.Resets())
	})
}
