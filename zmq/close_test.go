package zmq_test

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// prompt bounds how long a Close or Term may take to wake a blocked call.
const prompt = 2 * time.Second

// parked returns a channel that receives once a blocking call on s is
// about to park in the netpoller.
func parked(s *zmq.Socket) <-chan struct{} {
	ch := make(chan struct{}, 1)
	zmq.OnPark(s, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(prompt):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitInC waits until some goroutine is inside the cgo function fn (a call
// into libzmq cannot signal that it has started; its stack shows it).
func waitInC(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(prompt)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "[syscall") && strings.Contains(g, fn) {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no goroutine entered %s", fn)
}

func TestCloseIsIdempotent(t *testing.T) {
	c := zmqtest.Context(t)
	for _, typ := range []zmq.Type{zmq.REQ, zmq.REP, zmq.DEALER, zmq.ROUTER, zmq.PUB, zmq.SUB, zmq.PUSH, zmq.PULL, zmq.PAIR} {
		s, err := c.NewSocket(typ)
		require.NoError(t, err)
		linger, err := s.GetLinger()
		require.NoError(t, err)
		assert.Equal(t, zmq.DefaultLinger, linger, "bounded linger by default")
		for range 3 {
			assert.NoError(t, s.Close())
		}
	}
}

// blockedCalls are the ways a goroutine can be blocked on a socket; each
// starts on a fresh socket pair and reports its error on done.
var blockedCalls = []struct {
	name string
	typ  zmq.Type // the blocked socket's type; its peer is the matching one
	peer zmq.Type
	call func(s *zmq.Socket) error
}{
	{"Recv", zmq.PULL, zmq.PUSH, func(s *zmq.Socket) error { _, err := s.Recv(0); return err }},
	{"RecvMessage", zmq.PULL, zmq.PUSH, func(s *zmq.Socket) error { _, err := s.RecvMessage(0); return err }},
	{"RecvBytes", zmq.PULL, zmq.PUSH, func(s *zmq.Socket) error { _, err := s.RecvBytes(0); return err }},
	{"RecvEvent", zmq.PAIR, zmq.PAIR, func(s *zmq.Socket) error { _, _, _, err := s.RecvEvent(0); return err }},
	// A readiness wait, which only package timeout offers.
	{"timeout.Wait", zmq.PULL, zmq.PUSH, func(s *zmq.Socket) error {
		_, err := timeout.Wait(context.Background(), s, zmq.POLLIN)
		return err
	}},
	// A PUSH whose only peer has a full queue blocks in send.
	{"Send", zmq.PUSH, zmq.PULL, func(s *zmq.Socket) error {
		if err := s.SetSndhwm(1); err != nil {
			return err
		}
		for {
			if _, err := s.Send("x", 0); err != nil {
				return err
			}
		}
	}},
}

func TestCloseWakesBlockedCalls(t *testing.T) {
	for _, bc := range blockedCalls {
		t.Run(bc.name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr string) {
				c := zmqtest.Context(t)
				peer := zmqtest.Socket(t, c, bc.peer)
				if bc.peer == zmq.PULL {
					require.NoError(t, peer.SetRcvhwm(1))
				}
				ep := zmqtest.Bind(t, peer, tr)
				s := zmqtest.Socket(t, c, bc.typ)
				require.NoError(t, s.Connect(ep))
				park := parked(s)
				done := make(chan error, 1)
				go func() { done <- bc.call(s) }()
				waitFor(t, park, "the call to park")
				start := time.Now()
				require.NoError(t, s.Close())
				err := waitFor(t, done, "Close to wake the call")
				assert.ErrorIs(t, err, net.ErrClosed)
				assert.Less(t, time.Since(start), prompt)
				assert.NoError(t, s.Close(), "Close is idempotent")
			})
		})
	}
}

