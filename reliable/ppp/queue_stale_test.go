package ppp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable/ppp"
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
	slow := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, slow.SetLinger(0))
	require.NoError(t, slow.Connect(q.Backend()))
	_, err := slow.SendMessage(ppp.ReadyMessage())
	require.NoError(t, err)
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := reqClient(t, zctx, q.Frontend())
	_, err = req.SendMessage("late")
	require.NoError(t, err)
	var msg [][]byte
	for { // skip the queue's heartbeats
		msg, err = timeout.RecvMessageBytes(ctx, slow)
		require.NoError(t, err)
		if len(msg) > 1 {
			break
		}
	}
	assert.Equal(t, "late", string(msg[len(msg)-1]))

	startWorker(t, zctx, q.Backend(), ppEcho, ppp.WithWorkerHeartbeat(ppIvl, 3))
	evs.await(t, ppp.QueueRequestRetried, 5*time.Second)
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"late"}, got)

	// The late reply, and then proof that it was not forwarded: the next
	// request's answer is the first thing the client receives.
	_, err = slow.SendMessage(msg[:len(msg)-1], "stale answer")
	require.NoError(t, err)
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
// must drop it (it carries the first dispatch's tag) and pass on only the
// reply to the request the worker holds now. Matching replies to "whatever
// the worker holds" would give a plain client the wrong answer.
func TestQueueLateReplyNotTakenForRetry(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3), ppp.WithQueueRetries(1))
	slow := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, slow.SetLinger(0))
	require.NoError(t, slow.Connect(q.Backend()))
	_, err := slow.SendMessage(ppp.ReadyMessage())
	require.NoError(t, err)
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := reqClient(t, zctx, q.Frontend())
	_, err = req.SendMessage("job")
	require.NoError(t, err)
	recvRequest := func() [][]byte {
		for { // skip the queue's heartbeats
			msg, err := timeout.RecvMessageBytes(ctx, slow)
			require.NoError(t, err)
			if len(msg) > 1 {
				return msg
			}
		}
	}
	first := recvRequest()
	// Fall silent until the queue gives up on us, then come back.
	evs.await(t, ppp.QueueRequestRetried, 10*time.Second)
	_, err = slow.SendMessage(ppp.HeartbeatMessage())
	require.NoError(t, err)
	second := recvRequest()
	assert.NotEqual(t, first[0], second[0], "each dispatch has its own tag")

	_, err = slow.SendMessage(first[:len(first)-1], "stale answer")
	require.NoError(t, err)
	_, err = slow.SendMessage(second[:len(second)-1], "fresh answer")
	require.NoError(t, err)
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{"fresh answer"}, got)
	waitFor(t, 5*time.Second, "the late reply counted as stale", func() bool { return q.Stats().Stale >= 1 })
}
