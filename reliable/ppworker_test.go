package reliable_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// TestPPWorkerDefaultBackoff checks the zguide reconnect schedule, as a
// pure function of the attempt number.
func TestPPWorkerDefaultBackoff(t *testing.T) {
	var got []time.Duration
	for a := range 8 {
		got = append(got, reliable.DefaultWorkerBackoff.Delay(a, 0.5))
	}
	s := time.Second
	assert.Equal(t, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 32 * s, 32 * s}, got)
}

// TestPPWorkerReconnectBackoff points a worker at an endpoint where no
// queue listens: it gives up on the silent queue after liveness intervals,
// pauses by its policy, reconnects, and so on, the pause doubling to its
// cap. Once a queue appears and answers, the schedule starts over.
func TestPPWorkerReconnectBackoff(t *testing.T) {
	const ivl, liveness = 20 * time.Millisecond, 2
	pol := reliable.Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Multiplier: 2}
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	ep := zmqtest.Endpoint(t, "ipc")
	evs := make(chan reliable.WorkerEvent, 1024)
	startWorker(t, zctx, ep, ppEcho, reliable.WithWorkerHeartbeat(ivl, liveness), reliable.WithWorkerBackoff(pol),
		reliable.WithWorkerEventHook(func(ev reliable.WorkerEvent) { evs <- ev }))

	next := func(kind reliable.WorkerEventKind) reliable.WorkerEvent {
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
	prev := next(reliable.WorkerConnected)
	for i, w := range want {
		wait := next(reliable.WorkerReconnectWait)
		assert.Equal(t, i, wait.Attempt)
		delays = append(delays, wait.Delay)
		assert.Equal(t, w*time.Millisecond, wait.Delay, "attempt %d", i)
		conn := next(reliable.WorkerConnected)
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
	q, err := reliable.NewPPQueue(zctx, "tcp://127.0.0.1:*", ep, reliable.WithQueueHeartbeat(ivl, liveness))
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
	wait := next(reliable.WorkerReconnectWait)
	assert.Equal(t, 0, wait.Attempt)
	assert.Equal(t, pol.Initial, wait.Delay)
}

// TestPPWorkerCloseBoundedByGrace: a handler that ignores its cancelled
// context holds Close up only for the shutdown grace; Run reports it.
func TestPPWorkerCloseBoundedByGrace(t *testing.T) {
	const grace = 100 * time.Millisecond
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, reliable.WithQueueHeartbeat(ppIvl, 3))
	entered, release, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stubborn := func(context.Context, [][]byte) ([][]byte, error) {
		defer close(exited)
		close(entered)
		<-release // ignores its context
		return nil, nil
	}
	w, err := reliable.NewPPWorker(zctx, q.Backend(), stubborn,
		reliable.WithWorkerHeartbeat(ppIvl, 3), reliable.WithWorkerShutdownGrace(grace))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	evs.await(t, reliable.QueueWorkerJoined, 5*time.Second)

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
	assert.ErrorIs(t, runErr, reliable.ErrWorkerClosed)
	assert.ErrorIs(t, runErr, reliable.ErrHandlerStuck)
	assert.GreaterOrEqual(t, took, grace)
	assert.Less(t, took, grace+2*time.Second)
	close(release)
	<-exited
}
