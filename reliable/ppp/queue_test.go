package ppp_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// ppIvl is the heartbeat interval of in-process PPP tests: 50 ms is too
// tight when other processes load a 2-core machine.
const ppIvl = 100 * time.Millisecond

// TestHappyPath serves requests through our queue and two of our
// workers, from every kind of client: correlated, plain, a raw REQ.
func TestHappyPath(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3))
	for range 2 {
		startWorker(t, zctx, q.Backend(), ppEcho, ppp.WithWorkerHeartbeat(ppIvl, 3))
	}
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, mode := range []reliable.Mode{reliable.Correlated, reliable.Plain} {
		c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithMode(mode))
		require.NoError(t, err)
		for i := range 10 {
			body := fmt.Sprintf("%v-%d", mode, i)
			got, err := c.Request(ctx, []byte("a"), []byte(body))
			require.NoError(t, err)
			assert.Equal(t, [][]byte{[]byte("a"), []byte(body)}, got)
		}
		_, err = c.Request(ctx, []byte("fail"))
		var re *reliable.RemoteError
		require.ErrorAs(t, err, &re, "mode %v", mode)
		assert.Equal(t, wire.CodeHandler, re.Code)
		assert.Equal(t, "it failed", re.Message)
		require.NoError(t, c.Close())
	}

	req := reqClient(t, zctx, q.Frontend())
	_, err := req.SendMessage("x", "fail")
	require.NoError(t, err)
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodeHandler, "it failed"}, got)

	// The queue counts a reply once it has forwarded it, which can be a
	// moment after the client has it.
	require.Eventually(t, func() bool { return q.Stats().Replies == 23 }, 5*time.Second, time.Millisecond)
	st := q.Stats()
	assert.EqualValues(t, 23, st.Requests)
	assert.EqualValues(t, 23, st.Replies)
	assert.Equal(t, 2, st.Workers)
	assert.Zero(t, st.Expired+st.Retried+st.WorkerLost+st.Stale+st.Malformed)
}

// TestBusyWorkerNoFalseDead runs a handler for 10 intervals: the worker
// heartbeats meanwhile, so neither side ever sees the other Dead, and the
// request is answered. (On an idle machine neither is even Suspect; on one
// overloaded by other processes a heartbeat can be more than half an
// interval late, which Suspect is for, so Suspect is only logged.)
func TestBusyWorkerNoFalseDead(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pol := heartbeat.Policy{Interval: ppIvl, Liveness: 3}
	qtr, err := heartbeat.New(heartbeat.WithPolicy(pol))
	require.NoError(t, err)
	wtr, err := heartbeat.New(heartbeat.WithPolicy(pol))
	require.NoError(t, err)
	var bad, suspect []heartbeat.Event
	badCh := make(chan heartbeat.Event, 64)
	for _, tr := range []*heartbeat.Tracker{qtr, wtr} {
		tr.OnChange(func(ev heartbeat.Event) {
			if ev.To == heartbeat.Suspect || ev.To == heartbeat.Dead {
				badCh <- ev
			}
		})
	}
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3), ppp.WithQueueTracker(qtr))
	w := startWorker(t, zctx, q.Backend(), ppEcho, ppp.WithWorkerHeartbeat(ppIvl, 3), ppp.WithWorkerTracker(wtr))
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithAttemptTimeout(5*time.Second), reliable.WithMaxAttempts(1))
	require.NoError(t, err)
	defer c.Close()
	busy := 10 * ppIvl
	start := time.Now()
	got, err := c.Request(context.Background(), []byte("sleep:"+busy.String()))
	require.NoError(t, err)
	assert.Equal(t, "sleep:"+busy.String(), string(got[0]))
	assert.GreaterOrEqual(t, time.Since(start), busy)
	// Counted now: once the worker closes, the queue forgets it.
	st, wst := q.Stats(), w.Stats()

	require.NoError(t, w.Close())
	require.NoError(t, q.Close())
	require.NoError(t, qtr.Close())
	require.NoError(t, wtr.Close())
	close(badCh)
	for ev := range badCh {
		if ev.To == heartbeat.Dead {
			bad = append(bad, ev)
		} else {
			suspect = append(suspect, ev)
		}
	}
	if len(suspect) > 0 {
		t.Logf("%d Suspect transitions (late heartbeats under load)", len(suspect))
	}
	// Closing the queue stops its heartbeats; the worker's tracker may see
	// the queue go quiet only after that, which is not a false positive.
	assert.Empty(t, bad, "a side was declared Dead while the handler was busy")
	assert.Zero(t, st.Expired+st.Retried+st.WorkerLost)
	assert.Zero(t, wst.Reconnects)
}

