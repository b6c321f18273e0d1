package ppp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// pyIvl is the heartbeat interval of tests with Python peers: longer than
// procIvl, because a Python peer starting up on a busy 2-core machine can
// stall for a few hundred milliseconds.
const pyIvl = 250 * time.Millisecond

// ivlMS is pyIvl for the Python peers' --interval-ms.
var ivlMS = fmt.Sprint(pyIvl.Milliseconds())

// checkLPClient runs lpclient.py against frontend and checks that every
// request was answered.
func checkLPClient(t *testing.T, frontend string, n int) {
	t.Helper()
	lp := testpeer.StartPy(t, "lpclient.py", "--connect", frontend, "--requests", fmt.Sprint(n), "--timeout-ms", "5000")
	out, err := lp.Wait(t, 30*time.Second)
	require.NoError(t, err, "lpclient output %q", out)
	var oks int
	for _, l := range out {
		if strings.HasPrefix(l, "OK ") {
			oks++
		}
	}
	assert.Equal(t, n, oks, "lpclient output %q", out)
}

// checkOurClients sends n requests from a Correlated and a Plain client.
func checkOurClients(t *testing.T, zctx *zmq.Context, frontend string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, mode := range []reliable.Mode{reliable.Correlated, reliable.Plain} {
		c, err := reliable.NewClient(zctx, []string{frontend}, reliable.WithMode(mode),
			reliable.WithAttemptTimeout(5*time.Second))
		require.NoError(t, err)
		for i := range n {
			body := fmt.Sprintf("%v-%d", mode, i)
			got, err := c.Request(ctx, []byte(body))
			require.NoError(t, err, "mode %v", mode)
			assert.Equal(t, [][]byte{[]byte(body)}, got)
		}
		require.NoError(t, c.Close())
	}
}

// TestInteropOurWorkerPyQueue puts our worker behind zguide's Python
// Paranoid Pirate queue, with zguide's Lazy Pirate client and ours.
func TestInteropOurWorkerPyQueue(t *testing.T) {
	pq := testpeer.StartPy(t, "ppqueue.py", "--interval-ms", ivlMS, "--liveness", "3")
	eps := strings.Fields(pq.Ready)
	require.Len(t, eps, 2, "ppqueue READY line %q", pq.Ready)
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	w := startWorker(t, zctx, eps[1], ppEcho, ppp.WithWorkerHeartbeat(pyIvl, 3))

	checkLPClient(t, eps[0], 5)
	checkOurClients(t, zctx, eps[0], 5)
	// The worker counts a request once its reply is sent, which the
	// client may see first.
	waitFor(t, 5*time.Second, "15 requests served", func() bool { return w.Stats().Served == 15 })
	assert.Zero(t, w.Stats().Reconnects, "the Python queue's heartbeats keep our worker connected")
}

// TestInteropPyWorkersOurQueue puts our queue in front of two of
// zguide's Python Paranoid Pirate workers, with zguide's Lazy Pirate
// client and ours; the workers' count file shows every request ran once.
func TestInteropPyWorkersOurQueue(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	q, evs := startQueue(t, zctx, ppp.WithQueueHeartbeat(pyIvl, 3))
	count := filepath.Join(t.TempDir(), "count")
	for range 2 {
		testpeer.StartPy(t, "ppworker.py", "--connect", q.Backend(), "--interval-ms", ivlMS, "--liveness", "3",
			"--count-file", count)
		evs.await(t, ppp.QueueWorkerJoined, 10*time.Second)
	}

	checkLPClient(t, q.Frontend(), 5)
	checkOurClients(t, zctx, q.Frontend(), 5)
	data, err := os.ReadFile(count)
	require.NoError(t, err)
	lines := strings.Fields(string(data))
	assert.Len(t, lines, 15)
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
	}
	for l, n := range seen {
		if !strings.Contains(l, "-") { // lpclient's "1".."5" are checked by lpclient
			continue
		}
		assert.Equal(t, 1, n, "request %q ran %d times", l, n)
	}
	st := q.Stats()
	assert.Zero(t, st.Malformed+st.Stale+st.WorkerLost)
	t.Logf("queue stats: %+v", st)
}

