package main_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
)

// queue starts `zmqguard queue` with args on free ports and returns it with
// its frontend and backend.
func queue(t *testing.T, args ...string) (p *proc, frontend, backend string) {
	t.Helper()
	p = start(t, append(append([]string{"queue"}, args...), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")...)
	m := regexp.MustCompile(`^queue( \(.*\))?: frontend (\S+) backend (\S+)\n$`).FindStringSubmatch(p.first)
	require.NotNil(t, m, "first line %q", p.first)
	return p, m[2], m[3]
}

// TestQueueBinaryStar: a pair of queues and a worker of both (one process,
// a connection to each); the backup refuses (passive) and the client moves
// to the primary; when the primary stops, the client's next request makes
// the backup active and is answered there.
func TestQueueBinaryStar(t *testing.T) {
	states := []string{freeEndpoint(t), freeEndpoint(t)}
	primary, pfe, pbe := queue(t, "--interval", "100ms", "--state", states[0], "--peer", states[1], "--pair-heartbeat", "100ms")
	assert.Contains(t, primary.first, "queue (Binary Star primary, state on "+states[0])
	backup, bfe, bbe := queue(t, "--interval", "100ms", "--backup", "--state", states[1], "--peer", states[0],
		"--pair-heartbeat", "100ms", "--verbose")
	w := start(t, "worker", "--interval", "100ms", "--verbose", pbe, bbe)
	waitForLine(t, w.rest, "connected: "+pbe)
	waitForLine(t, w.rest, "connected: "+bbe)
	waitForLine(t, backup.rest, "pair: backup -> passive on peer-active")

	r := zg(t, "req", "--timeout", "2s", bfe, "--endpoint", pfe, "one")
	require.Equal(t, 0, r.code, "stderr %s", r.stderr)
	assert.Equal(t, "one\n", r.stdout)
	r = zg(t, "req", "--timeout", "2s", "--retries", "0", bfe, "refused")
	assert.Equal(t, 3, r.code, "the passive queue's refusal is the last answer")
	assert.Contains(t, r.stderr, "passive")

	primary.stop(t)
	r = zg(t, "req", "--timeout", "2s", bfe, "--endpoint", pfe, "two")
	require.Equal(t, 0, r.code, "stderr %s", r.stderr)
	assert.Equal(t, "two\n", r.stdout)
	assert.Contains(t, w.stop(t), "stopped: 2 requests served")
	out := backup.stop(t)
	assert.Contains(t, out, "pair: passive -> active on client-request")
	// Refusals: one for each request that tried the backup first, and
	// those of the failover before the backup saw the primary silent.
	assert.Regexp(t, `stopped: \d+ requests, 1 replies, .* [2-9] refused as passive`, out)
}

// TestQueueAndWorker runs the queue and two workers as processes and sends
// requests through them with zmqguard req in both modes; then a worker
// that holds a request is SIGKILLed, and the queue gives the request to
// the other one before the client's timeout.
func TestQueueAndWorker(t *testing.T) {
	q, frontend, backend := queue(t, "--interval", "100ms", "--verbose")
	marker := filepath.Join(t.TempDir(), "taken")
	slow := start(t, "worker", "--interval", "100ms", "--exec", "touch "+marker+"; sleep 30; cat", backend)
	assert.Equal(t, "worker: connecting to "+backend+"\n", slow.first)

	res := make(chan result, 1)
	go func() { res <- zgQuiet("req", "--timeout", "10s", "--retries", "0", frontend, "rescued") }()
	waitForFile(t, marker)
	fast := start(t, "worker", "--interval", "100ms", "--verbose", backend)
	waitForLine(t, fast.rest, "connected: "+backend)
	slow.kill()
	r := <-res
	assert.Equal(t, 0, r.code, "stderr %s", r.stderr)
	assert.Equal(t, "rescued\n", r.stdout)

	for _, args := range [][]string{{"req", frontend, "hello"}, {"req", "--plain", frontend, "hello"}} {
		r := zg(t, args...)
		assert.Equal(t, 0, r.code)
		assert.Equal(t, "hello\n", r.stdout)
	}
	assert.Contains(t, fast.stop(t), "stopped: 3 requests served")
	out := q.stop(t)
	assert.Contains(t, out, "worker-expired: worker")
	assert.Contains(t, out, "request-retried: worker")
	assert.Regexp(t, `stopped: 3 requests, 3 replies, 1 retried`, out)
}

// TestQueueJSON: the queue's --json output is one object per line.
func TestQueueJSON(t *testing.T) {
	p := start(t, "queue", "--json", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
	var ev struct{ Event, Frontend, Backend string }
	require.NoError(t, json.Unmarshal([]byte(p.first), &ev))
	assert.Equal(t, "listening", ev.Event)
	assert.True(t, strings.HasPrefix(ev.Frontend, "tcp://127.0.0.1:"), ev.Frontend)
	assert.True(t, strings.HasPrefix(ev.Backend, "tcp://127.0.0.1:"), ev.Backend)
	var st struct {
		Event string
		Stats struct{ Requests, Workers int }
	}
	require.NoError(t, json.Unmarshal([]byte(p.stop(t)), &st))
	assert.Equal(t, "stopped", st.Event)
}

// TestQueueWorkerWithZguidePeers: zmqguard queue serves zguide's strict
// worker (exactly [address, "", body]) and zguide's strict Lazy Pirate
// client; zmqguard worker serves behind zguide's queue.
func TestQueueWorkerWithZguidePeers(t *testing.T) {
	lpclient := func(t *testing.T, frontend string) {
		t.Helper()
		lp := testpeer.StartPy(t, "lpclient.py", "--connect", frontend, "--requests", "5", "--timeout-ms", "2500")
		out, err := lp.Wait(t, 30*time.Second)
		require.NoError(t, err, "lpclient: %q", out)
		assert.Equal(t, []string{"OK 1", "OK 2", "OK 3", "OK 4", "OK 5"}, out)
	}
	t.Run("ourQueue", func(t *testing.T) {
		q, frontend, backend := queue(t, "--interval", "250ms")
		testpeer.StartPy(t, "ppworker.py", "--connect", backend, "--interval-ms", "250")
		lpclient(t, frontend)
		r := zg(t, "req", frontend, "correlated")
		assert.Equal(t, "correlated\n", r.stdout)
		assert.Contains(t, q.stop(t), "stopped: 6 requests, 6 replies")
	})
	t.Run("zguideQueue", func(t *testing.T) {
		pq := testpeer.StartPy(t, "ppqueue.py", "--interval-ms", "250")
		eps := strings.Fields(pq.Ready)
		require.Len(t, eps, 2, pq.Ready)
		w := start(t, "worker", "--interval", "250ms", "--verbose", eps[1])
		waitForLine(t, w.rest, "connected: "+eps[1])
		lpclient(t, eps[0])
		assert.Contains(t, w.stop(t), "stopped: 5 requests served")
	})
}