// TestOptionErrorsAreTyped: both constructors refuse a nil option, and
// every option an invalid value, with an error that errors.As finds a
// *zmq.OptionError in, naming the option.
func TestOptionErrorsAreTyped(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	queue := func(o ppp.QueueOption) error {
		q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", o)
		if err == nil {
			q.Close()
		}
		return err
	}
	worker := func(o ppp.WorkerOption) error {
		w, err := ppp.NewWorker(zctx, "tcp://127.0.0.1:1", ppEcho, o)
		if err == nil {
			w.Close()
		}
		return err
	}
	tests := []struct {
		name string
		err  error
		opt  string
	}{
		{"NewQueue nil", queue(nil), "<nil>"},
		{"WithQueueHeartbeat interval", queue(ppp.WithQueueHeartbeat(0, 3)), "WithQueueHeartbeat"},
		{"WithQueueHeartbeat liveness", queue(ppp.WithQueueHeartbeat(time.Second, 1)), "WithQueueHeartbeat"},
		{"WithQueueRetries", queue(ppp.WithQueueRetries(-1)), "WithQueueRetries"},
		{"WithQueueRequestTimeout", queue(ppp.WithQueueRequestTimeout(-time.Second)), "WithQueueRequestTimeout"},
		{"WithQueuePending", queue(ppp.WithQueuePending(0)), "WithQueuePending"},
		{"WithQueueMaxMessageSize", queue(ppp.WithQueueMaxMessageSize(0)), "WithQueueMaxMessageSize"},
		{"WithQueueTracker", queue(ppp.WithQueueTracker(nil)), "WithQueueTracker"},
		{"NewWorker nil", worker(nil), "<nil>"},
		{"WithWorkerHeartbeat interval", worker(ppp.WithWorkerHeartbeat(-1, 3)), "WithWorkerHeartbeat"},
		{"WithWorkerHeartbeat liveness", worker(ppp.WithWorkerHeartbeat(time.Second, 0)), "WithWorkerHeartbeat"},
		{"WithWorkerBackoff multiplier", worker(ppp.WithWorkerBackoff(reliable.Backoff{Multiplier: 0.5})), "WithWorkerBackoff"},
		{"WithWorkerBackoff max", worker(ppp.WithWorkerBackoff(reliable.Backoff{Initial: time.Second, Max: time.Millisecond})), "WithWorkerBackoff"},
		{"WithWorkerBackoff jitter", worker(ppp.WithWorkerBackoff(reliable.Backoff{Jitter: 2})), "WithWorkerBackoff"},
		{"WithWorkerBacklog", worker(ppp.WithWorkerBacklog(0)), "WithWorkerBacklog"},
		{"WithWorkerTracker", worker(ppp.WithWorkerTracker(nil)), "WithWorkerTracker"},
		{"WithWorkerShutdownGrace", worker(ppp.WithWorkerShutdownGrace(-1)), "WithWorkerShutdownGrace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var oe *zmq.OptionError
			require.True(t, errors.As(tt.err, &oe), "%v", tt.err)
			assert.Equal(t, tt.opt, oe.Option)
		})
	}
}

func TestLifecycle(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	_, err := ppp.NewWorker(zctx, "", ppEcho)
	assert.Error(t, err)

	// Closed before Run: Run refuses, Close is idempotent.
	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
	require.NoError(t, err)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())
	assert.ErrorIs(t, q.Run(context.Background()), ppp.ErrQueueClosed)
	w, err := ppp.NewWorker(zctx, "tcp://127.0.0.1:1", ppEcho)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	assert.ErrorIs(t, w.Run(context.Background()), ppp.ErrWorkerClosed)
}

// TestRunContext stops a queue and a worker through Run's context.
func TestRunContext(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", ppp.WithQueueHeartbeat(ppIvl, 3))
	require.NoError(t, err)
	defer q.Close()
	w, err := ppp.NewWorker(zctx, q.Backend(), ppEcho, ppp.WithWorkerHeartbeat(ppIvl, 3))
	require.NoError(t, err)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*ppIvl)
	defer cancel()
	qdone := make(chan error, 1)
	go func() { qdone <- q.Run(ctx) }()
	werr := w.Run(ctx)
	assert.ErrorIs(t, werr, context.DeadlineExceeded)
	assert.ErrorIs(t, <-qdone, context.DeadlineExceeded)
	assert.ErrorIs(t, q.Run(context.Background()), ppp.ErrQueueRunning)
	assert.ErrorIs(t, w.Run(context.Background()), ppp.ErrWorkerRunning)
}