func TestTermWakesBlockedCalls(t *testing.T) {
	for _, bc := range blockedCalls {
		t.Run(bc.name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr string) {
				c, err := zmq.NewContext(zmq.WithTermTimeout(5 * time.Second))
				require.NoError(t, err)
				peer, err := c.NewSocket(bc.peer)
				require.NoError(t, err)
				if bc.peer == zmq.PULL {
					require.NoError(t, peer.SetRcvhwm(1))
				}
				ep := zmqtest.Bind(t, peer, tr)
				s, err := c.NewSocket(bc.typ)
				require.NoError(t, err)
				require.NoError(t, s.Connect(ep))
				park := parked(s)
				done := make(chan error, 1)
				go func() { done <- bc.call(s) }()
				waitFor(t, park, "the call to park")
				start := time.Now()
				require.NoError(t, c.Term())
				err = waitFor(t, done, "Term to wake the call")
				assert.ErrorIs(t, err, net.ErrClosed)
				assert.Less(t, time.Since(start), prompt)
				assert.NoError(t, c.Term(), "Term is idempotent")
				assert.NoError(t, s.Close())
			})
		})
	}
}

func TestTermWithOpenSocketsAndMonitors(t *testing.T) {
	for _, tr := range zmqtest.Transports {
		t.Run(tr, func(t *testing.T) {
			// Repeated: closing a context under a live monitor is where
			// libzmq crashes when it is done in the wrong order.
			for range 20 {
				c, err := zmq.NewContext(zmq.WithTermTimeout(5 * time.Second))
				require.NoError(t, err)
				rep, err := c.NewSocket(zmq.REP)
				require.NoError(t, err)
				ep := zmqtest.Bind(t, rep, tr)
				req, err := c.NewSocket(zmq.REQ)
				require.NoError(t, err)
				m1, err := rep.StartMonitor(zmq.EVENT_ALL)
				require.NoError(t, err)
				m2, err := req.StartMonitor(zmq.EVENT_ALL)
				require.NoError(t, err)
				require.NoError(t, req.Connect(ep))
				_, err = req.Send("unanswered", 0)
				require.NoError(t, err)
				// Received, so Term does not linger over an undelivered
				// request; left unanswered, with both monitors live.
				require.Equal(t, []string{"unanswered"}, recvWithin(t, rep, prompt))

				start := time.Now()
				require.NoError(t, c.Term())
				assert.Less(t, time.Since(start), prompt)
				for _, m := range []*zmq.Monitor{m1, m2} {
					for range m.Events() {
					}
					assert.NoError(t, m.Close())
				}
				require.NoError(t, c.Term())
			}
		})
	}
}

// TestTermTimesOutOnLeakedRawSocket: a socket made through Raw is not
// zmqguard's to close, so Term cannot finish while it is open; it gives up
// after the term timeout instead of hanging, and a later Term, once the
// socket is closed, finishes the job.
func TestTermTimesOutOnLeakedRawSocket(t *testing.T) {
	const termTimeout = 100 * time.Millisecond
	c, err := zmq.NewContext(zmq.WithTermTimeout(termTimeout))
	require.NoError(t, err)
	raw, err := c.Raw().NewSocket(zmq4.PAIR)
	require.NoError(t, err)
	ours, err := c.NewSocket(zmq.PAIR)
	require.NoError(t, err)

	start := time.Now()
	err = c.Term()
	el := time.Since(start)
	assert.ErrorIs(t, err, zmq.ErrTermTimeout)
	assert.EqualError(t, err, "zmq: context termination timed out")
	assert.GreaterOrEqual(t, el, termTimeout)
	assert.Less(t, el, termTimeout+prompt)
	_, err = ours.Recv(zmq.DONTWAIT)
	assert.ErrorIs(t, err, net.ErrClosed, "Term closed zmqguard's sockets")

	start = time.Now()
	assert.ErrorIs(t, c.Term(), zmq.ErrTermTimeout, "still held up")
	assert.GreaterOrEqual(t, time.Since(start), termTimeout)

	// pebbe-based code sees ETERM on its socket and closes it.
	_, err = raw.Recv(0)
	assert.Equal(t, zmq.ETERM, zmq.AsErrno(err))
	require.NoError(t, raw.Close())
	assert.NoError(t, c.Term(), "termination completes; its goroutine is gone")
	assert.NoError(t, c.Term())
}

