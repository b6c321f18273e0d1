package mdp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// The heartbeat of in-process tests.
const (
	ivl      = 100 * time.Millisecond
	liveness = 3
)

// echo echoes the request; "sleep:<duration>" sleeps first (until ctx
// ends), "fail" fails, "panic" panics.
func echo(ctx context.Context, req [][]byte) ([][]byte, error) {
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
	switch last {
	case "fail":
		return nil, errors.New("it failed")
	case "panic":
		panic("boom")
	}
	return req, nil
}

// named returns a handler that answers "<name>:<request>".
func named(name string) reliable.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(name + ":" + string(req[len(req)-1]))}, nil
	}
}

// events collects a component's events, to await them.
type events[E any] chan E

func (ch events[E]) hook(ev E) {
	select {
	case ch <- ev:
	default:
	}
}

// await waits for an event that match accepts and returns it.
func (ch events[E]) await(t testing.TB, d time.Duration, what string, match func(E) bool) E {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			if match(ev) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

type brokerEvents struct{ events[mdp.BrokerEvent] }

// joined waits for a worker to register for service.
func (ch brokerEvents) joined(t testing.TB, service string) mdp.BrokerEvent {
	t.Helper()
	return ch.await(t, 10*time.Second, service+" worker-joined", func(ev mdp.BrokerEvent) bool {
		return ev.Kind == mdp.BrokerWorkerJoined && ev.Service == service
	})
}

func (ch brokerEvents) kind(t testing.TB, k mdp.BrokerEventKind) mdp.BrokerEvent {
	t.Helper()
	return ch.await(t, 10*time.Second, k.String(), func(ev mdp.BrokerEvent) bool { return ev.Kind == k })
}

// startBroker runs a Broker on tcp until the test ends.
func startBroker(t testing.TB, zctx *zmq.Context, opts ...mdp.BrokerOption) (*mdp.Broker, brokerEvents) {
	t.Helper()
	evs := brokerEvents{make(events[mdp.BrokerEvent], 1024)}
	opts = append([]mdp.BrokerOption{mdp.WithBrokerHeartbeat(ivl, liveness), mdp.WithBrokerEventHook(evs.hook)}, opts...)
	b, err := mdp.NewBroker(zctx, "tcp://127.0.0.1:*", opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, b.Close())
		require.ErrorIs(t, <-done, mdp.ErrBrokerClosed)
	})
	return b, evs
}

// startWorker runs a Worker until the test ends.
func startWorker(t testing.TB, zctx *zmq.Context, brokers []string, service string, h reliable.Handler, opts ...mdp.WorkerOption) *mdp.Worker {
	t.Helper()
	opts = append([]mdp.WorkerOption{mdp.WithWorkerHeartbeat(ivl, liveness),
		mdp.WithWorkerBackoff(reliable.Backoff{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond})}, opts...)
	w, err := mdp.NewWorker(zctx, brokers, service, h, opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, w.Close())
		require.ErrorIs(t, <-done, mdp.ErrWorkerClosed)
	})
	return w
}

// newClient returns a Client closed when the test ends.
func newClient(t testing.TB, zctx *zmq.Context, brokers []string, opts ...mdp.ClientOption) *mdp.Client {
	t.Helper()
	c, err := mdp.NewClient(zctx, brokers, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx is a context that ends with the test, bounded by d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func frames(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// dealer returns a DEALER connected to endpoint, to speak MDP by hand.
func dealer(t testing.TB, zctx *zmq.Context, endpoint string) *zmq.Socket {
	t.Helper()
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.Connect(endpoint))
	return s
}

// send sends one message of frames on s.
func send(t testing.TB, s *zmq.Socket, msg [][]byte) {
	t.Helper()
	err := timeout.SendMessage(testCtx(t, 5*time.Second), s, msg)
	require.NoError(t, err)
}

// recv receives one message from s within d.
func recv(t testing.TB, s *zmq.Socket, d time.Duration) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msg, err := timeout.RecvMessageBytes(ctx, s)
	require.NoError(t, err)
	return msg
}

// recvWorker receives MDP/Worker messages on a raw worker socket until
// one has the command want, within d.
func recvWorker(t testing.TB, s *zmq.Socket, want mdp.Command, d time.Duration) mdp.WorkerMessage {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		require.Positive(t, left, "no %v", want)
		m, err := mdp.ParseWorkerMessage(recv(t, s, left))
		require.NoError(t, err)
		if m.Command == want {
			return m
		}
	}
}

// sendWorker sends an MDP/Worker message on a raw worker socket.
func sendWorker(t testing.TB, s *zmq.Socket, m mdp.WorkerMessage) {
	t.Helper()
	send(t, s, m.Frames())
}

// waitFor polls cond until it holds or d passes (for counters that have no
// event to await).
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

// remote returns the *reliable.RemoteError in err, or fails.
func remote(t testing.TB, err error) *reliable.RemoteError {
	t.Helper()
	var re *reliable.RemoteError
	require.ErrorAs(t, err, &re)
	return re
}

var (
	errorsAs = errors.As
	errorsIs = errors.Is
)

// result is what a request returned.
type result struct {
	reply [][]byte
	err   error
}

// goRequest sends a request on its own goroutine; the channel gets its
// result.
func goRequest(ctx context.Context, c *mdp.Client, service, body string) <-chan result {
	res := make(chan result, 1)
	go func() {
		r, err := c.Request(ctx, service, []byte(body))
		res <- result{r, err}
	}()
	return res
}

// answer returns the reply of a request started by goRequest, which must
// have succeeded.
func answer(t testing.TB, res <-chan result) [][]byte {
	t.Helper()
	r := <-res
	require.NoError(t, r.err)
	return r.reply
}

// rawWorker connects a DEALER to broker b that registers for service by
// hand, and waits until the broker has it.
func rawWorker(t testing.TB, zctx *zmq.Context, b *mdp.Broker, evs brokerEvents, service string) *zmq.Socket {
	t.Helper()
	raw := dealer(t, zctx, b.Endpoint())
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: service})
	evs.joined(t, service)
	return raw
}

// servedAll waits until w has counted n requests served: it counts a reply
// once sent, a moment after the client may have it.
func servedAll(t testing.TB, w *mdp.Worker, n uint64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("the worker to count %d served", n), func() bool { return w.Stats().Served >= n })
	assert.Equal(t, n, w.Stats().Served)
}
