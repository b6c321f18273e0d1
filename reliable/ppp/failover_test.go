package ppp_test

import (
	"context"
	"math/rand/v2"
	"slices"
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

// procIvl is the heartbeat interval of tests with worker processes.
const procIvl = 100 * time.Millisecond

// failIvl is the heartbeat interval of the failover tests, which count
// executions exactly: long enough that a worker process starved by other
// load on a 2-core machine is not expired by mistake.
const failIvl = 200 * time.Millisecond

// TestQueueFailoverWorkerKilled SIGKILLs the worker that holds a
// request: the queue notices its silence, gives the request to another
// worker, and the client gets the answer within its single attempt.
func TestQueueFailoverWorkerKilled(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(failIvl, 3))
	a := startWorkerProc(t, q.Backend(), failIvl, 3, time.Hour) // never finishes
	evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)

	c, err := reliable.NewClient(zctx, []string{q.Frontend()},
		reliable.WithAttemptTimeout(10*time.Second), reliable.WithMaxAttempts(1))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		body [][]byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		body, err := c.Request(ctx, []byte("r1"))
		res <- result{body, err}
	}()
	got, err := a.AwaitExec(ctx)
	require.NoError(t, err)
	require.Equal(t, "r1", got)

	b := startWorkerProc(t, q.Backend(), failIvl, 3, 0)
	evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
	killed := time.Now()
	a.Kill()
	r := <-res
	took := time.Since(killed)
	require.NoError(t, r.err)
	assert.Equal(t, [][]byte{[]byte("r1")}, r.body)
	t.Logf("failover: answered by the second worker %v after SIGKILL (interval %v, liveness 3)", took, failIvl)
	assert.Less(t, took, 4*failIvl+2*time.Second)
	assert.Equal(t, 1, a.Executions("r1"))
	assert.Equal(t, 1, b.WaitExecutions("r1", 1, time.Second))
	st := q.Stats()
	t.Logf("queue stats: %+v", st)
	assert.EqualValues(t, 1, st.Retried)
	assert.EqualValues(t, 1, st.Expired)
	assert.Zero(t, st.WorkerLost)
}

// TestQueueFailsBackWhenOutOfRetries: with no retries, a request whose
// worker dies is answered with CodeWorkerLost, typed for a protocol-aware
// client and in the plain form for a REQ client.
func TestQueueFailsBackWhenOutOfRetries(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(failIvl, 3), ppp.WithQueueRetries(0))
	a := startWorkerProc(t, q.Backend(), failIvl, 3, time.Hour)
	b := startWorkerProc(t, q.Backend(), failIvl, 3, time.Hour)
	evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
	evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := reliable.NewClient(zctx, []string{q.Frontend()},
		reliable.WithAttemptTimeout(10*time.Second), reliable.WithMaxAttempts(1))
	require.NoError(t, err)
	defer c.Close()
	cerr := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, []byte("typed"))
		cerr <- err
	}()
	req := reqClient(t, zctx, q.Frontend())
	_, err = req.SendMessage("plain")
	require.NoError(t, err)

	var execs []string
	for _, p := range []interface {
		AwaitExec(context.Context) (string, error)
	}{a, b} {
		got, err := p.AwaitExec(ctx)
		require.NoError(t, err)
		execs = append(execs, got)
	}
	slices.Sort(execs)
	require.Equal(t, []string{"plain", "typed"}, execs)
	a.Kill()
	b.Kill()

	var re *reliable.RemoteError
	require.ErrorAs(t, <-cerr, &re)
	assert.Equal(t, wire.CodeWorkerLost, re.Code)
	got, err := timeout.RecvMessage(ctx, req)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, []string{wire.PlainErrorMarker, wire.CodeWorkerLost}, got[:2])
	assert.EqualValues(t, 2, q.Stats().WorkerLost)
}