// TestCorrelatedThroughZguideQueueAndWorker is what a correlated client
// gets from zguide's queue with zguide's worker: zguide's queue passes the
// client's envelope on as it is, so the ID frame makes the request four
// frames, which zguide's worker refuses ("invalid message") without
// replying. The client cannot tell this from a dead peer: every attempt
// times out and the request gives up with a *NoReplyError. docs/PPP.md
// says so and says to use Plain mode there, which works.
func TestCorrelatedThroughZguideQueueAndWorker(t *testing.T) {
	// Liveness 5: a Python worker starved by a loaded machine must not
	// reconnect (under a new identity) in the middle of the test.
	pq := testpeer.StartPy(t, "ppqueue.py", "--interval-ms", ivlMS, "--liveness", "5")
	eps := strings.Fields(pq.Ready)
	require.Len(t, eps, 2, "ppqueue READY line %q", pq.Ready)
	zw := testpeer.StartPy(t, "ppworker.py", "--connect", eps[1], "--interval-ms", ivlMS, "--liveness", "5")
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := reliable.NewClient(zctx, []string{eps[0]}, reliable.WithAttemptTimeout(pyIvl*5/2), reliable.WithMaxAttempts(3))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Request(ctx, []byte("1"))
	var nr *reliable.NoReplyError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, 3, nr.Attempts, "every attempt reached the worker")
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "and timed out")
	select {
	case l := <-zw.Lines:
		assert.Equal(t, "INVALID 4", l, "zguide's worker refuses [client, ID frame, \"\", body]")
	case <-ctx.Done():
		t.Fatal("the worker did not report the invalid request")
	}

	p, err := reliable.NewClient(zctx, []string{eps[0]}, reliable.WithMode(reliable.Plain), reliable.WithAttemptTimeout(pyIvl*5/2))
	require.NoError(t, err)
	defer p.Close()
	got, err := p.Request(ctx, []byte("2"))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("2")}, got)
}

// TestZguideClientGetsNoErrorReply runs zguide's strict Lazy Pirate client
// against our worker, behind our queue and behind zguide's, with a
// handler that fails the first try of request 3 and panics on the first
// try of request 5. An error reply [ZGERR, code, message] would crash the
// client (int(b'ZGERR')); it gets none, times out, resends, and the second
// try is answered.
func TestZguideClientGetsNoErrorReply(t *testing.T) {
	for _, queue := range []string{"ours", "zguide"} {
		t.Run(queue+"Queue", func(t *testing.T) {
			zctx := zmqtest.Context(t, zmq.WithLinger(0))
			flaky := &testpeer.FirstTries{Fail: "3", Panic: "5"}
			h := flaky.Handle
			var frontend string
			var q *ppp.Queue
			if queue == "ours" {
				var evs queueEvents
				q, evs = startQueue(t, zctx, ppp.WithQueueHeartbeat(pyIvl, 3))
				frontend = q.Frontend()
				startWorker(t, zctx, q.Backend(), h, ppp.WithWorkerHeartbeat(pyIvl, 3))
				evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)
			} else {
				pq := testpeer.StartPy(t, "ppqueue.py", "--interval-ms", ivlMS, "--liveness", "3")
				eps := strings.Fields(pq.Ready)
				require.Len(t, eps, 2, "ppqueue READY line %q", pq.Ready)
				frontend = eps[0]
				w := startWorker(t, zctx, eps[1], h, ppp.WithWorkerHeartbeat(pyIvl, 3))
				defer func() { assert.EqualValues(t, 2, w.Stats().Withheld) }()
			}
			lp := testpeer.StartPy(t, "lpclient.py", "--connect", frontend, "--requests", "6", "--timeout-ms", fmt.Sprint((pyIvl * 5 / 2).Milliseconds()))
			out, err := lp.Wait(t, 30*time.Second)
			require.NoError(t, err, "lpclient crashed or gave up: %q", out)
			assert.Equal(t, []string{"OK 1", "OK 2", "OK 3", "OK 4", "OK 5", "OK 6"}, out)
			assert.Equal(t, 2, flaky.Runs("3"))
			assert.Equal(t, 2, flaky.Runs("5"))
			if q != nil {
				assert.EqualValues(t, 2, q.Stats().Withheld, "the worker's error replies, withheld by the queue")
			}
		})
	}
}
