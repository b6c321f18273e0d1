package zmq_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/zmq"
)

// awaitEvent reads m's events until one of want arrives, and returns it.
func awaitEvent(t *testing.T, m *zmq.Monitor, want ...zmq.Event) zmq.MonitorEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	var seen []zmq.Event
	for {
		select {
		case ev, ok := <-m.Events():
			require.True(t, ok, "monitor stopped while waiting for %v (saw %v)", want, seen)
			for _, w := range want {
				if ev.Event == w {
					return ev
				}
			}
			seen = append(seen, ev.Event)
		case <-timeout:
			t.Fatalf("no %v within 5s (saw %v)", want, seen)
		}
	}
}

// requireStopped checks that m's channel is closed (after draining it).
func requireStopped(t *testing.T, m *zmq.Monitor) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-m.Events():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("monitor channel not closed")
		}
	}
}

// freeEndpoint returns an endpoint of transport that nobody is bound to
// yet, for a peer to bind after something connected to it.
func freeEndpoint(t *testing.T, tr string) string {
	t.Helper()
	if tr != "tcp" {
		return zmqtest.Endpoint(t, tr)
	}
	// Reserve a port with a listener that closes synchronously (libzmq
	// closes its listeners asynchronously, after zmq_close returns).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	return "tcp://" + l.Addr().String()
}

var connectedEvents = []zmq.Event{zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED}

func TestMonitorConnectDisconnect(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			c := zmqtest.Context(t)
			ep := freeEndpoint(t, tr)
			push := zmqtest.Socket(t, c, zmq.PUSH)
			require.NoError(t, push.SetReconnectIvl(10*time.Millisecond))
			m, err := push.StartMonitor(zmq.EVENT_ALL)
			require.NoError(t, err)
			require.NoError(t, push.Connect(ep))

			pull := zmqtest.Socket(t, c, zmq.PULL)
			require.NoError(t, pull.Bind(ep))
			ev := awaitEvent(t, m, connectedEvents...)
			assert.Equal(t, ep, ev.Addr)
			assert.False(t, ev.At.IsZero())
			assert.NotEmpty(t, ev.String())

			require.NoError(t, pull.Close())
			ev = awaitEvent(t, m, zmq.EVENT_DISCONNECTED)
			assert.Equal(t, ep, ev.Addr)

			require.NoError(t, m.Close())
			requireStopped(t, m)
			require.NoError(t, m.Close(), "idempotent")
			assert.Zero(t, m.Dropped())
		})
	}
}

func TestMonitorStoppedBySocketClose(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.DEALER)
	m, err := s.StartMonitor(zmq.EVENT_ALL)
	require.NoError(t, err)
	zmqtest.Bind(t, s, "tcp")
	awaitEvent(t, m, zmq.EVENT_LISTENING)
	require.NoError(t, s.Close())
	requireStopped(t, m)
	assert.NoError(t, m.Close(), "closing after the socket is fine")
}

func TestSecondMonitorRefused(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.DEALER)
	m, err := s.StartMonitor(zmq.EVENT_ALL)
	require.NoError(t, err)
	_, err = s.StartMonitor(zmq.EVENT_CONNECTED)
	assert.ErrorIs(t, err, zmq.ErrMonitorActive)
	require.NoError(t, m.Close())
	requireStopped(t, m)

	// Once stopped, a new one may start.
	m2, err := s.StartMonitor(zmq.EVENT_ALL)
	require.NoError(t, err)
	zmqtest.Bind(t, s, "ipc")
	awaitEvent(t, m2, zmq.EVENT_LISTENING)
	require.NoError(t, m2.Close())
}

func TestMonitorFollowsReset(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			c := zmqtest.Context(t)
			pull := zmqtest.Socket(t, c, zmq.PULL)
			ep := zmqtest.Bind(t, pull, tr)
			push := zmqtest.Socket(t, c, zmq.PUSH)
			m, err := push.StartMonitor(zmq.EVENT_ALL)
			require.NoError(t, err)
			require.NoError(t, push.Connect(ep))
			awaitEvent(t, m, connectedEvents...)

			require.NoError(t, push.Reset())
			// The new libzmq socket connects again; the same Monitor
			// reports it.
			ev := awaitEvent(t, m, connectedEvents...)
			assert.Equal(t, ep, ev.Addr)
			_, err = push.Send("after reset", 0)
			require.NoError(t, err)
			assert.Equal(t, []string{"after reset"}, recvWithin(t, pull, 5*time.Second))

			require.NoError(t, pull.Close())
			awaitEvent(t, m, zmq.EVENT_DISCONNECTED)
			require.NoError(t, push.Close())
			requireStopped(t, m)
		})
	}
}

// TestMonitorWithPebbeAPI: the pebbe-style Monitor + RecvEvent pair works
// on zmqguard sockets.
func TestMonitorWithPebbeAPI(t *testing.T) {
	c := zmqtest.Context(t)
	s := zmqtest.Socket(t, c, zmq.PULL)
	const addr = "inproc://pebbe-style-monitor"
	require.NoError(t, s.Monitor(addr, zmq.EVENT_LISTENING))
	ev := zmqtest.Socket(t, c, zmq.PAIR)
	require.NoError(t, ev.Connect(addr))
	ep := zmqtest.Bind(t, s, "tcp")
	require.NoError(t, ev.SetRcvtimeo(5*time.Second))
	typ, a, _, err := ev.RecvEvent(0)
	require.NoError(t, err)
	assert.Equal(t, zmq.EVENT_LISTENING, typ)
	assert.Equal(t, ep, a)
	require.NoError(t, s.Monitor("", 0))
}
