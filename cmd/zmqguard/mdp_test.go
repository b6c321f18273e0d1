package main_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
)

// broker starts `zmqguard broker` with args and returns its endpoint.
func broker(t *testing.T, args ...string) (endpoint string, stop func() string) {
	t.Helper()
	first, stop := daemon(t, append([]string{"broker", "--heartbeat", "100ms", "--service-wait", "200ms"}, args...)...)
	i := strings.LastIndex(first, " on ")
	require.GreaterOrEqual(t, i, 0, "first line %q", first)
	return strings.TrimSpace(first[i+len(" on "):]), stop
}

// mdpWorker starts `zmqguard worker --service` with args.
func mdpWorker(t *testing.T, args ...string) func() string {
	t.Helper()
	first, stop := daemon(t, append([]string{"worker", "--heartbeat", "100ms"}, args...)...)
	require.True(t, strings.HasPrefix(first, "worker for "), "first line %q", first)
	return stop
}

// freeEndpoint returns a tcp endpoint whose port was free a moment ago.
func freeEndpoint(t *testing.T) string { return zmqtest.FreeTCP(t, 1)[0] }

// reqUntil runs `zmqguard req` with args until it exits 0 (a worker may
// still be registering), and returns that result.
func reqUntil(t *testing.T, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := zg(t, append([]string{"req"}, args...)...)
		if r.code == 0 || time.Now().After(deadline) {
			return r
		}
	}
}

func TestMajordomo(t *testing.T) {
	ep, stopBroker := broker(t, "--verbose", "tcp://127.0.0.1:*")
	stopWorker := mdpWorker(t, "--service", "echo", ep)
	r := reqUntil(t, "--service", "echo", ep, "hello", "world")
	require.Equal(t, 0, r.code)
	assert.Equal(t, "hello\nworld\n", r.stdout)

	r = zg(t, "req", "--service", "mmi.service", ep, "echo")
	assert.Equal(t, "200\n", r.stdout)
	r = zg(t, "req", "--service", "mmi.service", ep, "nobody")
	assert.Equal(t, "404\n", r.stdout)

	r = zg(t, "req", "--json", "--service", "nobody", "--timeout", "5s", ep, "x")
	assert.Equal(t, 3, r.code)
	var res struct{ Error, Code, Message string }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Equal(t, "remote", res.Error)
	assert.Equal(t, "no-service", res.Code)

	assert.Contains(t, stopWorker(), "stopped: 1 served")
	out := stopBroker()
	assert.Contains(t, out, `worker-joined: worker`)
	assert.Contains(t, out, `request-failed: service "nobody" no-service`)
	assert.Contains(t, out, "stopped: 4 requests, 1 replies")
}

func TestMajordomoExecWorker(t *testing.T) {
	ep, _ := broker(t, "tcp://127.0.0.1:*")
	mdpWorker(t, "--service", "upper", "--exec", "tr a-z A-Z", ep)
	r := reqUntil(t, "--service", "upper", ep, "shout")
	assert.Equal(t, "SHOUT\n", r.stdout)
}

// TestMajordomoBinaryStar: a pair of brokers, a worker registered with
// both; the backup refuses (passive), so a request sent to it alone ends
// with that refusal, and with both endpoints it is answered by the
// primary.
func TestMajordomoBinaryStar(t *testing.T) {
	states := []string{freeEndpoint(t), freeEndpoint(t)}
	primary, _ := broker(t, "--state", states[0], "--peer", states[1], "--pair-heartbeat", "100ms", "--verbose",
		freeEndpoint(t))
	backup, stopBackup := broker(t, "--backup", "--state", states[1], "--peer", states[0], "--pair-heartbeat", "100ms",
		"--verbose", freeEndpoint(t))
	mdpWorker(t, "--service", "echo", primary, backup)
	r := reqUntil(t, "--service", "echo", "--timeout", "1s", backup, "--endpoint", primary, "hi")
	require.Equal(t, 0, r.code)
	assert.Equal(t, "hi\n", r.stdout)
	r = zg(t, "req", "--service", "echo", "--retries", "0", backup, "hi")
	assert.Equal(t, 3, r.code, "the passive server's refusal is the last answer")
	assert.Contains(t, r.stderr, "error reply: passive")
	out := stopBackup()
	assert.Contains(t, out, "pair: backup -> passive on peer-active")
	assert.Contains(t, out, "refused")
}

func TestMajordomoUsage(t *testing.T) {
	for _, args := range [][]string{
		{"broker"},
		{"broker", "a", "b"},
		{"broker", "--peer", "tcp://127.0.0.1:1", "tcp://127.0.0.1:2"},
		{"broker", "--backup", "tcp://127.0.0.1:2"},
		{"broker", "--heartbeat", "0s", "tcp://127.0.0.1:*"},
		{"broker", "inproc://x"},
		{"req", "--service", "", "tcp://127.0.0.1:1", "x"},
		{"req", "--service", "echo", "tcp://127.0.0.1:1"},
		{"req", "--service", "echo", "--timeout", "0s", "tcp://127.0.0.1:1", "x"},
		{"worker"},
		{"worker", "--service", "echo"},
		{"worker", "--service", "mmi.x", "tcp://127.0.0.1:1"},
	} {
		r := zg(t, args...)
		assert.Equal(t, 64, r.code, "%q", args)
		assert.NotEmpty(t, r.stderr, "%q", args)
	}
	for _, c := range [][]string{{"broker"}, {"worker", "--service", "x"}, {"req", "--service", "x"}} {
		r := zg(t, append(c, "--help")...)
		assert.Equal(t, 0, r.code)
		assert.Contains(t, r.stdout, "Usage: zmqguard "+c[0])
		assert.Contains(t, r.stdout, "-service")
	}
	r := zg(t, "--help")
	assert.Contains(t, r.stdout, "zmqguard broker")
}
