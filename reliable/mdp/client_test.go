package mdp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/engine"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/zmq"
)

// fakeClientBroker is a ROUTER that clients send to, driven by hand.
func fakeClientBroker(t *testing.T, zctx *zmq.Context) (*zmq.Socket, string) {
	return fakeBroker(t, zctx)
}

// takeRequest receives a client request on a fake broker.
func takeRequest(t *testing.T, s *zmq.Socket) (client []byte, service string, body [][]byte) {
	t.Helper()
	msg := recv(t, s, 10*time.Second)
	service, body, err := mdp.ParseClientMessage(msg[1:])
	require.NoError(t, err)
	return msg[0], service, body
}

// TestClientDropsStaleReplies: replies for another service, malformed
// ones and a duplicate that arrives after the answer never reach a
// caller.
func TestClientDropsStaleReplies(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeClientBroker(t, zctx)
	c := newClient(t, zctx, []string{ep})
	ctx := testCtx(t, 10*time.Second)
	res := goRequest(ctx, c, "svc", "one")
	id, service, body := takeRequest(t, fb)
	assert.Equal(t, "svc", service)
	assert.Equal(t, frames("one"), body)
	send(t, fb, append([][]byte{id}, mdp.ClientRequest("other", frames("wrong service"))...))
	send(t, fb, frames(string(id), "", "MDPC99", "svc", "bad header"))
	send(t, fb, append([][]byte{id}, mdp.ClientRequest("svc", frames("answer"))...))
	send(t, fb, append([][]byte{id}, mdp.ClientRequest("svc", frames("duplicate"))...))
	assert.Equal(t, frames("answer"), answer(t, res))

	// The next request reuses the socket. The duplicate, drained before
	// it is sent or arriving while it waits, is dropped: it names another
	// service. (A duplicate for the same service would be taken for the
	// answer: the client relies on a broker sending one reply per request,
	// as the zguide's and zmqguard's do; see docs/MAJORDOMO.md.)
	res = goRequest(ctx, c, "svc2", "two")
	id2, _, body := takeRequest(t, fb)
	assert.Equal(t, id, id2, "the socket of a successful request is reused")
	assert.Equal(t, frames("two"), body)
	send(t, fb, append([][]byte{id}, mdp.ClientRequest("svc2", frames("answer two"))...))
	assert.Equal(t, frames("answer two"), answer(t, res))
	st := c.Stats()
	assert.EqualValues(t, 1, st.Malformed)
	assert.EqualValues(t, 2, st.StaleDropped)
	assert.EqualValues(t, 2, st.Replies)
}

// TestClientFailsOver: a broker that is not there costs one attempt; the
// client then stays with the broker that answers.
func TestClientFailsOver(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
	evs.joined(t, "echo")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	nobody := "tcp://" + l.Addr().String()
	require.NoError(t, l.Close())
	c := newClient(t, zctx, []string{nobody, b.Endpoint()}, mdp.WithAttemptTimeout(300*time.Millisecond))
	ctx := testCtx(t, 10*time.Second)
	got, err := c.Request(ctx, "echo", []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, frames("x"), got)
	st := c.Stats()
	assert.EqualValues(t, 2, st.Attempts)
	assert.EqualValues(t, 1, st.FailedFast, "not connected")
	_, err = c.Request(ctx, "echo", []byte("y"))
	require.NoError(t, err)
	assert.EqualValues(t, 3, c.Stats().Attempts, "straight to the broker that answered")
}

// TestClientGivesUp: a request nobody answers gives up after its attempts
// with a *reliable.NoReplyError.
func TestClientGivesUp(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeClientBroker(t, zctx)
	var evs []reliable.ClientEvent
	var mu sync.Mutex
	c := newClient(t, zctx, []string{ep}, mdp.WithAttemptTimeout(100*time.Millisecond), mdp.WithMaxAttempts(2),
		mdp.WithBackoff(reliable.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}),
		mdp.WithClientEventHook(func(ev reliable.ClientEvent) { mu.Lock(); evs = append(evs, ev); mu.Unlock() }))
	start := time.Now()
	_, err := c.Request(testCtx(t, 10*time.Second), "svc", []byte("x"))
	took := time.Since(start)
	var nr *reliable.NoReplyError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, 2, nr.Attempts)
	assert.ErrorIs(t, err, reliable.ErrNoReply)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	assert.Less(t, took, 2*time.Second)
	for range 2 {
		takeRequest(t, fb) // both attempts reached the broker
	}
	st := c.Stats()
	assert.EqualValues(t, 2, st.Timeouts)
	assert.EqualValues(t, 2, st.Resets)
	assert.EqualValues(t, 1, st.GiveUps)
	mu.Lock()
	defer mu.Unlock()
	var kinds []reliable.EventKind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	assert.Equal(t, []reliable.EventKind{reliable.EventAttempt, reliable.EventAttemptFailed,
		reliable.EventAttempt, reliable.EventAttemptFailed, reliable.EventGiveUp}, kinds)
}

