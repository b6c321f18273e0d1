package ppp_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestQueueDropsLateReply: a hand-driven worker (a DEALER speaking PPP)
// takes a request and then falls silent; the queue expires it and a real
// worker answers. When the silent one finally replies, the queue drops the
// reply instead of sending the client a second answer, and takes the
// worker back as ready.
func TestQueueDropsLateReply(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3))
	slow := newHandWorker(t, zctx, q, evs)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := reqClient(t, zctx, q.Frontend())
	_, err := req.SendMessage("late")
	require.NoError(t, err)
	msg := slow.next(ctx)
	assert.Equal(t, "late", string(msg[len(msg)-1]))

	startWorker(t, zctx, q.Backend(), ppEcho, ppp.WithWorkerHeartbeat(ppIvl, 3))
	evs.await(t, ppp.QueueRequestRetried, 5*time.Second)
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"late"}, got)

	// The late reply, and then proof that it was not forwarded: the next
	// request's answer is the first thing the client receives.
	slow.answer(append(msg[:len(msg)-1:len(msg)-1], []byte("stale answer")))
	_, err = req.SendMessage("next")
	require.NoError(t, err)
	got, err = timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"next"}, got)
	// No event marks a dropped reply; the counter is the evidence.
	waitFor(t, 5*time.Second, "the late reply counted as stale", func() bool { return q.Stats().Stale == 1 })
	assert.EqualValues(t, 1, q.Stats().Retried)
}

// TestQueueLateReplyNotTakenForRetry: a worker is expired holding a
// request, comes back (heartbeats) and is handed the same request again,
// retried. Its late reply to the first dispatch arrives first: the queue
// must drop it (it carries the first dispatch's token) and pass on only the
// reply to the request the worker holds now. Matching replies to "whatever
// the worker holds" would give a plain client the wrong answer.
func TestQueueLateReplyNotTakenForRetry(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3), ppp.WithQueueRetries(1))
	slow := newHandWorker(t, zctx, q, evs)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := reqClient(t, zctx, q.Frontend())
	_, err := req.SendMessage("job")
	require.NoError(t, err)
	first := slow.next(ctx)
	// Fall silent until the queue gives up on us, then come back.
	evs.await(t, ppp.QueueRequestRetried, 10*time.Second)
	slow.answer(ppp.HeartbeatMessage())
	second := slow.next(ctx)
	assert.NotEqual(t, first[0], second[0], "each dispatch has its own token")

	slow.answer(append(first[:len(first)-1:len(first)-1], []byte("stale answer")))
	slow.answer(append(second[:len(second)-1:len(second)-1], []byte("fresh answer")))
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"fresh answer"}, got)
	waitFor(t, 5*time.Second, "the late reply counted as stale", func() bool { return q.Stats().Stale >= 1 })
}

// TestQueueSendsWorkersRFC6Frames drives a worker by hand: whatever the
// client (a correlated reliable.Client, a REQ that identifies as zmqguard,
// a zguide REQ), the worker gets exactly [token, "", body], the one
// address frame an rfc 6 worker echoes, and the token is an ID frame of
// the queue's own (docs/PROTOCOL.md), a new one per dispatch. An error
// reply in the token's ID form reaches each client in the form it takes:
// a *RemoteError, [ZGERR, code, message], or nothing.
func TestQueueSendsWorkersRFC6Frames(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(mergeIvl, 3))
	w := newHandWorker(t, zctx, q, evs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Answers the next request with an error reply in the token's form.
	var tokens []wire.RequestID
	failNext := func(body string) {
		msg := w.next(ctx)
		require.Len(t, msg, 3, "exactly [token, \"\", body]: %q", msg)
		token, kind, err := wire.ParseIDFrame(msg[0])
		require.NoError(t, err, "the token is an ID frame")
		assert.Equal(t, wire.KindRequest, kind)
		tokens = append(tokens, token)
		assert.Empty(t, msg[1])
		assert.Equal(t, body, string(msg[2]))
		w.answer([][]byte{token.AppendFrame(nil, wire.KindError), {}, []byte(wire.CodeHandler), []byte("no " + body)})
	}

	c := patientClient(t, zctx, q)
	cerr := make(chan error, 1)
	go func() { _, err := c.Request(ctx, []byte("correlated")); cerr <- err }()
	failNext("correlated")
	var re *reliable.RemoteError
	require.ErrorAs(t, <-cerr, &re)
	assert.Equal(t, reliable.RemoteError{Code: wire.CodeHandler, Message: "no correlated"}, *re)

	zg := reqClient(t, zctx, q.Frontend())
	_, err := zg.SendMessage("zmqguard plain")
	require.NoError(t, err)
	failNext("zmqguard plain")
	got, err := timeout.RecvMessage(ctx, zg)
	require.NoError(t, err)
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodeHandler, "no zmqguard plain"}, got)

	zguide := zmqtest.Socket(t, zctx, zmq.REQ)
	require.NoError(t, zguide.Connect(q.Frontend()))
	_, err = zguide.SendMessage("zguide")
	require.NoError(t, err)
	failNext("zguide")
	waitFor(t, 5*time.Second, "the error reply withheld", func() bool { return q.Stats().Withheld == 1 })
	_, err = zguide.RecvMessageBytes(zmq.DONTWAIT)
	assert.ErrorIs(t, err, syscall.EAGAIN, "a zguide client gets no error reply")

	require.Len(t, tokens, 3)
	assert.Equal(t, tokens[0].Client, tokens[2].Client, "the queue's own id")
	assert.Less(t, tokens[0].Seq, tokens[1].Seq, "a new token per dispatch")
	assert.Less(t, tokens[1].Seq, tokens[2].Seq, "a new token per dispatch")
	st := q.Stats()
	assert.EqualValues(t, 2, st.Replies)
	assert.Zero(t, st.Stale+st.Malformed)
}
