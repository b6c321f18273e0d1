package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestRequestRoundTrip(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		t.Run("REQ", func(t *testing.T) {
			rep, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
			echo(t, rep)
			for i := range 100 {
				reply, err := timeout.Request(ctx, req, "ping", i, []byte{byte(i)})
				require.NoError(t, err)
				require.Equal(t, [][]byte{[]byte("ping"), []byte(strconv.Itoa(i)), {byte(i)}}, reply)
			}
			reply, err := timeout.Request(ctx, req, []byte("one"))
			require.NoError(t, err)
			assert.Equal(t, [][]byte{[]byte("one")}, reply)
		})
		t.Run("DEALER", func(t *testing.T) {
			rep, dealer := zmqtest.Pair(t, c, tr, zmq.REP, zmq.DEALER)
			echo(t, rep)
			reply, err := timeout.Request(ctx, dealer, "", "ping")
			require.NoError(t, err)
			assert.Equal(t, [][]byte{{}, []byte("ping")}, reply, "a DEALER sees the delimiter")
		})
		t.Run("socket timeouts as defaults", func(t *testing.T) {
			rep, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
			echo(t, rep)
			require.NoError(t, req.SetRcvtimeo(5*time.Second))
			require.NoError(t, req.SetSndtimeo(time.Second))
			for range 100 {
				reply, err := timeout.Request(context.Background(), req, "x", "y")
				require.NoError(t, err)
				require.Equal(t, [][]byte{[]byte("x"), []byte("y")}, reply)
			}
		})
	})
}

// Without a ctx deadline, the receive timeout bounds the whole round trip,
// counted from the start of the call, and the send timeout the send.
func TestRequestOneDeadlineFromDefaults(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)

		t.Run("send times out", func(t *testing.T) {
			req := zmqtest.Socket(t, c, zmq.REQ)
			zmqtest.Bind(t, req, tr) // no peer
			require.NoError(t, req.SetRcvtimeo(600*time.Millisecond))
			require.NoError(t, req.SetSndtimeo(80*time.Millisecond))
			start := time.Now()
			_, err := timeout.Request(context.Background(), req, "ping")
			el := time.Since(start)
			assertWithin(t, el, 80*time.Millisecond)
			assert.Less(t, el, 600*time.Millisecond, "the send timeout, not the round trip's, ended it")
			assertTimeoutOp(t, err, "send")
		})
		t.Run("send bounded by the round trip", func(t *testing.T) {
			req := zmqtest.Socket(t, c, zmq.REQ)
			zmqtest.Bind(t, req, tr)
			require.NoError(t, req.SetRcvtimeo(80*time.Millisecond))
			require.NoError(t, req.SetSndtimeo(time.Hour))
			start := time.Now()
			_, err := timeout.Request(context.Background(), req, "ping")
			assertWithin(t, time.Since(start), 80*time.Millisecond)
			assertTimeoutOp(t, err, "send")
		})
		t.Run("reply times out", func(t *testing.T) {
			_, req := mute(t, c, tr) // takes the request, never replies
			require.NoError(t, req.SetRcvtimeo(150*time.Millisecond))
			start := time.Now()
			_, err := timeout.Request(context.Background(), req, "ping")
			assertWithin(t, time.Since(start), 150*time.Millisecond)
			assertTimeoutOp(t, err, "recv")
		})
		t.Run("cancel wakes", func(t *testing.T) {
			_, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
			require.NoError(t, req.SetRcvtimeo(time.Hour))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := returnsOf(func() error { _, err := timeout.Request(ctx, req, "ping"); return err })
			waitParked(t, 1)
			at := time.Now()
			cancel()
			r := await(t, ch)
			assert.Less(t, r.at.Sub(at), slack)
			assertCanceled(t, r.err)
		})
		t.Run("zero receive timeout", func(t *testing.T) {
			_, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
			require.NoError(t, req.SetRcvtimeo(0)) // zmq: never wait
			start := time.Now()
			_, err := timeout.Request(context.Background(), req, "ping")
			assert.Less(t, time.Since(start), slack)
			assertTimeoutOp(t, err, "recv")
		})
	})
}

// One ctx deadline covers the send and the receive together.
func TestRequestCtxDeadlineCoversBoth(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		rep, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
		// Socket timeouts, here longer than the deadline, are ignored.
		require.NoError(t, req.SetRcvtimeo(time.Hour))
		require.NoError(t, req.SetSndtimeo(time.Hour))
		serve(t, rep, func(m [][]byte) [][]byte { return nil }) // swallow
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
		defer cancel()
		_, err := timeout.Request(ctx, req, "ping")
		assertWithin(t, time.Since(start), 120*time.Millisecond)
		assertDeadline(t, ctx, err)
		assertTimeoutOp(t, err, "recv")
	})
}

func assertTimeoutOp(t *testing.T, err error, op string) {
	t.Helper()
	var te *zmq.TimeoutError
	require.True(t, errors.As(err, &te), "want *zmq.TimeoutError, got %T %v", err, err)
	assert.Equal(t, op, te.Op)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.True(t, te.Timeout())
}

func TestRequestRefusesBadPartsBeforeSending(t *testing.T) {
	c := zmqtest.Context(t)
	rep, req := zmqtest.Pair(t, c, "inproc", zmq.REP, zmq.REQ)
	echo(t, rep)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, parts := range [][]any{nil, {nil}, {"a", struct{}{}}, {time.Second}, {"a", errors.New("x")}} {
		_, err := timeout.Request(ctx, req, parts...)
		require.ErrorIs(t, err, zmq.ErrInvalidMessage, "%#v", parts)
		require.ErrorIs(t, timeout.SendMessage(ctx, req, parts...), zmq.ErrInvalidMessage)
	}
	// Nothing was sent: the REQ socket can still send its first request.
	reply, err := timeout.Request(ctx, req, "ok")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("ok")}, reply)
}

// Numbers and bools are sent as fmt.Sprint prints them.
func TestSendMessageFormatsLikeSprint(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	parts := []any{"s", []byte("b"), []string{"x", "y"}, [][]byte{[]byte("z")},
		-1, int8(-8), int16(16), int32(-32), int64(1 << 40), uint(1), uint8(8), uint16(16), uint32(32),
		uint64(1 << 63), uintptr(7), float32(0.1), 1e21, 3.5, true, false}
	require.NoError(t, timeout.SendMessage(ctx, push, parts...))
	got, err := timeout.RecvMessage(ctx, pull)
	require.NoError(t, err)
	want := []string{"s", "b", "x", "y", "z"}
	for _, p := range parts[4:] {
		want = append(want, fmt.Sprint(p))
	}
	assert.Equal(t, want, got)
}
