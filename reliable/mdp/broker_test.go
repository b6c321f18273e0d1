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
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestBrokerRoundTrip(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	w := startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	evs.joined(t, "echo")
	c := newClient(t, zctx, []string{b.Endpoint()})
	ctx := testCtx(t, 10*time.Second)
	for i := range 10 {
		got, err := c.Request(ctx, "echo", []byte("a"), []byte{byte('0' + i)})
		require.NoError(t, err)
		assert.Equal(t, [][]byte{[]byte("a"), {byte('0' + i)}}, got)
	}
	got, err := c.Request(ctx, "echo")
	require.NoError(t, err)
	assert.Equal(t, [][]byte{{}}, got, "an empty body is one empty frame")
	// The broker counts a reply once forwarded, a moment after the client
	// may have it.
	waitFor(t, 5*time.Second, "11 replies counted", func() bool { return b.Stats().Replies == 11 })
	st := b.Stats()
	assert.EqualValues(t, 11, st.Requests)
	assert.EqualValues(t, 11, st.Replies)
	assert.Equal(t, 1, st.Workers)
	assert.Equal(t, 1, st.Services)
	assert.Zero(t, st.Waiting)
	assert.Zero(t, st.HeldBytes)
	servedAll(t, w, 11)
	cs := c.Stats()
	assert.EqualValues(t, 11, cs.Replies)
	assert.EqualValues(t, 11, cs.Attempts)
	assert.Zero(t, cs.Resets)
}

// TestBrokerLeastRecentlyUsed: requests go to the worker that has waited
// longest.
func TestBrokerLeastRecentlyUsed(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	startWorker(t, zctx, []string{b.Endpoint()}, "svc", named("a"))
	evs.joined(t, "svc")
	startWorker(t, zctx, []string{b.Endpoint()}, "svc", named("b"))
	evs.joined(t, "svc")
	startWorker(t, zctx, []string{b.Endpoint()}, "other", named("x"))
	evs.joined(t, "other")
	c := newClient(t, zctx, []string{b.Endpoint()})
	ctx := testCtx(t, 10*time.Second)
	var got []string
	for range 6 {
		r, err := c.Request(ctx, "svc", []byte("r"))
		require.NoError(t, err)
		got = append(got, string(r[0]))
	}
	assert.Equal(t, []string{"a:r", "b:r", "a:r", "b:r", "a:r", "b:r"}, got)
	r, err := c.Request(ctx, "other", []byte("r"))
	require.NoError(t, err)
	assert.Equal(t, "x:r", string(r[0]))
}

func TestBrokerMMI(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	evs.joined(t, "echo")
	c := newClient(t, zctx, []string{b.Endpoint()})
	ctx := testCtx(t, 10*time.Second)
	ok, err := c.ServiceAvailable(ctx, "echo")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = c.ServiceAvailable(ctx, "nobody")
	require.NoError(t, err)
	assert.False(t, ok)
	got, err := c.Request(ctx, "mmi.whatever", []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, frames(mdp.MMINotImplemented), got)
	_, err = c.ServiceAvailable(ctx, "")
	assert.ErrorIs(t, err, mdp.ErrServiceName)
	assert.EqualValues(t, 3, b.Stats().MMI)
	assert.Equal(t, 1, b.Stats().Services, "asking about a service does not create it")
}

// TestBrokerNoService: a request for a service without workers is
// answered with CodeNoService after the service wait, not before the
// grace after the broker's start.
func TestBrokerNoService(t *testing.T) {
	const wait = 300 * time.Millisecond
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithServiceWait(wait))
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(5*time.Second))
	ctx := testCtx(t, 10*time.Second)
	start := time.Now()
	_, err := c.Request(ctx, "nobody", []byte("x"))
	took := time.Since(start)
	re := remote(t, err)
	assert.Equal(t, wire.CodeNoService, re.Code)
	assert.Contains(t, re.Message, "nobody")
	assert.GreaterOrEqual(t, took, wait)
	assert.Less(t, took, wait+time.Second)
	ev := evs.kind(t, mdp.BrokerRequestFailed)
	assert.Equal(t, wire.CodeNoService, ev.Code)
	assert.EqualValues(t, 1, c.Stats().Attempts, "no-service is an answer: not retried")
	// The broker forgets the service a moment after the reply is out.
	waitFor(t, 5*time.Second, "the service to be forgotten", func() bool { return b.Stats().Services == 0 })
	st := b.Stats()
	assert.EqualValues(t, 1, st.NoService)
	assert.Zero(t, st.HeldBytes)

	// A worker that registers within the wait serves the request.
	res := goRequest(ctx, c, "late", "x")
	waitFor(t, 5*time.Second, "the request to wait", func() bool { return b.Stats().Waiting == 1 })
	startWorker(t, zctx, []string{b.Endpoint()}, "late", echo)
	require.NoError(t, (<-res).err)
}

