package ppp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// stuckWorker runs a worker whose handler holds every request until
// release is closed (it keeps heartbeating meanwhile, as a worker whose
// handler hangs does); entered gets each request it takes.
func stuckWorker(t *testing.T, zctx *zmq.Context, backend string) (entered chan string, release chan struct{}, w *ppp.Worker) {
	entered, release = make(chan string, 16), make(chan struct{})
	w = startWorker(t, zctx, backend, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		entered <- string(req[0])
		select {
		case <-release:
		case <-ctx.Done():
		}
		return req, nil
	}, ppp.WithWorkerHeartbeat(ppIvl, 3))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return entered, release, w
}

// TestQueueRequestTimeoutRetries: a worker that heartbeats but never
// answers holds a request past the request timeout. The queue gives the
// request to another worker, takes the stuck one out of rotation while it
// keeps heartbeating, and lets it back in when it finally replies (that
// reply dropped as stale).
func TestQueueRequestTimeoutRetries(t *testing.T) {
	const limit = 400 * time.Millisecond
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3), ppp.WithQueueRequestTimeout(limit))
	entered, release, _ := stuckWorker(t, zctx, q.Backend())
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := patientClient(t, zctx, q)
	type result struct {
		body [][]byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		body, err := c.Request(ctx, []byte("held"))
		res <- result{body, err}
	}()
	select {
	case got := <-entered:
		require.Equal(t, "held", got)
	case <-ctx.Done():
		t.Fatal("the stuck worker did not get the request")
	}
	dispatched := time.Now()
	var served atomic.Int64
	startWorker(t, zctx, q.Backend(), func(ctx context.Context, req [][]byte) ([][]byte, error) {
		served.Add(1)
		return req, nil
	}, ppp.WithWorkerHeartbeat(ppIvl, 3))
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	stuck := evs.await(t, ppp.QueueWorkerStuck, 5*time.Second)
	r := <-res
	took := time.Since(dispatched)
	require.NoError(t, r.err)
	assert.Equal(t, [][]byte{[]byte("held")}, r.body)
	t.Logf("a request held by a worker that never answers: retried and answered %v after it was dispatched (request timeout %v)", took, limit)
	assert.GreaterOrEqual(t, stuck.At.Sub(dispatched), limit-50*time.Millisecond)
	assert.Less(t, took, limit+2*time.Second)
	st := q.Stats()
	assert.EqualValues(t, 1, st.Overdue)
	assert.EqualValues(t, 1, st.Retried)
	assert.Equal(t, 1, st.Stuck)
	assert.Zero(t, st.Expired, "the stuck worker heartbeats: it is alive")

	// Out of rotation: every request goes to the other worker, for many
	// heartbeats of the stuck one.
	for i := range 10 {
		_, err := c.Request(ctx, []byte("next"))
		require.NoError(t, err, "request %d", i)
	}
	assert.EqualValues(t, 11, served.Load())
	assert.Empty(t, entered, "the stuck worker got nothing more")

	// Its late reply is dropped as stale, and it is back in rotation.
	close(release)
	waitFor(t, 5*time.Second, "the late reply counted as stale", func() bool { return q.Stats().Stale == 1 })
	assert.Zero(t, q.Stats().Stuck)
	assert.Equal(t, 2, q.Stats().Idle)
}

// TestQueueRequestTimeoutFailsBack: out of retries, a request held past
// the request timeout is failed back with wire.CodeTimeout: a
// *RemoteError for a correlated client, [ZGERR, timeout, ...] for a plain
// zmqguard client.
func TestQueueRequestTimeoutFailsBack(t *testing.T) {
	const limit = 300 * time.Millisecond
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(ppIvl, 3), ppp.WithQueueRequestTimeout(limit), ppp.WithQueueRetries(0))
	stuckWorker(t, zctx, q.Backend())
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)
	stuckWorker(t, zctx, q.Backend())
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := patientClient(t, zctx, q)
	start := time.Now()
	_, err := c.Request(ctx, []byte("held"))
	var re *reliable.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.CodeTimeout, re.Code)
	assert.Equal(t, "no reply from a worker within 300ms", re.Message)
	assert.GreaterOrEqual(t, time.Since(start), limit-50*time.Millisecond)

	p := patientClient(t, zctx, q, reliable.WithMode(reliable.Plain))
	_, err = p.Request(ctx, []byte("held too"))
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.CodeTimeout, re.Code)

	st := q.Stats()
	assert.EqualValues(t, 2, st.Overdue)
	assert.EqualValues(t, 2, st.TimedOut)
	assert.Zero(t, st.Retried+st.WorkerLost)
	assert.Equal(t, 2, st.Stuck)
	assert.Zero(t, st.Idle, "both workers are out of rotation")
}