func TestClientContext(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	_, ep := fakeClientBroker(t, zctx)
	c := newClient(t, zctx, []string{ep}, mdp.WithAttemptTimeout(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Request(ctx, "svc", []byte("x"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, reliable.ErrNoReply)
	assert.Zero(t, c.Stats().Attempts)

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Request(ctx, "svc", []byte("x"))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestClientClose(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeClientBroker(t, zctx)
	c := newClient(t, zctx, []string{ep}, mdp.WithAttemptTimeout(time.Minute))
	res := goRequest(context.Background(), c, "svc", "x")
	takeRequest(t, fb)
	require.NoError(t, c.Close())
	err := (<-res).err
	assert.ErrorIs(t, err, reliable.ErrClientClosed)
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = c.Request(context.Background(), "svc", []byte("x"))
	assert.ErrorIs(t, err, reliable.ErrClientClosed)
	require.NoError(t, c.Close())
}

// TestClientMaxInFlight: requests beyond the bound wait for a turn, under
// their context.
func TestClientMaxInFlight(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeClientBroker(t, zctx)
	c := newClient(t, zctx, []string{ep}, mdp.WithMaxInFlight(1), mdp.WithAttemptTimeout(time.Minute))
	res := goRequest(context.Background(), c, "svc", "x")
	id, _, _ := takeRequest(t, fb)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Request(ctx, "svc", []byte("y"))
	var nr *reliable.NoReplyError
	require.ErrorAs(t, err, &nr)
	assert.Zero(t, nr.Attempts, "it never had a turn")
	send(t, fb, append([][]byte{id}, mdp.ClientRequest("svc", frames("x"))...))
	require.NoError(t, (<-res).err)
}

// TestClientConcurrent: many goroutines share a client; every reply
// answers its own request.
func TestClientConcurrent(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	b, evs := startBroker(t, zctx)
	for range 4 {
		startWorker(t, zctx, []string{b.Endpoint()}, "echo", echo)
		evs.joined(t, "echo")
	}
	c := newClient(t, zctx, []string{b.Endpoint()}, mdp.WithMaxInFlight(8))
	ctx := testCtx(t, 30*time.Second)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				body := fmt.Sprintf("%d-%d", g, i)
				got, err := c.Request(ctx, "echo", []byte(body))
				if assert.NoError(t, err) {
					assert.Equal(t, frames(body), got)
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	assert.EqualValues(t, 320, st.Replies)
	assert.Zero(t, st.StaleDropped+st.Resets)
}

func TestClientOptions(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	eps := []string{"tcp://127.0.0.1:1"}
	for _, opt := range []mdp.ClientOption{
		nil, mdp.WithAttemptTimeout(0), mdp.WithMaxAttempts(0), mdp.WithBackoff(reliable.Backoff{Initial: -1}),
		mdp.WithReconnectInterval(0), mdp.WithMaxInFlight(0),
	} {
		_, err := mdp.NewClient(zctx, eps, opt)
		var oe *zmq.OptionError
		assert.True(t, errors.As(err, &oe), "%v", err)
	}
	for _, brokers := range [][]string{nil, {""}} {
		_, err := mdp.NewClient(zctx, brokers)
		assert.Error(t, err)
	}
	c := newClient(t, zctx, eps)
	for _, name := range []string{"", string(make([]byte, mdp.MaxServiceName+1))} {
		_, err := c.Request(context.Background(), name)
		assert.ErrorIs(t, err, mdp.ErrServiceName)
	}
}

// TestClientDiscardsHalfSentSocket: a request whose second frame libzmq
// refused (a broker killed between two frames) leaves the socket refusing
// every send, wrapped around EAGAIN, while it stays writable. The attempt
// used to retry that send until its deadline, busy; it now fails at once,
// and the next attempt goes out on a new socket. The refusal is injected
// through the engine's fault hook: the kill between two frames cannot be
// timed.
func TestClientDiscardsHalfSentSocket(t *testing.T) {
	zctx := zmqtest.Context(t, zmq.WithLinger(0))
	fb, ep := fakeClientBroker(t, zctx)
	var sock atomic.Pointer[zmq.Socket] // the client's latest socket
	c := newClient(t, zctx, []string{ep},
		mdp.WithAttemptTimeout(5*time.Second), mdp.WithMaxAttempts(2),
		mdp.WithBackoff(reliable.Backoff{Initial: time.Millisecond, Max: time.Millisecond}),
		mdp.WithClientSocketSetup(func(s *zmq.Socket) error { sock.Store(s); return nil }))
	ctx := testCtx(t, 10*time.Second)
	res := goRequest(ctx, c, "svc", "one")
	id, _, _ := takeRequest(t, fb)
	send(t, fb, append([][]byte{id}, mdp.ClientRequest("svc", frames("answer one"))...))
	assert.Equal(t, frames("answer one"), answer(t, res))

	broken := sock.Load()
	var refused atomic.Bool
	engine.Of(broken).SetSendFault(func(frame int) error {
		if frame == 1 && refused.CompareAndSwap(false, true) {
			return zmq.Errno(syscall.EAGAIN)
		}
		return nil
	})
	start := time.Now()
	res = goRequest(ctx, c, "svc", "two")
	id2, _, body := takeRequest(t, fb)
	assert.Equal(t, frames("two"), body)
	assert.NotEqual(t, id, id2, "the second attempt goes out on a new socket")
	send(t, fb, append([][]byte{id2}, mdp.ClientRequest("svc", frames("answer two"))...))
	assert.Equal(t, frames("answer two"), answer(t, res))
	assert.True(t, refused.Load(), "the fault was injected")
	assert.Less(t, time.Since(start), 4*time.Second, "the broken attempt waited for its deadline")
}