// TestBrokerNoServiceAfterLastWorkerLeft: requests waiting for a service
// whose last worker left wait the service wait from its departure.
func TestBrokerNoServiceAfterLastWorkerLeft(t *testing.T) {
	const wait = 300 * time.Millisecond
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithServiceWait(wait))
	raw := rawWorker(t, zctx, b, evs, "svc")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(5*time.Second))
	ctx := testCtx(t, 10*time.Second)
	res := []<-chan result{goRequest(ctx, c, "svc", "x"), goRequest(ctx, c, "svc", "x")}
	recvWorker(t, raw, mdp.CommandRequest, 5*time.Second)
	bothWaiting(t, b)
	left := time.Now()
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandDisconnect})
	// The first request is retried (it waits too), the second waits.
	for _, r := range res {
		assert.Equal(t, wire.CodeNoService, remote(t, (<-r).err).Code)
	}
	took := time.Since(left)
	assert.GreaterOrEqual(t, took, wait)
	assert.Less(t, took, wait+time.Second)
	st := b.Stats()
	assert.EqualValues(t, 1, st.Retried)
	assert.EqualValues(t, 1, st.Disconnected)
	assert.EqualValues(t, 2, st.NoService)
}

// TestBrokerRetriesRequestOfDeadWorker: a worker that goes silent holding
// a request is expired by heartbeat; the request goes to another worker,
// and the dead worker's late reply is dropped and answered with
// DISCONNECT.
func TestBrokerRetriesRequestOfDeadWorker(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	raw := rawWorker(t, zctx, b, evs, "svc")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(5*time.Second), mdp.WithMaxAttempts(1))
	ctx := testCtx(t, 10*time.Second)
	res := goRequest(ctx, c, "svc", "hello")
	req := recvWorker(t, raw, mdp.CommandRequest, 5*time.Second)
	assert.Equal(t, frames("hello"), req.Body)
	startWorker(t, zctx, []string{b.Endpoint()}, "svc", named("second"))
	evs.joined(t, "svc")
	silent := time.Now()
	// raw says nothing more: it is Dead after liveness intervals.
	ev := evs.kind(t, mdp.BrokerWorkerExpired)
	took := time.Since(silent)
	assert.Equal(t, "svc", ev.Service)
	assert.Less(t, took, liveness*ivl+time.Second)
	assert.Equal(t, frames("second:hello"), answer(t, res))

	// The late reply of the expired worker is dropped; the broker does not
	// know it any more and tells it to register again.
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReply, Client: req.Client, Body: frames("late")})
	recvWorker(t, raw, mdp.CommandDisconnect, 5*time.Second)
	st := b.Stats()
	assert.EqualValues(t, 1, st.Retried)
	assert.EqualValues(t, 1, st.Expired)
	assert.EqualValues(t, 1, st.Replies)
	assert.Zero(t, st.WorkerLost)
}

// TestBrokerStaleReplyOfRetriedRequest: a worker that was expired, came
// back and holds a new request sends its late reply to the old one: the
// dispatch tag tells them apart, and the late one is dropped.
func TestBrokerStaleReplyAfterReregistering(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	raw := rawWorker(t, zctx, b, evs, "svc")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(10*time.Second), mdp.WithMaxAttempts(1))
	ctx := testCtx(t, 20*time.Second)
	res := goRequest(ctx, c, "svc", "one")
	first := recvWorker(t, raw, mdp.CommandRequest, 5*time.Second)
	evs.kind(t, mdp.BrokerWorkerExpired) // first goes back to the queue
	// raw registers again (same identity), gets the retried request.
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"})
	second := recvWorker(t, raw, mdp.CommandRequest, 5*time.Second)
	assert.Equal(t, frames("one"), second.Body)
	assert.NotEqual(t, first.Client, second.Client, "each dispatch has its own tag")
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReply, Client: first.Client, Body: frames("stale")})
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReply, Client: second.Client, Body: frames("fresh")})
	assert.Equal(t, frames("fresh"), answer(t, res))
	assert.EqualValues(t, 1, b.Stats().Stale)
}

// TestBrokerWorkerLost: with no retries, the request of a worker that
// dies is answered with CodeWorkerLost.
func TestBrokerWorkerLost(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithBrokerRetries(0))
	raw := rawWorker(t, zctx, b, evs, "svc")
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(5*time.Second))
	ctx := testCtx(t, 10*time.Second)
	res := goRequest(ctx, c, "svc", "x")
	recvWorker(t, raw, mdp.CommandRequest, 5*time.Second)
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandDisconnect})
	re := remote(t, (<-res).err)
	assert.Equal(t, wire.CodeWorkerLost, re.Code)
	assert.EqualValues(t, 1, c.Stats().Attempts, "worker-lost is an answer: the request may have run")
	assert.EqualValues(t, 1, b.Stats().WorkerLost)
}

