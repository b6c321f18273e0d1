package ppp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestQueueMergesRetries: a client that retries a request the queue still
// holds, because its worker is slow, does not make the request run again.
// A correlated client's newer attempt, and a zmqguard plain client's
// identical request on its new socket, are merged into the held request,
// and the one reply goes to the newest attempt, the one the client waits
// for. A zguide client's retry comes from a new socket with a routing id
// the queue cannot relate to the old one: it runs again.
func TestQueueMergesRetries(t *testing.T) {
	for _, mode := range []reliable.Mode{reliable.Correlated, reliable.Plain} {
		t.Run(mode.String(), func(t *testing.T) {
			zctx := zmqtest.Context(t, zmq.WithLinger(0))
			q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(mergeIvl, 3))
			w := newHandWorker(t, zctx, q, evs)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			attempts := make(chan int, 16)
			c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithMode(mode),
				reliable.WithAttemptTimeout(400*time.Millisecond), reliable.WithMaxAttempts(3),
				reliable.WithEventHook(func(ev reliable.ClientEvent) {
					if ev.Kind == reliable.EventAttempt {
						attempts <- ev.Attempt
					}
				}))
			require.NoError(t, err)
			defer c.Close()
			res := make(chan error, 1)
			go func() {
				got, err := c.Request(ctx, []byte("slow"))
				if err == nil && string(got[0]) != "slow" {
					t.Errorf("reply %q", got)
				}
				res <- err
			}()
			req := w.next(ctx)
			for n := range 3 { // wait until the third attempt is out
				require.Equal(t, n+1, <-attempts)
			}
			waitFor(t, 5*time.Second, "both retries merged", func() bool { return q.Stats().Merged == 2 })
			w.none()
			w.answer(req)
			require.NoError(t, <-res, "the third attempt got the one execution's reply")
			st := q.Stats()
			assert.EqualValues(t, 3, st.Requests)
			assert.EqualValues(t, 1, st.Replies)
			assert.Zero(t, st.Stale+st.Malformed+st.Unroutable)
		})
	}

	t.Run("zguide", func(t *testing.T) {
		zctx := zmqtest.Context(t, zmq.WithLinger(0))
		q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(mergeIvl, 3))
		w := newHandWorker(t, zctx, q, evs)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		first := zmqtest.Socket(t, zctx, zmq.REQ)
		require.NoError(t, first.Connect(q.Frontend()))
		_, err := first.SendMessage("1")
		require.NoError(t, err)
		req := w.next(ctx)
		// lpclient's retry: a new REQ socket, the same request.
		again := zmqtest.Socket(t, zctx, zmq.REQ)
		require.NoError(t, again.Connect(q.Frontend()))
		_, err = again.SendMessage("1")
		require.NoError(t, err)
		waitFor(t, 5*time.Second, "the retry queued", func() bool { return q.Stats().Requests == 2 })
		assert.Zero(t, q.Stats().Merged)
		w.answer(req)
		assert.Equal(t, "1", string(w.next(ctx)[2]), "the retry runs again")
	})
}

// TestQueueDropsAbandonedRequest: a plain client that gave up on a request
// and sent a different one waits only for the new one. The old one, if it
// still waits for a worker, never runs; if it runs, its reply is dropped.
func TestQueueDropsAbandonedRequest(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(mergeIvl, 3))
	w := newHandWorker(t, zctx, q, evs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithMode(reliable.Plain),
		reliable.WithAttemptTimeout(100*time.Millisecond), reliable.WithMaxAttempts(1))
	require.NoError(t, err)
	defer c.Close()

	// "a" runs at the only worker; the client gives up on it.
	_, err = c.Request(ctx, []byte("a"))
	require.ErrorIs(t, err, reliable.ErrNoReply)
	reqA := w.next(ctx)
	// "b" waits for the worker, and is given up on too; "c" replaces it.
	_, err = c.Request(ctx, []byte("b"))
	require.ErrorIs(t, err, reliable.ErrNoReply)
	res := make(chan [][]byte, 1)
	go func() {
		c2, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithMode(reliable.Plain),
			reliable.WithAttemptTimeout(10*time.Second), reliable.WithMaxAttempts(1))
		if err != nil {
			t.Error(err)
			res <- nil
			return
		}
		defer c2.Close()
		got, err := c2.Request(ctx, []byte("other client"))
		if err != nil {
			t.Error(err)
		}
		res <- got
	}()
	waitFor(t, 5*time.Second, "the other client's request queued", func() bool { return q.Stats().Requests == 3 })
	st := q.Stats()
	assert.EqualValues(t, 1, st.Abandoned, "a, given up on for b")

	got := make(chan error, 1)
	go func() { _, err := c.Request(ctx, []byte("c")); got <- err }()
	waitFor(t, 5*time.Second, "b given up on for c", func() bool { return q.Stats().Abandoned == 2 })

	// a's late reply goes nowhere; then the worker serves the others in
	// order, b never.
	w.answer(reqA)
	for _, want := range []string{"other client", "c"} {
		req := w.next(ctx)
		assert.Equal(t, want, string(req[2]))
		w.answer(req)
	}
	require.NoError(t, <-got)
	assert.Equal(t, [][]byte{[]byte("other client")}, <-res)
	st = q.Stats()
	assert.EqualValues(t, 2, st.Replies, "a's reply dropped")
	assert.Zero(t, st.Stale+st.Unroutable)
}
