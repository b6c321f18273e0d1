package ppp_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/testpeer"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
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

// handWorker is a worker driven by the test: a DEALER that said READY to
// the queue. It heartbeats only when the test sends one: give the queue a
// slow heartbeat (mergeIvl) unless the test wants it expired.
type handWorker struct {
	t    *testing.T
	sock *zmq.Socket
}

const mergeIvl = 2 * time.Second

func newHandWorker(t *testing.T, zctx *zmq.Context, q *ppp.Queue, evs queueEvents) *handWorker {
	t.Helper()
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.Connect(q.Backend()))
	_, err := s.SendMessage(ppp.ReadyMessage())
	require.NoError(t, err)
	evs.await(t, ppp.QueueWorkerJoined, 5*time.Second)
	return &handWorker{t: t, sock: s}
}

// next returns the next request the queue sends, [token, "", body...].
func (w *handWorker) next(ctx context.Context) [][]byte {
	w.t.Helper()
	for { // skip the queue's heartbeats
		msg, err := timeout.RecvMessageBytes(ctx, w.sock)
		require.NoError(w.t, err)
		if len(msg) > 1 {
			return msg
		}
	}
}

// none checks that the queue sent no request, by a heartbeat-free look.
func (w *handWorker) none() {
	w.t.Helper()
	for {
		msg, err := w.sock.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		require.Len(w.t, msg, 1, "the queue sent another request: %q", msg)
	}
}

// answer sends msg to the queue: a reply, or a PPP command.
func (w *handWorker) answer(req [][]byte) {
	w.t.Helper()
	_, err := w.sock.SendMessage(req)
	require.NoError(w.t, err)
}

// patientClient returns a client of the queue with one attempt of 10 s,
// whatever happens behind the queue, closed when the test ends.
func patientClient(t *testing.T, zctx *zmq.Context, q *ppp.Queue, opts ...reliable.ClientOption) *reliable.Client {
	t.Helper()
	c, err := reliable.NewClient(zctx, []string{q.Frontend()},
		append([]reliable.ClientOption{reliable.WithAttemptTimeout(10 * time.Second), reliable.WithMaxAttempts(1)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}