// TestBrokerWorkerProtocol: what the broker does with workers that break
// RFC 7.
func TestBrokerWorkerProtocol(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx, mdp.WithBrokerLimits(10, 1<<20, 10, 2))

	// Speaking before READY.
	raw := dealer(t, zctx, b.Endpoint())
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandHeartbeat})
	recvWorker(t, raw, mdp.CommandDisconnect, 5*time.Second)
	// READY twice.
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"})
	evs.joined(t, "svc")
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"})
	recvWorker(t, raw, mdp.CommandDisconnect, 5*time.Second)
	evs.kind(t, mdp.BrokerWorkerDisconnected)
	// A management service.
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "mmi.service"})
	recvWorker(t, raw, mdp.CommandDisconnect, 5*time.Second)
	// Beyond the bound of workers.
	w1, w2 := dealer(t, zctx, b.Endpoint()), dealer(t, zctx, b.Endpoint())
	sendWorker(t, w1, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"})
	evs.joined(t, "svc")
	sendWorker(t, w2, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"})
	evs.joined(t, "svc")
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "svc"})
	recvWorker(t, raw, mdp.CommandDisconnect, 5*time.Second)
	// Not MDP.
	send(t, raw, frames("", mdp.WorkerHeader, "\x09"))
	send(t, raw, frames("", "MDPX01", "x"))
	send(t, raw, frames("no delimiter"))
	waitFor(t, 5*time.Second, "3 malformed messages", func() bool { return b.Stats().Malformed == 3 })
	// The broker heartbeats its workers.
	recvWorker(t, w1, mdp.CommandHeartbeat, 5*time.Second)
	st := b.Stats()
	assert.Equal(t, 2, st.Workers)
	assert.EqualValues(t, 1, st.Disconnected)
}

// TestBrokerClientProtocol: malformed client requests get an error reply
// when they name a service.
func TestBrokerClientProtocol(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, _ := startBroker(t, zctx)
	raw := dealer(t, zctx, b.Endpoint())
	send(t, raw, frames("", mdp.ClientHeader, "svc")) // no body
	got := recv(t, raw, 5*time.Second)
	require.Len(t, got, 6)
	assert.Equal(t, frames("", mdp.ClientHeader, "svc", wire.PlainErrorMarker, wire.CodeMalformed), got[:5])
	send(t, raw, frames("", mdp.ClientHeader)) // no service
	waitFor(t, 5*time.Second, "2 malformed requests", func() bool { return b.Stats().Malformed == 2 })
}

// TestBrokerBounds: requests beyond the broker's bounds are answered with
// CodeOverloaded at once.
func TestBrokerBounds(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, _ := startBroker(t, zctx, mdp.WithBrokerLimits(2, 100, 1, 10), mdp.WithServiceWait(time.Minute))
	raw := dealer(t, zctx, b.Endpoint())
	for range 2 {
		send(t, raw, mdp.ClientRequest("svc", frames("waits")))
	}
	waitFor(t, 5*time.Second, "2 waiting", func() bool { return b.Stats().Waiting == 2 })
	overloaded := func() string {
		t.Helper()
		got := recv(t, raw, 5*time.Second)
		service, body, err := mdp.ParseClientMessage(got)
		require.NoError(t, err)
		code, msg, ok := wire.ParsePlainError(body)
		require.True(t, ok, "%q", body)
		assert.Equal(t, wire.CodeOverloaded, code)
		return service + ": " + msg
	}
	send(t, raw, mdp.ClientRequest("svc", frames("third")))
	assert.Equal(t, "svc: too many requests waiting for the service", overloaded())
	send(t, raw, mdp.ClientRequest("other", frames("x")))
	assert.Equal(t, "other: too many services", overloaded())
	st := b.Stats()
	assert.EqualValues(t, 10, st.HeldBytes)
	assert.EqualValues(t, 2, st.Overloaded)

	b2, _ := startBroker(t, zctx, mdp.WithBrokerLimits(10, 100, 10, 10), mdp.WithServiceWait(time.Minute))
	raw2 := dealer(t, zctx, b2.Endpoint())
	send(t, raw2, mdp.ClientRequest("svc", [][]byte{make([]byte, 60)}))
	waitFor(t, 5*time.Second, "1 waiting", func() bool { return b2.Stats().Waiting == 1 })
	send(t, raw2, mdp.ClientRequest("svc", [][]byte{make([]byte, 41)}))
	got := recv(t, raw2, 5*time.Second)
	_, body, err := mdp.ParseClientMessage(got)
	require.NoError(t, err)
	code, msg, _ := wire.ParsePlainError(body)
	assert.Equal(t, wire.CodeOverloaded, code)
	assert.Equal(t, "the broker holds too many bytes", msg)
}

