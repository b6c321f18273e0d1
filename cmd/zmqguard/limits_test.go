package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/hostile"
	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// hostileServer runs a ROUTER in the test process that answers every
// request with body (hostile.Answer), whatever the request said.
func hostileServer(t *testing.T, body [][]byte) string {
	t.Helper()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	s, err := zctx.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	require.NoError(t, s.Bind("tcp://127.0.0.1:*"))
	ep, err := s.GetLastEndpoint()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hostile.Answer(ctx, s, func([][]byte) [][]byte { return body })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		require.NoError(t, zctx.Term())
	})
	return ep
}

// TestReqNeverSucceedsWithoutReply: a server that answers [ID, ""] (no
// body frame) made `zmqguard req --json` print neither reply nor error and
// exit 0. It now fails, says so, and exits with "no reply".
func TestReqNeverSucceedsWithoutReply(t *testing.T) {
	ep := hostileServer(t, nil)
	r := zg(t, "req", "--json", "--timeout", "500ms", "--retries", "1", ep, "hello")
	assert.Equal(t, 2, r.code)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.NotContains(t, res, "reply")
	assert.Equal(t, "no_reply", res["error"])
	assert.Contains(t, res["message"], "reply has no body frame")

	r = zg(t, "req", "--timeout", "500ms", "--retries", "0", ep, "hello")
	assert.Equal(t, 2, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "malformed")
}

// TestReqBoundsReplies: `zmqguard req` accepted 16 MiB and 256 MiB
// replies; it now refuses replies over --max-reply-size (default 4 MiB),
// and takes them when told to.
func TestReqBoundsReplies(t *testing.T) {
	var body [][]byte
	for range 5 {
		body = append(body, bytes.Repeat([]byte("a"), 1<<20))
	}
	ep := hostileServer(t, body)
	r := zg(t, "req", "--retries", "0", ep, "hello")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "reply too large: 5242880 bytes in 5 frames, limit 4194304 bytes")
	assert.Empty(t, r.stdout)

	r = zg(t, "req", "--max-reply-size", fmt.Sprint(8<<20), ep, "hello")
	assert.Equal(t, 0, r.code)
	assert.Equal(t, 5*(1<<20+1), len(r.stdout), "five frames of 1 MiB, one per line")

	r = zg(t, "req", "--max-reply-size", "0", ep, "hello")
	assert.Equal(t, 64, r.code)
}

// TestReqRefusesOversizedRequest: a request over --max-request-size is
// not sent.
func TestReqRefusesOversizedRequest(t *testing.T) {
	ep := hostileServer(t, [][]byte{[]byte("unused")})
	r := zg(t, "req", "--max-request-size", "4", ep, "hello")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "request too large: 5 bytes in 1 frames, limit 4 bytes")
}

// TestServeStatesBudget: serve prints its memory budget at start (in
// --json, in the "listening" event), and --memory-budget fits the limits
// to a figure, or refuses to start when the flags given exceed it.
func TestServeStatesBudget(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--json", "--memory-budget", "128MiB", "tcp://127.0.0.1:*")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, testpeer.StartTied(t, cmd, nil)) // the deferred Wait runs before cleanup
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	var ev struct {
		Event  string
		Budget reliable.MemoryBudget
	}
	require.NoError(t, json.Unmarshal([]byte(line), &ev))
	assert.Equal(t, "listening", ev.Event)
	assert.Positive(t, ev.Budget.Total)
	assert.LessOrEqual(t, ev.Budget.Total, int64(128<<20))
	assert.True(t, ev.Budget.Enforced)

	ep, stop := serve(t)
	assert.NotEmpty(t, ep)
	r := zg(t, "req", ep, "x")
	require.Equal(t, 0, r.code)
	assert.Contains(t, stop(), "memory budget ")

	r = zg(t, "serve", "--memory-budget", "64MiB", "--max-connections", "4000", "tcp://127.0.0.1:*")
	assert.Equal(t, 64, r.code)
	assert.Contains(t, r.stderr, "WithMemoryBudget")
	r = zg(t, "serve", "--memory-budget", "lots", "tcp://127.0.0.1:*")
	assert.Equal(t, 64, r.code)
}
