package zmq_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// waitUntilReadable waits for a frame to be queued on s, the way a caller
// that then receives with DONTWAIT would.
func waitUntilReadable(t *testing.T, s *zmq.Socket) {
	t.Helper()
	ev, err := s.WaitUntil(context.Background(), time.Now().Add(5*time.Second), zmq.POLLIN)
	require.NoError(t, err)
	require.Equal(t, zmq.POLLIN, ev)
}

func TestWaitUntil(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pull, push := zmqtest.Pair(t, c, tr, zmq.PULL, zmq.PUSH)

		t.Run("deadline passes", func(t *testing.T) {
			start := time.Now()
			_, err := pull.WaitUntil(context.Background(), start.Add(30*time.Millisecond), zmq.POLLIN)
			el := time.Since(start)
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var te *zmq.TimeoutError
			assert.True(t, errors.As(err, &te))
			assert.GreaterOrEqual(t, el, 30*time.Millisecond)
			assert.Less(t, el, 2*time.Second)
		})

		t.Run("wakes on arrival", func(t *testing.T) {
			park := parked(pull)
			done := make(chan error, 1)
			go func() {
				ev, err := pull.WaitUntil(context.Background(), time.Now().Add(10*time.Second), zmq.POLLIN)
				if err == nil && ev != zmq.POLLIN {
					err = errors.New("woken without POLLIN")
				}
				done <- err
			}()
			waitFor(t, park, "the wait to park")
			_, err := push.Send("x", 0)
			require.NoError(t, err)
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("the arrival did not wake the wait")
			}
			_, err = pull.Recv(zmq.DONTWAIT)
			require.NoError(t, err)
		})

		t.Run("ready at a past deadline still reports", func(t *testing.T) {
			_, err := push.Send("y", 0)
			require.NoError(t, err)
			waitUntilReadable(t, pull)
			ev, err := pull.WaitUntil(context.Background(), time.Now().Add(-time.Second), zmq.POLLIN)
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
			_, err = pull.WaitUntil(ctx, time.Time{}, zmq.POLLIN)
			assert.ErrorIs(t, err, context.Canceled)
			_, err = pull.Recv(zmq.DONTWAIT)
			require.NoError(t, err)
		})
	})
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
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := pull.WaitUntil(context.Background(), deadline, zmq.POLLIN); err != nil {
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
		_, err := pull.RecvMessageBytesUntil(context.Background(), start.Add(60*time.Millisecond), 0)
		el := time.Since(start)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var te *zmq.TimeoutError
		require.True(t, errors.As(err, &te))
		assert.Equal(t, "recv", te.Op)
		assert.GreaterOrEqual(t, el, 60*time.Millisecond, "the deadline, not the receive timeout")
		assert.Less(t, el, 2*time.Second)

		// A queued message is received whole, even at a past deadline.
		_, err = push.SendMessage("a", "b")
		require.NoError(t, err)
		waitUntilReadable(t, pull)
		msg, err := pull.RecvMessageBytesUntil(context.Background(), time.Now().Add(-time.Second), 0)
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("a"), []byte("b")}, msg)

		// Cancelling ctx wakes it; the cause is the ctx's.
		ctx, cancel := context.WithCancel(context.Background())
		park := parked(pull)
		done := make(chan error, 1)
		go func() {
			_, err := pull.RecvMessageBytesUntil(ctx, time.Now().Add(time.Hour), 0)
			done <- err
		}()
		waitFor(t, park, "the receive to park")
		cancel()
		assert.ErrorIs(t, waitFor(t, done, "the receive to return"), context.Canceled)
	})
}
