package zmq_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

func TestResetKeepsOptions(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.DEALER)
	require.NoError(t, s.SetLinger(250*time.Millisecond))
	require.NoError(t, s.SetRcvhwm(7))
	require.NoError(t, s.SetSndhwm(9))
	require.NoError(t, s.SetRcvtimeo(1500*time.Microsecond))
	require.NoError(t, s.SetIdentity("me"))
	require.NoError(t, s.SetReconnectIvl(30*time.Millisecond))
	require.NoError(t, s.SetRcvhwm(8), "set again: the last value wins")
	raw := s.Raw()

	require.NoError(t, s.Reset())
	assert.NotSame(t, raw, s.Raw(), "a new libzmq socket")
	check := func(name string, want any, got any, err error) {
		t.Helper()
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	v, err := s.GetLinger()
	check("linger", 250*time.Millisecond, v, err)
	n, err := s.GetRcvhwm()
	check("rcvhwm", 8, n, err)
	n, err = s.GetSndhwm()
	check("sndhwm", 9, n, err)
	v, err = s.GetRcvtimeo()
	check("rcvtimeo", 1500*time.Microsecond, v, err)
	id, err := s.GetIdentity()
	check("identity", "me", id, err)
	v, err = s.GetReconnectIvl()
	check("reconnect ivl", 30*time.Millisecond, v, err)
	typ, err := s.GetType()
	check("type", zmq.DEALER, typ, err)
}

func TestResetKeepsSubscriptions(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		pub, sub := zmqtest.Pair(t, c, tr, zmq.PUB, zmq.SUB)
		require.NoError(t, sub.SetSubscribe("a"))
		require.NoError(t, sub.SetSubscribe("b"))
		require.NoError(t, sub.SetUnsubscribe("b"))
		require.NoError(t, sub.Reset())

		// A subscription reaches the publisher asynchronously: publish
		// until one arrives.
		require.NoError(t, sub.SetRcvtimeo(10*time.Millisecond))
		deadline := time.Now().Add(5 * time.Second)
		for {
			require.True(t, time.Now().Before(deadline), "subscription never arrived")
			_, err := pub.Send("a-probe", 0)
			require.NoError(t, err)
			if _, err := sub.Recv(0); err == nil {
				break
			}
		}
		for _, m := range []string{"b-unsubscribed", "c-never", "a-last"} {
			_, err := pub.Send(m, 0)
			require.NoError(t, err)
		}
		require.NoError(t, sub.SetRcvtimeo(5*time.Second))
		for {
			m, err := sub.Recv(0)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(m, "a-"), "got %q", m)
			if m == "a-last" {
				break
			}
		}
	})
}

func TestResetKeepsEndpoints(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		// The bound side is reset: peers reconnect to the same address.
		pull := zmqtest.Socket(t, c, zmq.PULL)
		ep := zmqtest.Bind(t, pull, tr)
		if tr == "tcp" {
			require.True(t, strings.HasPrefix(ep, "tcp://127.0.0.1:"), ep)
		}
		push := zmqtest.Socket(t, c, zmq.PUSH)
		require.NoError(t, push.SetReconnectIvl(10*time.Millisecond))
		require.NoError(t, push.Connect(ep))
		_, err := push.Send("before", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"before"}, recvWithin(t, pull, 5*time.Second))

		for i := range 3 {
			require.NoError(t, pull.Reset(), "reset %d", i)
			got, err := pull.GetLastEndpoint()
			require.NoError(t, err)
			assert.Equal(t, ep, got, "the wildcard port is kept")
			if tr == "inproc" {
				// libzmq never reconnects inproc pipes: peers of a
				// reset inproc socket must reconnect (Reset) themselves.
				require.NoError(t, push.Reset())
			}
			// The peer notices the old connection dropped and
			// reconnects; a message it sent into the dying connection is
			// lost (PUSH does not resend), so probe until one arrives.
			probe(t, push, pull)
			_, err = push.Send(fmt.Sprint("after ", i), 0)
			require.NoError(t, err)
			assert.Equal(t, []string{fmt.Sprint("after ", i)}, recvSkippingProbes(t, pull))
		}

		// The connected side is reset too.
		require.NoError(t, push.Reset())
		_, err = push.Send("connect side", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"connect side"}, recvWithin(t, pull, 5*time.Second))
	})
}

// probe sends to push until pull receives, then drains pull.
func probe(t *testing.T, push, pull *zmq.Socket) {
	t.Helper()
	require.NoError(t, pull.SetRcvtimeo(10*time.Millisecond))
	require.NoError(t, push.SetSndtimeo(10*time.Millisecond))
	defer push.SetSndtimeo(-1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.True(t, time.Now().Before(deadline), "no message got through")
		_, err := push.Send("probe", 0)
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			continue
		}
		if _, err := pull.Recv(0); err == nil {
			break
		}
	}
}