func TestTermBoundedByLinger(t *testing.T) {
	const linger = 100 * time.Millisecond
	c, err := zmq.NewContext(zmq.WithLinger(linger), zmq.WithTermTimeout(5*time.Second))
	require.NoError(t, err)
	push, err := c.NewSocket(zmq.PUSH)
	require.NoError(t, err)
	got, err := push.GetLinger()
	require.NoError(t, err)
	assert.Equal(t, linger, got)
	// Queue messages for a peer that never comes.
	require.NoError(t, push.Connect(zmqtest.Endpoint(t, "ipc")))
	for range 10 {
		_, err := push.Send("undeliverable", zmq.DONTWAIT)
		require.NoError(t, err)
	}
	start := time.Now()
	require.NoError(t, c.Term())
	assert.Less(t, time.Since(start), linger+prompt)
}

// TestTermWakesPoller: Poller.Poll blocks inside libzmq; Term must wake
// it with ETERM before closing its sockets (closing them under zmq_poll
// would be a use after free).
func TestTermWakesPoller(t *testing.T) {
	for range 20 {
		c, err := zmq.NewContext(zmq.WithTermTimeout(5 * time.Second))
		require.NoError(t, err)
		a, err := c.NewSocket(zmq.PULL)
		require.NoError(t, err)
		b, err := c.NewSocket(zmq.PAIR)
		require.NoError(t, err)
		p := zmq.NewPoller()
		p.Add(a, zmq.POLLIN)
		p.Add(b, zmq.POLLIN)
		done := make(chan error, 1)
		go func() {
			_, err := p.Poll(-1)
			done <- err
		}()
		waitInC(t, "func_zmq4_poll")
		require.NoError(t, c.Term())
		err = waitFor(t, done, "Term to wake Poll")
		assert.ErrorIs(t, err, net.ErrClosed)
		_, err = p.Poll(0)
		assert.ErrorIs(t, err, net.ErrClosed, "polling a terminated context")
	}
}

// TestForgottenContextDoesNotBlockFinalizers: a context dropped without
// Term, with a socket still open, must not hang the runtime's finalizer
// goroutine in zmq_ctx_term (pebbe/zmq4 terminates contexts in finalizers;
// zmqguard does not close sockets in finalizers, so that would block for
// good and no finalizer in the process would ever run again).
func TestForgottenContextDoesNotBlockFinalizers(t *testing.T) {
	func() {
		c, err := zmq.NewContext()
		require.NoError(t, err)
		_, err = c.NewSocket(zmq.PULL)
		require.NoError(t, err)
	}()
	runtime.GC() // queues the forgotten context's finalizers, if any
	ran := make(chan struct{})
	sentinel := new([64]byte)
	runtime.SetFinalizer(sentinel, func(*[64]byte) { close(ran) })
	sentinel = nil
	runtime.GC()
	waitFor(t, ran, "a finalizer queued after the forgotten context's")
}

// TestCloseRacingAReceiveThatStarts: Close while another goroutine is just
// starting a blocking receive (creating the socket's waiter, entering its
// first readiness check) returns, and so does the receive. Close used to
// close a waiter created at that moment while holding the socket's lock,
// which the receive's readiness check was waiting for: a deadlock.
func TestCloseRacingAReceiveThatStarts(t *testing.T) {
	c := zmqtest.Context(t)
	for i := range 300 {
		s := zmqtest.Socket(t, c, zmq.PULL)
		done := make(chan error, 1)
		go func() {
			_, err := s.RecvBytes(0)
			done <- err
		}()
		if i%2 == 1 {
			runtime.Gosched()
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		for _, ch := range []chan error{closed, done} {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("iteration %d: Close or the receive hung", i)
			}
		}
	}
}
