package mdp_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestWorkerErrorReplies(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	w := startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	evs.joined(t, "echo")
	c := newClient(t, zctx, []string{b.Endpoint()})
	ctx := testCtx(t, 10*time.Second)
	_, err := c.Request(ctx, "echo", []byte("fail"))
	re := remote(t, err)
	assert.Equal(t, wire.CodeHandler, re.Code)
	assert.Equal(t, "it failed", re.Message)
	_, err = c.Request(ctx, "echo", []byte("panic"))
	assert.Equal(t, wire.CodePanic, remote(t, err).Code)
	got, err := c.Request(ctx, "echo", []byte("still serving"))
	require.NoError(t, err)
	assert.Equal(t, frames("still serving"), got)
	servedAll(t, w, 3)
	assert.EqualValues(t, 2, c.Stats().RemoteErrors)
}

// fakeBroker is a ROUTER a worker connects to, driven by hand.
func fakeBroker(t *testing.T, zctx *zmq.Context) (*zmq.Socket, string) {
	t.Helper()
	s := zmqtest.Socket(t, zctx, zmq.ROUTER)
	require.NoError(t, s.SetLinger(0))
	return s, zmqtest.Bind(t, s, "tcp")
}

// fromWorker receives worker messages on a fake broker until one has the
// command want, and returns it with the worker's routing id.
func fromWorker(t *testing.T, s *zmq.Socket, want mdp.Command) ([]byte, mdp.WorkerMessage) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := time.Until(deadline)
		require.Positive(t, left, "no %v from the worker", want)
		msg := recv(t, s, left)
		m, err := mdp.ParseWorkerMessage(msg[1:])
		require.NoError(t, err)
		if m.Command == want {
			return msg[0], m
		}
	}
}

func toWorker(t *testing.T, s *zmq.Socket, id []byte, m mdp.WorkerMessage) {
	t.Helper()
	send(t, s, append([][]byte{id}, m.Frames()...))
}

// TestWorkerBacklog: requests beyond the backlog are refused at once with
// CodeOverloaded, while the handler is busy.
func TestWorkerBacklog(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeBroker(t, zctx)
	release := make(chan struct{})
	started := make(chan string, 4)
	h := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		started <- string(req[0])
		<-release
		return req, nil
	}
	startWorker(t, zctx, []string{ep}, "svc", h, mdp.WithWorkerBacklog(1))
	id, ready := fromWorker(t, fb, mdp.CommandReady)
	assert.Equal(t, "svc", ready.Service)
	for _, body := range []string{"1", "2", "3"} {
		toWorker(t, fb, id, mdp.WorkerMessage{Command: mdp.CommandRequest, Client: []byte("c" + body), Body: frames(body)})
		if body == "1" {
			assert.Equal(t, "1", <-started)
		}
	}
	_, refused := fromWorker(t, fb, mdp.CommandReply)
	assert.Equal(t, "c3", string(refused.Client))
	code, _, ok := wire.ParsePlainError(refused.Body)
	require.True(t, ok)
	assert.Equal(t, wire.CodeOverloaded, code)
	close(release)
	for _, want := range []string{"c1", "c2"} {
		_, r := fromWorker(t, fb, mdp.CommandReply)
		assert.Equal(t, want, string(r.Client))
	}
}

// TestWorkerReconnectsWhenBrokerSilent: a broker silent for liveness
// intervals is given up; the worker registers again on a new socket.
func TestWorkerReconnectsWhenBrokerSilent(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeBroker(t, zctx)
	evs := events[mdp.WorkerEvent](make(chan mdp.WorkerEvent, 64))
	w := startWorker(t, zctx, []string{ep}, "svc", echo, mdp.WithWorkerEventHook(evs.hook))
	first, _ := fromWorker(t, fb, mdp.CommandReady)
	silent := time.Now()
	lost := evs.await(t, 10*time.Second, "broker-lost", func(ev mdp.WorkerEvent) bool { return ev.Kind == mdp.WorkerBrokerLost })
	took := time.Since(silent)
	assert.Equal(t, ep, lost.Broker)
	assert.GreaterOrEqual(t, took, (liveness-1)*ivl)
	assert.Less(t, took, liveness*ivl+time.Second)
	wait := evs.await(t, 5*time.Second, "reconnect-wait", func(ev mdp.WorkerEvent) bool { return ev.Kind == mdp.WorkerReconnectWait })
	assert.Equal(t, 50*time.Millisecond, wait.Delay)
	second, _ := fromWorker(t, fb, mdp.CommandReady)
	assert.NotEqual(t, first, second, "a new socket, a new identity")
	assert.EqualValues(t, 1, w.Stats().Reconnects)
}

// TestWorkerDisconnect: a DISCONNECT after other traffic makes the worker
// register again at once; DISCONNECTs with nothing else back off.
func TestWorkerDisconnect(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeBroker(t, zctx)
	evs := events[mdp.WorkerEvent](make(chan mdp.WorkerEvent, 64))
	w := startWorker(t, zctx, []string{ep}, "svc", echo, mdp.WithWorkerEventHook(evs.hook),
		mdp.WithWorkerBackoff(reliable.Backoff{Initial: time.Hour, Max: time.Hour}))
	id, _ := fromWorker(t, fb, mdp.CommandReady)
	toWorker(t, fb, id, mdp.WorkerMessage{Command: mdp.CommandHeartbeat})
	toWorker(t, fb, id, mdp.WorkerMessage{Command: mdp.CommandDisconnect})
	evs.await(t, 5*time.Second, "disconnected", func(ev mdp.WorkerEvent) bool { return ev.Kind == mdp.WorkerDisconnected })
	id2, _ := fromWorker(t, fb, mdp.CommandReady) // at once, not after an hour
	assert.NotEqual(t, id, id2)
	toWorker(t, fb, id2, mdp.WorkerMessage{Command: mdp.CommandDisconnect})
	ev := evs.await(t, 5*time.Second, "reconnect-wait", func(ev mdp.WorkerEvent) bool { return ev.Kind == mdp.WorkerReconnectWait })
	assert.Equal(t, time.Hour, ev.Delay, "a broker that only says DISCONNECT is backed off from")
	assert.EqualValues(t, 2, w.Stats().Disconnects)
}