// recvSkippingProbes receives the next message that is not a late probe.
func recvSkippingProbes(t *testing.T, pull *zmq.Socket) []string {
	t.Helper()
	for {
		if m := recvWithin(t, pull, 5*time.Second); len(m) != 1 || m[0] != "probe" {
			return m
		}
	}
}

// eventuallyBinds binds s to ep, retrying while a closed socket is still
// releasing it (libzmq closes listeners asynchronously).
func eventuallyBinds(t *testing.T, s *zmq.Socket, ep string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Bind(ep)
		if err == nil {
			return
		}
		require.ErrorIs(t, err, zmq.EADDRINUSE)
		require.True(t, time.Now().Before(deadline), "%s never became free", ep)
		time.Sleep(time.Millisecond)
	}
}

func TestResetForgetsUnbindAndDisconnect(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.PULL)
	ep1 := zmqtest.Bind(t, s, "tcp")
	ep2 := zmqtest.Bind(t, s, "tcp")
	require.NoError(t, s.Unbind(ep1))
	require.NoError(t, s.Connect("inproc://nobody-a"))
	require.NoError(t, s.Connect("inproc://nobody-b"))
	require.NoError(t, s.Disconnect("inproc://nobody-a"))
	require.NoError(t, s.Reset())
	got, err := s.GetLastEndpoint()
	require.NoError(t, err)
	assert.Equal(t, "inproc://nobody-b", got, "binds, then connects, in order")
	// ep2 is bound again; ep1 is not.
	other := zmqtest.Socket(t, c, zmq.PULL)
	assert.ErrorIs(t, other.Bind(ep2), zmq.EADDRINUSE)
	eventuallyBinds(t, other, ep1)
}

// TestResetUnsticksREQ: a REQ whose reply never came fails every later
// send with EFSM in pebbe/zmq4 (the zguide's Lazy Pirate closes and
// recreates it by hand). Reset does that in place.
func TestResetUnsticksREQ(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		c := zmqtest.Context(t)
		rep, req := zmqtest.Pair(t, c, tr, zmq.REP, zmq.REQ)
		require.NoError(t, req.SetRcvtimeo(50*time.Millisecond))
		_, err := req.Send("first", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"first"}, recvWithin(t, rep, 5*time.Second)) // and no reply
		_, err = req.Recv(0)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		_, err = req.Send("second", 0)
		require.ErrorIs(t, err, zmq.EFSM, "stuck, as in pebbe/zmq4")

		require.NoError(t, req.Reset())
		_, err = req.Send("second", 0)
		require.NoError(t, err)
		// The server answers the first request late (to a connection
		// that is gone, so it is dropped), then the second.
		_, err = rep.Send("late reply to first", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"second"}, recvWithin(t, rep, 5*time.Second))
		_, err = rep.Send("reply to second", 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"reply to second"}, recvWithin(t, req, 5*time.Second))
	})
}

// TestPollerFollowsReset: a Poller polls a socket as it is now, after a
// Reset replaced its libzmq socket (the zguide's Lazy Pirate polls its REQ
// socket and resets it after a timeout).
func TestPollerFollowsReset(t *testing.T) {
	c := zmqtest.Context(t)
	rep, req := zmqtest.Pair(t, c, "tcp", zmq.REP, zmq.REQ)
	other, _ := zmqtest.Pair(t, c, "inproc", zmq.PULL, zmq.PUSH)
	p := zmq.NewPoller()
	p.Add(other, zmq.POLLIN)
	id := p.Add(req, zmq.POLLIN)

	_, err := req.Send("lost", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"lost"}, recvWithin(t, rep, 5*time.Second)) // never answered
	polled, err := p.Poll(20 * time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, polled)

	require.NoError(t, req.Reset())
	_, err = req.Send("again", 0)
	require.NoError(t, err)
	_, err = rep.Send("late", 0) // to the connection Reset closed: dropped
	require.NoError(t, err)
	assert.Equal(t, []string{"again"}, recvWithin(t, rep, 5*time.Second))
	_, err = rep.Send("answer", 0)
	require.NoError(t, err)
	polled, err = p.Poll(5 * time.Second)
	require.NoError(t, err, "the poller must not poll the closed libzmq socket")
	require.Len(t, polled, 1)
	assert.Same(t, req, polled[0].Socket)
	assert.Equal(t, zmq.POLLIN, polled[0].Events)

	// Update and Remove keep working by id and by socket.
	prev, err := p.Update(id, zmq.POLLIN|zmq.POLLOUT)
	require.NoError(t, err)
	assert.Equal(t, zmq.POLLIN, prev)
	prev, err = p.UpdateBySocket(req, zmq.POLLIN)
	require.NoError(t, err)
	assert.Equal(t, zmq.POLLIN|zmq.POLLOUT, prev)
	msg, err := req.Recv(0)
	require.NoError(t, err)
	assert.Equal(t, "answer", msg)
	require.NoError(t, p.RemoveBySocket(req))
	assert.ErrorIs(t, p.RemoveBySocket(req), zmq.ErrorNoSocket)
}
