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
	lp := startPyPeer(t, "lpclient.py", "--connect", frontend, "--requests", fmt.Sprint(n), "--timeout-ms", "5000")
	out, err := lp.wait(t, 30*time.Second)
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
	pq := startPyPeer(t, "ppqueue.py", "--interval-ms", ivlMS, "--liveness", "3")
	eps := strings.Fields(pq.ready)
	require.Len(t, eps, 2, "ppqueue READY line %q", pq.ready)
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	w := startWorker(t, zctx, eps[1], ppEcho, ppp.WithWorkerHeartbeat(pyIvl, 3))

	checkLPClient(t, eps[0], 5)
	checkOurClients(t, zctx, eps[0], 5)
	assert.EqualValues(t, 15, w.Stats().Served)
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
		startPyPeer(t, "ppworker.py", "--connect", q.Backend(), "--interval-ms", ivlMS, "--liveness", "3",
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