// TestWorkerRegistersWithEveryBroker: given two brokers, a worker serves
// both.
func TestWorkerRegistersWithEveryBroker(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b1, evs1 := startBroker(t, zctx)
	b2, evs2 := startBroker(t, zctx)
	w := startWorker(t, zctx, []string{b1.Endpoint(), b2.Endpoint()}, "echo", named("w"))
	evs1.joined(t, "echo")
	evs2.joined(t, "echo")
	ctx := testCtx(t, 10*time.Second)
	for _, b := range []*mdp.Broker{b1, b2} {
		got, err := newClient(t, zctx, []string{b.Endpoint()}).Request(ctx, "echo", []byte("x"))
		require.NoError(t, err)
		assert.Equal(t, frames("w:x"), got)
	}
	servedAll(t, w, 2)
}

// TestWorkerHeartbeatsWhileBusy: a handler busy for many intervals does
// not make the worker look dead.
func TestWorkerHeartbeatsWhileBusy(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	evs.joined(t, "echo")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(10*time.Second), mdp.WithMaxAttempts(1))
	body := "sleep:" + (3 * liveness * ivl).String()
	got, err := c.Request(testCtx(t, 20*time.Second), "echo", []byte(body))
	require.NoError(t, err)
	assert.Equal(t, frames(body), got)
	assert.Zero(t, b.Stats().Expired)
}

// TestWorkerCloseDisconnects: a worker that stops tells its broker, which
// gives the request it held to another worker at once.
func TestWorkerCloseDisconnects(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithBrokerHeartbeat(time.Minute, 3))
	opts := []mdp.WorkerOption{mdp.WithWorkerHeartbeat(time.Minute, 3), mdp.WithWorkerShutdownGrace(time.Second)}
	started := make(chan struct{}, 1)
	slow := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	w, err := mdp.NewWorker(zctx, []string{b.Endpoint()}, "svc", slow, opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	evs.joined(t, "svc")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(10*time.Second), mdp.WithMaxAttempts(1))
	res := goRequest(testCtx(t, 20*time.Second), c, "svc", "x")
	<-started
	startWorker(t, zctx, []string{b.Endpoint()}, "svc", named("other"), opts...)
	evs.joined(t, "svc")
	require.NoError(t, w.Close())
	require.ErrorIs(t, <-done, mdp.ErrWorkerClosed)
	evs.kind(t, mdp.BrokerWorkerDisconnected)
	assert.Equal(t, frames("other:x"), answer(t, res), "retried long before a minute's heartbeat")
}

func TestWorkerHandlerStuck(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeBroker(t, zctx)
	release, started := make(chan struct{}), make(chan struct{})
	defer close(release)
	stuck := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		close(started)
		<-release // ignores ctx
		return nil, nil
	}
	w, err := mdp.NewWorker(zctx, []string{ep}, "svc", stuck, mdp.WithWorkerShutdownGrace(50*time.Millisecond))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	id, _ := fromWorker(t, fb, mdp.CommandReady)
	toWorker(t, fb, id, mdp.WorkerMessage{Command: mdp.CommandRequest, Client: []byte("c"), Body: frames("x")})
	<-started
	require.NoError(t, w.Close())
	err = <-done
	assert.ErrorIs(t, err, mdp.ErrHandlerStuck)
	assert.ErrorIs(t, err, mdp.ErrWorkerClosed)
}

func TestWorkerOptions(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	eps := []string{"tcp://127.0.0.1:1"}
	for _, opt := range []mdp.WorkerOption{
		nil, mdp.WithWorkerHeartbeat(0, 3), mdp.WithWorkerHeartbeat(time.Second, 1),
		mdp.WithWorkerBackoff(reliable.Backoff{Multiplier: 0.5}), mdp.WithWorkerBacklog(0),
		mdp.WithWorkerShutdownGrace(-1), mdp.WithWorkerTracker(nil),
	} {
		_, err := mdp.NewWorker(zctx, eps, "svc", echo, opt)
		var oe *zmq.OptionError
		assert.True(t, errors.As(err, &oe), "%v", err)
	}
	for _, name := range []string{"", "mmi.service", string(make([]byte, mdp.MaxServiceName+1))} {
		_, err := mdp.NewWorker(zctx, eps, name, echo)
		assert.ErrorIs(t, err, mdp.ErrServiceName, "%q", name)
	}
	for _, brokers := range [][]string{nil, {""}} {
		_, err := mdp.NewWorker(zctx, brokers, "svc", echo)
		assert.Error(t, err)
	}
	_, err := mdp.NewWorker(zctx, eps, "svc", nil)
	assert.Error(t, err)

	w, err := mdp.NewWorker(zctx, eps, "svc", echo)
	require.NoError(t, err)
	assert.Equal(t, "svc", w.Service())
	require.NoError(t, w.Close())
	err = w.Run(context.Background())
	assert.ErrorIs(t, err, mdp.ErrWorkerClosed)
	assert.ErrorIs(t, err, net.ErrClosed)
}
