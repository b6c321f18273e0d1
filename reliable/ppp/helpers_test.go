package ppp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// ppEcho echoes the request; a request "sleep:<duration>" sleeps first
// (until ctx ends), "fail" fails.
func ppEcho(ctx context.Context, req [][]byte) ([][]byte, error) {
	last := string(req[len(req)-1])
	if d, ok := strings.CutPrefix(last, "sleep:"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return nil, err
		}
		t := time.NewTimer(dur)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if last == "fail" {
		return nil, errors.New("it failed")
	}
	return req, nil
}

// runWorkerPeer is the "ppworker" test peer: a Worker connected to
// $ZG_QUEUE with heartbeat $ZG_INTERVAL × $ZG_LIVENESS whose handler
// reports each execution (and appends its last frame to $ZG_COUNT_FILE,
// when set, as the Python peers' --count-file does) and sleeps $ZG_DELAY
// before echoing.
func runWorkerPeer() error {
	ivl, err := time.ParseDuration(os.Getenv("ZG_INTERVAL"))
	if err != nil {
		return err
	}
	var liveness int
	fmt.Sscan(os.Getenv("ZG_LIVENESS"), &liveness)
	delay, _ := time.ParseDuration(os.Getenv("ZG_DELAY"))
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		return err
	}
	var count *os.File
	if path := os.Getenv("ZG_COUNT_FILE"); path != "" {
		if count, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
			return err
		}
	}
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		last := req[len(req)-1]
		testpeer.Executed(string(last))
		if count != nil {
			count.Write(append(append([]byte(nil), last...), '\n')) // one O_APPEND write
		}
		time.Sleep(delay)
		return req, nil
	}
	w, err := ppp.NewWorker(zctx, os.Getenv("ZG_QUEUE"), h, ppp.WithWorkerHeartbeat(ivl, liveness))
	if err != nil {
		return err
	}
	testpeer.Ready(os.Getenv("ZG_QUEUE"))
	return w.Run(context.Background())
}

// startWorkerProc starts a Worker in another process; env adds settings
// (ZG_COUNT_FILE).
func startWorkerProc(t *testing.T, queue string, ivl time.Duration, liveness int, delay time.Duration, env ...string) *testpeer.Proc {
	t.Helper()
	return testpeer.StartCustom(t, "ppworker", append([]string{"ZG_QUEUE=" + queue, "ZG_INTERVAL=" + ivl.String(),
		fmt.Sprintf("ZG_LIVENESS=%d", liveness), "ZG_DELAY=" + delay.String()}, env...)...)
}

// queueEvents collects a queue's events.
type queueEvents chan ppp.QueueEvent

func (ch queueEvents) hook(ev ppp.QueueEvent) {
	select {
	case ch <- ev:
	default:
	}
}

// await waits for an event of kind and returns it.
func (ch queueEvents) await(t *testing.T, kind ppp.QueueEventKind, d time.Duration) ppp.QueueEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event within %v", kind, d)
		}
	}
}

// startQueue runs a Queue on tcp until the test ends.
func startQueue(t *testing.T, zctx *zmq.Context, opts ...ppp.QueueOption) (*ppp.Queue, queueEvents) {
	t.Helper()
	evs := make(queueEvents, 1024)
	opts = append([]ppp.QueueOption{ppp.WithQueueEventHook(evs.hook)}, opts...)
	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- q.Run(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, q.Close())
		require.ErrorIs(t, <-done, ppp.ErrQueueClosed)
	})
	return q, evs
}

// startWorker runs a Worker until the test ends.
func startWorker(t *testing.T, zctx *zmq.Context, endpoint string, h reliable.Handler, opts ...ppp.WorkerOption) *ppp.Worker {
	t.Helper()
	w, err := ppp.NewWorker(zctx, endpoint, h, opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, w.Close())
		require.ErrorIs(t, <-done, ppp.ErrWorkerClosed)
	})
	return w
}

// pyPeer is a Python test peer from testdata/peers.
type pyPeer struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	ready  string
	lines  chan string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// startPyPeer starts testdata/peers/<script> with args and waits for its
// READY line. It ends with the test (stdin EOF, then SIGKILL).
func startPyPeer(t *testing.T, script string, args ...string) *pyPeer {
	t.Helper()
	py := testPython(t)
	path, err := filepath.Abs(filepath.Join("..", "..", "testdata", "peers", script))
	require.NoError(t, err)
	cmd := exec.Command(py, append([]string{path, "--exit-on-stdin-eof"}, args...)...)
	cmd.Dir = t.TempDir() // away from the repository's zmq/ directory
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &pyPeer{cmd: cmd, stdin: stdin, lines: make(chan string, 1024), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
		}
	})
	select {
	case line := <-p.lines:
		r, ok := strings.CutPrefix(line, "READY ")
		require.True(t, ok, "first line %q", line)
		p.ready = r
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s not ready", script)
	}
	return p
}

// kill kills the peer with SIGKILL and waits for it to exit. Its output
// lines stay readable.
func (p *pyPeer) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// wait waits for the peer to exit and returns its output lines.
func (p *pyPeer) wait(t *testing.T, d time.Duration) ([]string, error) {
	t.Helper()
	var out []string
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.exited
				return out, p.err
			}
			out = append(out, l)
		case <-timer.C:
			p.cmd.Process.Kill()
			t.Fatalf("python peer still running after %v; output %q", d, out)
		}
	}
}

// testPython returns the python3 with pyzmq that runs the interop peers:
// $ZMQGUARD_PYTHON, else what scripts/find-python.sh finds, else
// /usr/bin/python3 if it has pyzmq; the test is skipped without one.
func testPython(t *testing.T) string {
	t.Helper()
	if py := os.Getenv("ZMQGUARD_PYTHON"); py != "" {
		return py
	}
	if out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "find-python.sh")).Output(); err == nil {
		return strings.TrimRight(string(out), "\r\n")
	}
	py := "/usr/bin/python3"
	// Run from a directory without a zmq/ folder: from the repository
	// root, "import zmq" would find our Go package's directory.
	cmd := exec.Command(py, "-c", "import zmq")
	cmd.Dir = t.TempDir()
	if err := cmd.Run(); err != nil {
		t.Skipf("no python3 with pyzmq (%v); install python3-zmq", err)
	}
	return py
}

// waitFor polls cond until it holds or d passes (it watches counters that
// have no event to wait on).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// reqClient returns a plain REQ socket connected to endpoint, with a
// zmqguard client's routing id, so that it gets error replies
// (docs/PROTOCOL.md section 6).
func reqClient(t *testing.T, zctx *zmq.Context, endpoint string) *zmq.Socket {
	t.Helper()
	s := zmqtest.Socket(t, zctx, zmq.REQ)
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.SetIdentity(string(wire.ClientRoutingID(rand.Uint64(), 0))))
	require.NoError(t, s.Connect(endpoint))
	return s
}
