package ppp_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
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

// TestWorkerReconnectBackoff points a worker at an endpoint where no
// queue listens: it gives up on the silent queue after liveness intervals,
// pauses by its policy, reconnects, and so on, the pause doubling to its
// cap. Once a queue appears and answers, the schedule starts over.
func TestWorkerReconnectBackoff(t *testing.T) {
	const ivl, liveness = 20 * time.Millisecond, 2
	pol := reliable.Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	ep := zmqtest.Endpoint(t, "ipc")
	evs := make(chan ppp.WorkerEvent, 1024)
	startWorker(t, zctx, ep, ppEcho, ppp.WithWorkerHeartbeat(ivl, liveness), ppp.WithWorkerBackoff(pol),
		ppp.WithWorkerEventHook(func(ev ppp.WorkerEvent) { evs <- ev }))

	next := func(kind ppp.WorkerEventKind) ppp.WorkerEvent {
		t.Helper()
		for {
			select {
			case ev := <-evs:
				if ev.Kind == kind {
					return ev
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %v event", kind)
			}
		}
	}
	want := []time.Duration{10, 20, 40, 40, 40}
	var delays []time.Duration
	var gaps []time.Duration
	prev := next(ppp.WorkerConnected)
	for i, w := range want {
		wait := next(ppp.WorkerReconnectWait)
		assert.Equal(t, i, wait.Attempt)
		delays = append(delays, wait.Delay)
		assert.Equal(t, w*time.Millisecond, wait.Delay, "attempt %d", i)
		conn := next(ppp.WorkerConnected)
		gap := conn.At.Sub(prev.At)
		gaps = append(gaps, gap)
		// Silence for liveness intervals, then the pause.
		lo := time.Duration(liveness)*ivl + wait.Delay
		assert.GreaterOrEqual(t, gap, lo, "attempt %d", i)
		assert.Less(t, gap, lo+time.Second, "attempt %d", i)
		prev = conn
	}
	t.Logf("reconnect pauses %v; connect-to-connect gaps %v (liveness×interval = %v)", delays, gaps, liveness*ivl)

	// A queue appears on the endpoint: the worker hears from it, and when
	// it goes away again the schedule restarts at attempt 0.
	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", ep, ppp.WithQueueHeartbeat(ivl, liveness))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithAttemptTimeout(5*time.Second))
	require.NoError(t, err)
	got, err := c.Request(ctx, []byte("hi"))
	require.NoError(t, err)
	assert.Equal(t, "hi", string(got[0]))
	require.NoError(t, c.Close())
	for len(evs) > 0 { // the failed attempts before the queue appeared
		<-evs
	}
	cancel()
	<-done
	require.NoError(t, q.Close())
	wait := next(ppp.WorkerReconnectWait)
	assert.Equal(t, 0, wait.Attempt)
	assert.Equal(t, pol.Initial, wait.Delay)
}

// TestWorkerCloseBoundedByGrace: a handler that ignores its cancelled
// context holds Close up only for the shutdown grace; Run reports it.
func TestWorkerCloseBoundedByGrace(t *testing.T) {
	const grace = 100 * time.Millisecond
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3))
	entered, release, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stubborn := func(context.Context, [][]byte) ([][]byte, error) {
		defer close(exited)
		close(entered)
		<-release // ignores its context
		return nil, nil
	}
	w, err := ppp.NewWorker(zctx, q.Backend(), stubborn,
		ppp.WithWorkerHeartbeat(ppIvl, 3), ppp.WithWorkerShutdownGrace(grace))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	req := reqClient(t, zctx, q.Frontend())
	_, err = req.SendMessage("stuck")
	require.NoError(t, err)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	start := time.Now()
	require.NoError(t, w.Close())
	took := time.Since(start)
	runErr := <-done
	assert.ErrorIs(t, runErr, ppp.ErrWorkerClosed)
	assert.ErrorIs(t, runErr, ppp.ErrHandlerStuck)
	assert.GreaterOrEqual(t, took, grace)
	assert.Less(t, took, grace+2*time.Second)
	close(release)
	<-exited
}

// TestWorkerHandlerGoexit: a handler that calls runtime.Goexit (what
// t.FailNow does) is answered like a panic, with CodePanic, for a
// protocol-aware and a plain client, and the worker goes on serving.
// Before the worker shared reliable.Server's handler runner it recovered
// panics only: Goexit ended its serving goroutine, the request went
// unanswered and every later request with it.
func TestWorkerHandlerGoexit(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3))
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if string(req[0]) == "goexit" {
			runtime.Goexit()
		}
		return ppEcho(ctx, req)
	}
	w := startWorker(t, zctx, q.Backend(), h, ppp.WithWorkerHeartbeat(ppIvl, 3))
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithAttemptTimeout(3*time.Second), reliable.WithMaxAttempts(1))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Request(ctx, []byte("goexit"))
	var re *reliable.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.CodePanic, re.Code)
	assert.Equal(t, "handler exited without returning", re.Message)

	req := reqClient(t, zctx, q.Frontend())
	_, err = req.SendMessage("goexit")
	require.NoError(t, err)
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodePanic, "handler exited without returning"}, got)

	reply, err := c.Request(ctx, []byte("still serving"))
	require.NoError(t, err)
	assert.Equal(t, "still serving", string(reply[0]))
	// The worker counts a reply once sent, a moment after the client may
	// have it.
	waitFor(t, 5*time.Second, "3 requests served", func() bool { return w.Stats().Served == 3 })
}

// TestWorkerErrorTextClipped: a handler's long error text reaches the
// client clipped to wire.MaxErrorText, as from a reliable.Server.
func TestWorkerErrorTextClipped(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3))
	long := strings.Repeat("x", 3*wire.MaxErrorText)
	startWorker(t, zctx, q.Backend(), func(context.Context, [][]byte) ([][]byte, error) {
		return nil, errors.New(long)
	}, ppp.WithWorkerHeartbeat(ppIvl, 3))
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := reqClient(t, zctx, q.Frontend())
	_, err := req.SendMessage("x")
	require.NoError(t, err)
	got, err := timeout.RecvMessageBytes(ctx, req)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, wire.PlainErrorMarker, string(got[0]))
	assert.Len(t, got[2], wire.MaxErrorText)
}

// TestClosedErrorsMatchNetErrClosed: the errors of a closed queue and
// worker match net.ErrClosed, and keep their texts.
func TestClosedErrorsMatchNetErrClosed(t *testing.T) {
	assert.ErrorIs(t, ppp.ErrQueueClosed, net.ErrClosed)
	assert.ErrorIs(t, ppp.ErrWorkerClosed, net.ErrClosed)
	assert.EqualError(t, ppp.ErrQueueClosed, "reliable: queue closed")
	assert.EqualError(t, ppp.ErrWorkerClosed, "reliable: worker closed")
	assert.NotErrorIs(t, ppp.ErrQueueRunning, net.ErrClosed)
}