// TestDetectionLatency measures how long the queue takes to forget a
// worker that dies, one worker process at a time (starting a process loads
// both cores, which must not disturb the measurement of another):
//
//   - SIGKILL: the kernel closes the worker's connection; the queue's
//     disconnect probe (or, failing that, its next heartbeat to the
//     worker) is refused, and the worker is forgotten in milliseconds;
//   - SIGSTOP: a frozen process keeps its connection; only its silence
//     tells, and the tracker reports it Dead within interval×liveness +
//     interval.
func TestDetectionLatency(t *testing.T) {
	const runs, liveness = 10, 3
	bound := liveness*procIvl + procIvl
	for _, how := range []string{"SIGKILL", "SIGSTOP"} {
		t.Run(how, func(t *testing.T) {
			zctx := zmqtest.Context(t, zmq.WithLinger(0))
			tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: procIvl, Liveness: liveness}))
			require.NoError(t, err)
			defer tr.Close()
			dead := make(chan heartbeat.Event, runs*2)
			tr.OnChange(func(ev heartbeat.Event) {
				if ev.To == heartbeat.Dead {
					dead <- ev
				}
			})
			q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(procIvl, liveness), ppp.WithQueueTracker(tr))
			lat := make([]time.Duration, 0, runs)
			seen := map[string]bool{}
			for range runs {
				p := startWorkerProc(t, q.Backend(), procIvl, liveness, 0)
				// A frozen worker thawed to be killed (testpeer's Kill
				// sends SIGCONT first) may speak once more, and join again
				// for a moment: wait for the new one.
				joined := evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
				for seen[joined.Worker] {
					joined = evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
				}
				seen[joined.Worker] = true
				if len(dead) > 0 {
					if ev := <-dead; ev.Peer == joined.Worker {
						t.Fatalf("a live worker was declared dead: %v", ev)
					}
				}
				require.Equal(t, heartbeat.Alive, tr.State(joined.Worker))
				// Kill at a random phase of the heartbeat cycle, once
				// heartbeats flow (a workload delay, not synchronisation).
				time.Sleep(procIvl + rand.N(procIvl))
				killed := time.Now()
				if how == "SIGKILL" {
					p.Kill()
				} else {
					p.Stop()
				}
				gone := evs.await(t, ppp.QueueWorkerExpired, 5*bound)
				for gone.Worker != joined.Worker { // a thawed one, going again
					gone = evs.await(t, ppp.QueueWorkerExpired, 5*bound)
				}
				lat = append(lat, gone.At.Sub(killed))
				if how == "SIGSTOP" {
					ev := <-dead // what made the queue forget it
					require.Equal(t, joined.Worker, ev.Peer)
				}
				p.Kill()
			}
			slices.Sort(lat)
			// The last worker was thawed to be killed and may have joined
			// again for a moment: it goes when its connection ends.
			waitFor(t, 5*bound, "the queue to forget every worker", func() bool { return q.Stats().Workers == 0 })
			st := q.Stats()
			t.Logf("%s: the queue forgot the worker, over %d runs (interval %v, liveness %d, bound %v): min %v median %v max %v; %d found by a refused heartbeat",
				how, runs, procIvl, liveness, bound, lat[0], lat[runs/2], lat[runs-1], st.Disconnected)
			if how == "SIGKILL" {
				assert.EqualValues(t, runs, st.Expired)
				// A refused heartbeat finds the dead worker in milliseconds.
				// (On a machine loaded by other processes a worker can be
				// starved silent for most of the tracker's limit before it
				// is killed, and the tracker wins: not the common case.)
				assert.GreaterOrEqual(t, st.Disconnected, uint64(runs/2), "connection ends noticed before the silence")
				assert.Less(t, lat[runs/2], procIvl, "median")
				assert.LessOrEqual(t, lat[runs-1], bound, "max")
				return
			}
			// (Disconnected counts only thawed workers that spoke again.)
			assert.GreaterOrEqual(t, st.Expired, uint64(runs))
			// The bound holds on an idle machine (the tracker times each
			// peer exactly, so Dead comes at most Interval×Liveness after
			// the last heartbeat). On a machine overloaded by other
			// processes the tracker's timer goroutine itself can run late:
			// the median must hold, and no run may be late by more than
			// another bound.
			assert.LessOrEqual(t, lat[runs/2], bound, "median")
			assert.LessOrEqual(t, lat[runs-1], 2*bound, "max")
		})
	}
}
