package timeout_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// waitUntilReadable waits for a frame to be queued on s, the way a caller
// that then receives with DONTWAIT would.
func waitUntilReadable(t *testing.T, s *zmq.Socket) {
	t.Helper()
	ev, err := timeout.WaitUntil(context.Background(), s, time.Now().Add(5*time.Second), zmq.POLLIN)
	require.NoError(t, err)
	require.Equal(t, zmq.POLLIN, ev)
}

func TestWaitUntil(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)

		t.Run("deadline passes", func(t *testing.T) {
			require.NoError(t, pull.SetRcvtimeo(10*time.Millisecond)) // ignored
			defer pull.SetRcvtimeo(-1)
			start := time.Now()
			_, err := timeout.WaitUntil(context.Background(), pull, start.Add(30*time.Millisecond), zmq.POLLIN)
			el := time.Since(start)
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var te *zmq.TimeoutError
			if assert.True(t, errors.As(err, &te)) {
				assert.Equal(t, "wait", te.Op)
			}
			assert.GreaterOrEqual(t, el, 30*time.Millisecond, "the deadline, not the receive timeout")
			assert.Less(t, el, 30*time.Millisecond+slack)
		})

		t.Run("wakes on arrival", func(t *testing.T) {
			ch := returnsOf(func() error {
				ev, err := timeout.WaitUntil(context.Background(), pull, time.Now().Add(10*time.Second), zmq.POLLIN)
				if err == nil && ev != zmq.POLLIN {
					err = errors.New("woken without POLLIN")
				}
				return err
			})
			waitParked(t, 1)
			_, err := push.Send("x", 0)
			require.NoError(t, err)
			r := await(t, ch)
			require.NoError(t, r.err)
			_, err = pull.Recv(zmq.DONTWAIT)
			require.NoError(t, err)
		})

		t.Run("ready at a past deadline still reports", func(t *testing.T) {
			_, err := push.Send("y", 0)
			require.NoError(t, err)
			waitUntilReadable(t, pull)
			ev, err := timeout.WaitUntil(context.Background(), pull, time.Now().Add(-time.Second), zmq.POLLIN)
			require.NoError(t, err)
			assert.Equal(t, zmq.POLLIN, ev)
			_, err = pull.Recv(zmq.DONTWAIT)
			require.NoError(t, err)
		})

		t.Run("done ctx returns at once", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := push.Send("z", 0)
			require.NoError(t, err)
			waitUntilReadable(t, pull)
			_, err = timeout.WaitUntil(ctx, pull, time.Time{}, zmq.POLLIN)
			assert.ErrorIs(t, err, context.Canceled)
			_, err = pull.Recv(zmq.DONTWAIT)
			require.NoError(t, err, "the done wait left the message queued")
		})
	})
}

// Wait ignores the socket's timeouts even when ctx has no deadline: it
// ends only when the socket is ready, ctx is done or the socket closes.
func TestWaitIgnoresSocketTimeouts(t *testing.T) {
	c := zmqtest.Context(t)
	pull := idlePull(t, c, "inproc")
	require.NoError(t, pull.SetRcvtimeo(10*time.Millisecond))
	require.NoError(t, pull.SetSndtimeo(10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := returnsOf(func() error { _, err := timeout.Wait(ctx, pull, zmq.POLLIN); return err })
	waitParked(t, 1)
	select {
	case r := <-ch:
		t.Fatalf("Wait returned by itself after %v: %v", r.el, r.err)
	case <-time.After(100 * time.Millisecond): // ten times the socket's timeouts
	}
	cancel()
	assertCanceled(t, await(t, ch).err)
}

// A ready socket reports its events without allocating: the leader of a
// reliable.Client waits this way once per reply.
func TestWaitUntilReadyDoesNotAllocate(t *testing.T) {
	c := zmqtest.Context(t)
	pull, push := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	_, err := push.Send("x", 0)
	require.NoError(t, err)
	waitUntilReadable(t, pull)
	deadline := time.Now().Add(time.Hour)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := timeout.WaitUntil(ctx, pull, deadline, zmq.POLLIN); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestRecvMessageBytesUntil(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)
		require.NoError(t, pull.SetRcvtimeo(10*time.Millisecond)) // ignored

		start := time.Now()
		_, err := timeout.RecvMessageBytesUntil(context.Background(), pull, start.Add(60*time.Millisecond))
		el := time.Since(start)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var te *zmq.TimeoutError
		require.True(t, errors.As(err, &te))
		assert.Equal(t, "recv", te.Op)
		assert.GreaterOrEqual(t, el, 60*time.Millisecond, "the deadline, not the receive timeout")
		assert.Less(t, el, 60*time.Millisecond+slack)

		// A queued message is received whole, even at a past deadline.
		_, err = push.SendMessage("a", "b")
		require.NoError(t, err)
		waitUntilReadable(t, pull)
		msg, err := timeout.RecvMessageBytesUntil(context.Background(), pull, time.Now().Add(-time.Second))
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("a"), []byte("b")}, msg)

		// Cancelling ctx wakes it; the cause is the ctx's.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := returnsOf(func() error {
			_, err := timeout.RecvMessageBytesUntil(ctx, pull, time.Now().Add(time.Hour))
			return err
		})
		waitParked(t, 1)
		cancel()
		assertCanceled(t, await(t, ch).err)
	})
}

// SendMessageUntil is bounded by its deadline, not by the socket's send
// timeout, and sends nothing when it times out.
func TestSendMessageUntil(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		push := stuckPush(t, c, tr)
		require.NoError(t, push.SetSndtimeo(10*time.Millisecond)) // ignored

		start := time.Now()
		err := timeout.SendMessageUntil(context.Background(), push, start.Add(60*time.Millisecond), "lost", "message")
		el := time.Since(start)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var te *zmq.TimeoutError
		require.True(t, errors.As(err, &te))
		assert.Equal(t, "send", te.Op)
		assert.GreaterOrEqual(t, el, 60*time.Millisecond, "the deadline, not the send timeout")
		assert.Less(t, el, 60*time.Millisecond+slack)

		// Cancelling ctx wakes it.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := returnsOf(func() error {
			return timeout.SendMessageUntil(ctx, push, time.Now().Add(time.Hour), "lost", "again")
		})
		waitParked(t, 1)
		cancel()
		assertCanceled(t, await(t, ch).err)

		// With a peer, a message goes through whole; the timed-out ones
		// left nothing behind.
		pull := zmqtest.Socket(t, c, zmq.PULL)
		ep, err := push.GetLastEndpoint()
		require.NoError(t, err)
		require.NoError(t, pull.Connect(ep))
		require.NoError(t, timeout.SendMessageUntil(context.Background(), push, time.Now().Add(5*time.Second), "next", "message"))
		msg, err := timeout.RecvMessageBytesUntil(context.Background(), pull, time.Now().Add(5*time.Second))
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("next"), []byte("message")}, msg)
	})
}