// TestBrokerShutdown: a stopping broker answers what it holds with
// CodeShutdown and disconnects its workers.
func TestBrokerShutdown(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	evs := events[mdp.BrokerEvent](make(chan mdp.BrokerEvent, 64))
	b, err := mdp.NewBroker(zctx, "tcp://127.0.0.1:*", mdp.WithBrokerHeartbeat(ivl, liveness),
		mdp.WithServiceWait(time.Minute), mdp.WithBrokerEventHook(evs.hook))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	raw := dealer(t, zctx, b.Endpoint())
	sendWorker(t, raw, mdp.WorkerMessage{Command: mdp.CommandReady, Service: "busy"})
	evs.await(t, 5*time.Second, "joined", func(ev mdp.BrokerEvent) bool { return ev.Kind == mdp.BrokerWorkerJoined })
	client := dealer(t, zctx, b.Endpoint())
	send(t, client, mdp.ClientRequest("busy", frames("held")))
	recvWorker(t, raw, mdp.CommandRequest, 5*time.Second)
	send(t, client, mdp.ClientRequest("idle", frames("waiting")))
	bothWaiting(t, b)

	require.NoError(t, b.Close())
	require.ErrorIs(t, <-done, mdp.ErrBrokerClosed)
	require.ErrorIs(t, <-done2(b), mdp.ErrBrokerClosed)
	recvWorker(t, raw, mdp.CommandDisconnect, 5*time.Second)
	services := map[string]string{}
	for range 2 {
		svc, body, err := mdp.ParseClientMessage(recv(t, client, 5*time.Second))
		require.NoError(t, err)
		code, _, _ := wire.ParsePlainError(body)
		services[svc] = code
	}
	assert.Equal(t, map[string]string{"busy": wire.CodeShutdown, "idle": wire.CodeShutdown}, services)
	assert.EqualValues(t, 2, b.Stats().Shutdown)
}

// bothWaiting waits until b has taken two requests, the first given to a
// worker and the second waiting. Waiting alone is not enough: the worker
// can have the first request before the broker stops counting it as
// waiting, and Waiting == 1 then holds before the second has arrived.
func bothWaiting(t *testing.T, b *mdp.Broker) {
	t.Helper()
	waitFor(t, 5*time.Second, "2 requests taken", func() bool { return b.Stats().Requests == 2 })
	waitFor(t, 5*time.Second, "the second request to wait", func() bool { return b.Stats().Waiting == 1 })
}

// done2 runs b.Run again: a stopped broker does not run twice.
func done2(b *mdp.Broker) chan error {
	ch := make(chan error, 1)
	ch <- b.Run(context.Background())
	return ch
}

func TestBrokerLifecycle(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, err := mdp.NewBroker(zctx, "tcp://127.0.0.1:*")
	require.NoError(t, err)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	err = b.Run(context.Background())
	assert.ErrorIs(t, err, mdp.ErrBrokerClosed)
	assert.ErrorIs(t, err, net.ErrClosed)

	b, err = mdp.NewBroker(zctx, "tcp://127.0.0.1:*")
	require.NoError(t, err)
	// Two Runs: whichever comes second returns ErrRunning at once.
	ctx, cancel := context.WithCancel(context.Background())
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- b.Run(ctx) }()
	go func() { second <- b.Run(ctx) }()
	select {
	case err := <-first:
		assert.ErrorIs(t, err, mdp.ErrRunning)
		first = second
	case err := <-second:
		assert.ErrorIs(t, err, mdp.ErrRunning)
	}
	cancel()
	assert.ErrorIs(t, <-first, context.Canceled)
	require.NoError(t, b.Close())
}

func TestBrokerOptions(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	for _, opt := range []mdp.BrokerOption{
		nil, mdp.WithBrokerHeartbeat(0, 3), mdp.WithBrokerHeartbeat(time.Second, 1), mdp.WithBrokerRetries(-1),
		mdp.WithServiceWait(0), mdp.WithBrokerLimits(0, 1, 1, 1), mdp.WithBrokerLimits(1, 0, 1, 1),
		mdp.WithBrokerMaxMessageSize(0), mdp.WithBrokerTracker(nil), mdp.WithBinaryStar(nil),
	} {
		_, err := mdp.NewBroker(zctx, "tcp://127.0.0.1:*", opt)
		var oe *zmq.OptionError
		assert.True(t, errors.As(err, &oe), "%v", err)
	}
	_, err := mdp.NewBroker(nil, "tcp://127.0.0.1:*")
	assert.Error(t, err)
	_, err = mdp.NewBroker(zctx, "nonsense://")
	assert.Error(t, err)
}
