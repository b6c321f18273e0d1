package mdp_test

import (
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
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// pyIvl is the heartbeat of tests with Python peers: a Python peer
// starting up on a busy 2-core machine can stall for a few hundred
// milliseconds.
const pyIvl = 250 * time.Millisecond

var pyIvlMS = fmt.Sprint(pyIvl.Milliseconds())

// pyWorker starts the zguide's Python worker for service, answering with
// prefix + request and counting executions in count.
func pyWorker(t *testing.T, broker, service, prefix, count string) *testpeer.PyPeer {
	return testpeer.StartPy(t, "mdworker.py", "--connect", broker, "--service", service,
		"--interval-ms", pyIvlMS, "--liveness", "3", "--reconnect-ms", "250", "--prefix", prefix, "--count-file", count)
}

// pyClient runs the zguide's Python client against broker and returns
// its output lines.
func pyClient(t *testing.T, broker string, args ...string) []string {
	t.Helper()
	c := testpeer.StartPy(t, "mdclient.py", append([]string{"--connect", broker, "--timeout-ms", "5000"}, args...)...)
	out, err := c.Wait(t, 60*time.Second)
	require.NoError(t, err, "mdclient %v: %q", args, out)
	return out
}

// okLines counts the lines "OK <n>".
func okLines(out []string) int {
	n := 0
	for _, l := range out {
		if strings.HasPrefix(l, "OK ") {
			n++
		}
	}
	return n
}

// executions reads a count file: how often each request ran.
func executions(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		m[l]++
	}
	return m
}

// checkOurClient sends n requests to each service through broker with our
// Client; the replies are prefix + request.
func checkOurClient(t *testing.T, zctx *zmq.Context, broker string, n int, services map[string]string) {
	t.Helper()
	c := newClient(t, zctx, []string{broker}, mdp.WithAttemptTimeout(5*time.Second))
	ctx := testCtx(t, 30*time.Second)
	for service, prefix := range services {
		for i := range n {
			body := fmt.Sprintf("go-client-%s-%d", service, i)
			got, err := c.Request(ctx, service, []byte(body))
			require.NoError(t, err, service)
			assert.Equal(t, frames(prefix+body), got)
		}
	}
}

// TestInteropOurBroker puts our broker between the zguide's Python worker
// and ours, and the zguide's Python client and ours: every pairing of
// client and worker, through our broker.
func TestInteropOurBroker(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithBrokerHeartbeat(pyIvl, 3))
	count := filepath.Join(t.TempDir(), "count")
	pyWorker(t, b.Endpoint(), "py-echo", "py:", count)
	evs.joined(t, "py-echo")
	startWorker(t, zctx, []string{b.Endpoint()}, "go-echo", named("go"), mdp.WithWorkerHeartbeat(pyIvl, 3))
	evs.joined(t, "go-echo")

	for service, prefix := range map[string]string{"py-echo": "py:", "go-echo": "go:"} {
		out := pyClient(t, b.Endpoint(), "--service", service, "--requests", "5", "--tag", "py-client-", "--expect-prefix", prefix)
		assert.Equal(t, 5, okLines(out), "%s: %q", service, out)
	}
	checkOurClient(t, zctx, b.Endpoint(), 5, map[string]string{"py-echo": "py:", "go-echo": "go:"})

	// mmi.service, asked by the Python client.
	assert.Equal(t, []string{"MMI go-echo 200"}, pyClient(t, b.Endpoint(), "--mmi", "go-echo"))
	assert.Equal(t, []string{"MMI nobody 404"}, pyClient(t, b.Endpoint(), "--mmi", "nobody"))
	// A service nobody serves gets an answer the Python client can read.
	out := pyClient(t, b.Endpoint(), "--service", "nobody", "--requests", "1", "--expect-error", wire.CodeNoService)
	assert.Equal(t, []string{"ERR 1 " + wire.CodeNoService}, out)

	ran := executions(t, count)
	assert.Len(t, ran, 10, "the Python worker ran 5 requests of each client")
	for req, n := range ran {
		assert.Equal(t, 1, n, "request %q ran %d times", req, n)
	}
	st := b.Stats()
	t.Logf("broker stats: %+v", st)
	assert.Zero(t, st.Malformed+st.Stale+st.WorkerLost+st.Unroutable)
	assert.EqualValues(t, 20, st.Replies)
	assert.EqualValues(t, 1, st.NoService)
}

// TestInteropPyBroker puts the zguide's Python broker between the
// Python worker and ours, and the Python client and ours.
func TestInteropPyBroker(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pb := testpeer.StartPy(t, "mdbroker.py", "--interval-ms", pyIvlMS, "--liveness", "3")
	broker := pb.Ready
	count := filepath.Join(t.TempDir(), "count")
	pyWorker(t, broker, "py-echo", "py:", count)
	w := startWorker(t, zctx, []string{broker}, "go-echo", named("go"), mdp.WithWorkerHeartbeat(pyIvl, 3))

	// The Python broker has no events: ask it until both workers are in.
	c := newClient(t, zctx, []string{broker}, mdp.WithAttemptTimeout(5*time.Second))
	ctx := testCtx(t, 60*time.Second)
	for _, service := range []string{"py-echo", "go-echo"} {
		for {
			ok, err := c.ServiceAvailable(ctx, service)
			require.NoError(t, err)
			if ok {
				break
			}
			time.Sleep(20 * time.Millisecond) // the broker offers no event to await
		}
	}
	ok, err := c.ServiceAvailable(ctx, "nobody")
	require.NoError(t, err)
	assert.False(t, ok)

	for service, prefix := range map[string]string{"py-echo": "py:", "go-echo": "go:"} {
		out := pyClient(t, broker, "--service", service, "--requests", "5", "--tag", "py-client-", "--expect-prefix", prefix)
		assert.Equal(t, 5, okLines(out), "%s: %q", service, out)
	}
	checkOurClient(t, zctx, broker, 5, map[string]string{"py-echo": "py:", "go-echo": "go:"})
	servedAll(t, w, 10)
	assert.Zero(t, w.Stats().Disconnects+w.Stats().Reconnects, "the Python broker's heartbeats keep our worker registered")
	ran := executions(t, count)
	assert.Len(t, ran, 10)
	for req, n := range ran {
		assert.Equal(t, 1, n, "request %q ran %d times", req, n)
	}
}

// TestInteropPyBrokerErrors: our worker's error replies reach our client
// through the Python broker as a typed error; the zguide's broker queues a
// request for a service nobody serves forever, so our client gives up.
func TestInteropPyBrokerErrors(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	pb := testpeer.StartPy(t, "mdbroker.py", "--interval-ms", pyIvlMS, "--liveness", "3")
	startWorker(t, zctx, []string{pb.Ready}, "echo", echo, mdp.WithWorkerHeartbeat(pyIvl, 3))
	c := newClient(t, zctx, []string{pb.Ready}, mdp.WithAttemptTimeout(5*time.Second))
	ctx := testCtx(t, 30*time.Second)
	_, err := c.Request(ctx, "echo", []byte("fail"))
	var re *reliable.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.CodeHandler, re.Code)
	assert.Equal(t, "it failed", re.Message)

	short := newClient(t, zctx, []string{pb.Ready}, mdp.WithAttemptTimeout(300*time.Millisecond), mdp.WithMaxAttempts(2))
	_, err = short.Request(ctx, "nobody", []byte("x"))
	assert.ErrorIs(t, err, reliable.ErrNoReply)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
