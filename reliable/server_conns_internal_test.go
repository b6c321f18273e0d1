package reliable

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// echoServing serves an echo handler on tcp, on a context of its own,
// until the test ends.
func echoServing(t *testing.T, opts ...ServerOption) (*zmq.Context, *Server) {
	t.Helper()
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	require.NoError(t, err)
	srv, err := Listen(zctx, "tcp://127.0.0.1:*", func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil }, opts...)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
		zctx.Term()
	})
	return zctx, srv
}

// TestConnWatchResync: when the monitor loses events, the watch rebuilds
// its account from the process's descriptors: a connection it never heard
// of is adopted (and measured from then on), one that is gone is
// forgotten.
func TestConnWatchResync(t *testing.T) {
	zctx, srv := echoServing(t)

	d, err := zctx.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Connect(srv.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, timeout.SendMessage(ctx, d, "", "hello"))
	_, err = timeout.RecvMessage(ctx, d)
	require.NoError(t, err)

	w := srv.conns
	w.mu.Lock()
	require.Len(t, w.conns, 1)
	var fd int
	var ino uint64
	for f, c := range w.conns {
		fd, ino = f, c.ino
		w.forget(c) // as if its EVENT_ACCEPTED had been lost
	}
	w.conns[1<<20] = &conn{fd: 1 << 20, ino: 1} // and a DISCONNECTED
	w.live++
	w.mu.Unlock()

	w.resync()
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Len(t, w.conns, 1)
	if c := w.conns[fd]; assert.NotNil(t, c) {
		assert.Equal(t, ino, c.ino)
	}
	assert.Equal(t, 1, w.live)
}

// TestConnWatchKnowsItsPorts: resync finds connections by the port
// they were accepted on, so the watch must know the server's ports
// before any EVENT_ACCEPTED arrives (the one it lost, say): the endpoint
// Listen bound, one bound before NewServer, and one bound after it.
func TestConnWatchKnowsItsPorts(t *testing.T) {
	portOf := func(ep string) int {
		port, err := strconv.Atoi(ep[strings.LastIndexByte(ep, ':')+1:])
		require.NoError(t, err)
		return port
	}
	knows := func(w *connWatch, port int) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.ports[port]
	}
	zctx, srv := echoServing(t)
	assert.True(t, knows(srv.conns, portOf(srv.Addr())), "the endpoint Listen bound")

	sock, err := zctx.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	require.NoError(t, sock.Bind("tcp://127.0.0.1:*"))
	before, err := sock.GetLastEndpoint()
	require.NoError(t, err)
	s2, err := NewServer(sock, func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil })
	require.NoError(t, err)
	defer s2.Close()
	assert.True(t, knows(s2.conns, portOf(before)), "an endpoint bound before NewServer")

	require.NoError(t, sock.Bind("tcp://127.0.0.1:*"))
	after, err := sock.GetLastEndpoint()
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return knows(s2.conns, portOf(after)) }, 5*time.Second, time.Millisecond,
		"an endpoint bound after NewServer (EVENT_LISTENING)")
}

// TestConnWatchAdoptsOnlyItsOwnSockets: a descriptor the watch learns of
// from a request or a late EVENT_ACCEPTED may have been closed by libzmq
// and reused by another socket of the process. The watch adopts only a
// socket accepted on one of the server's endpoints, tcp or ipc, so it
// never measures or sheds another's connection, nor a socket of another
// kind.
func TestConnWatchAdoptsOnlyItsOwnSockets(t *testing.T) {
	fdOf := func(c syscall.Conn) int {
		raw, err := c.SyscallConn()
		require.NoError(t, err)
		var fd int
		require.NoError(t, raw.Control(func(f uintptr) { fd = int(f) }))
		return fd
	}
	// adopts reports whether the watch takes fd on, by a request
	// (adopt) or by a late EVENT_ACCEPTED (accepted), forgetting it again.
	adopts := func(w *connWatch, fd int) bool {
		w.accepted(fd)
		w.mu.Lock()
		defer w.mu.Unlock()
		byEvent := w.conns[fd]
		if byEvent != nil {
			w.forget(byEvent)
		}
		byRequest := w.adopt(fd)
		if byRequest != nil {
			w.forget(byRequest)
		}
		assert.Equal(t, byEvent != nil, byRequest != nil, "both ways agree")
		return byRequest != nil
	}

	// Another listener of the process, and a connection to it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	out, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer out.Close()
	in, err := ln.Accept()
	require.NoError(t, err)
	defer in.Close()
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	nl, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW, syscall.NETLINK_ROUTE)
	require.NoError(t, err)
	defer syscall.Close(nl)

	for _, endpoint := range []string{"tcp://127.0.0.1:*", "ipc://*"} {
		t.Run(endpoint[:3], func(t *testing.T) {
			zctx, err := zmq.NewContext(zmq.WithLinger(0))
			require.NoError(t, err)
			t.Cleanup(func() { zctx.Term() })
			srv, err := Listen(zctx, endpoint, func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil })
			require.NoError(t, err)
			t.Cleanup(func() { srv.Close() })
			w := srv.conns

			connectDealer(t, zctx, srv.Addr())
			var own int
			require.Eventually(t, func() bool {
				w.mu.Lock()
				defer w.mu.Unlock()
				for fd := range w.conns {
					own = fd
				}
				return len(w.conns) == 1
			}, 5*time.Second, time.Millisecond, "the server's connection accepted")
			w.mu.Lock()
			w.forget(w.conns[own])
			w.mu.Unlock()

			assert.True(t, adopts(w, own), "its own connection")
			assert.False(t, adopts(w, fdOf(out.(*net.TCPConn))), "an outgoing tcp connection")
			assert.False(t, adopts(w, fdOf(in.(*net.TCPConn))), "a connection another listener accepted")
			assert.False(t, adopts(w, pair[0]), "an unnamed unix socket")
			assert.False(t, adopts(w, nl), "a socket of another kind")
		})
	}
}

// TestConnWatchAccounting: after a few thousand requests of assorted
// sizes, what the watch counts as read from a connection matches what it
// counts as delivered, to within the handshake: its model of the wire
// (ZMTP framing, and CURVE's MESSAGE command around each frame) is exact,
// so nothing accumulates over a connection's life. The same for replies.
func TestConnWatchAccounting(t *testing.T) {
	for _, curve := range []bool{false, true} {
		t.Run(map[bool]string{false: "null", true: "curve"}[curve], func(t *testing.T) {
			var opts []ServerOption
			serverPub, serverSec, err := zmq.NewCurveKeypair()
			require.NoError(t, err)
			if curve {
				opts = append(opts, WithServerSocketSetup(func(s *zmq.Socket) error { return s.ServerAuthCurve(zmq.CURVE_ALLOW_ANY, serverSec) }))
			}
			zctx, srv := echoServing(t, opts...)

			d, err := zctx.NewSocket(zmq.DEALER)
			require.NoError(t, err)
			defer d.Close()
			if curve {
				pub, sec, err := zmq.NewCurveKeypair()
				require.NoError(t, err)
				require.NoError(t, d.ClientAuthCurve(serverPub, pub, sec))
			}
			require.NoError(t, d.Connect(srv.Addr()))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sizes := []int{0, 1, 200, 222, 223, 255, 256, 300, 4000}
			for i := range 3000 {
				a, b := make([]byte, sizes[i%len(sizes)]), make([]byte, sizes[(i/3)%len(sizes)])
				require.NoError(t, timeout.SendMessage(ctx, d, "", a, b))
				_, err = timeout.RecvMessage(ctx, d)
				require.NoError(t, err)
			}
			w := srv.conns
			w.mu.Lock()
			defer w.mu.Unlock()
			require.Len(t, w.conns, 1)
			for _, c := range w.conns {
				cnt, ok := readSockCounters(c.fd)
				require.True(t, ok)
				in, out := cnt.read-c.delivered, cnt.written-c.sent
				t.Logf("read %d, delivered %d: %d apart; written %d, sent %d: %d apart", cnt.read, c.delivered, in, cnt.written, c.sent, out)
				assert.InDelta(t, 0, in, 1024, "read and delivered drift apart")
				assert.InDelta(t, 0, out, 1024, "written and sent drift apart")
			}
		})
	}
}

// TestConnWatchAdoptionKeepsTheCap: a connection the watch learns of
// late, by its first request or by a resync after lost monitor events,
// counts against the cap like one whose EVENT_ACCEPTED it saw: at the cap
// the oldest idle connection is shed. (Adoption used to only count, and a
// server under attack once held one connection over its cap.)
func TestConnWatchAdoptionKeepsTheCap(t *testing.T) {
	for _, how := range []string{"request", "resync"} {
		t.Run(how, func(t *testing.T) {
			zctx, srv := echoServing(t, WithMaxConnections(1))
			w := srv.conns
			watched := func(n int) func() bool {
				return func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.conns) == n }
			}

			busy := connectDealer(t, zctx, srv.Addr())
			require.Eventually(t, watched(1), 5*time.Second, time.Millisecond, "busy accepted")
			echoOnce(t, busy)
			w.mu.Lock()
			for _, c := range w.conns {
				w.forget(c) // as if its EVENT_ACCEPTED had been lost
			}
			w.mu.Unlock()

			connectDealer(t, zctx, srv.Addr()) // idle: sends nothing
			require.Eventually(t, watched(1), 5*time.Second, time.Millisecond, "idle accepted")
			w.mu.Lock()
			var idleConn *conn
			for _, c := range w.conns {
				idleConn = c
			}
			w.mu.Unlock()

			switch how {
			case "request":
				echoOnce(t, busy) // the watch adopts busy's connection
			case "resync":
				w.resync()
			}
			w.mu.Lock()
			assert.Equal(t, 1, w.live, "live connections")
			assert.True(t, idleConn.shed, "the idle connection made room")
			w.mu.Unlock()
			assert.LessOrEqual(t, srv.Stats().Connections, 1)
			echoOnce(t, busy)
		})
	}
}

// connectDealer returns a DEALER connected to addr, closed when the test
// ends.
func connectDealer(t *testing.T, zctx *zmq.Context, addr string) *zmq.Socket {
	t.Helper()
	d, err := zctx.NewSocket(zmq.DEALER)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	require.NoError(t, d.Connect(addr))
	return d
}

// echoOnce sends a request in the zguide envelope on d and awaits its echo.
func echoOnce(t *testing.T, d *zmq.Socket) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, timeout.SendMessage(ctx, d, "", "hello"))
	rep, err := timeout.RecvMessage(ctx, d)
	require.NoError(t, err)
	require.Equal(t, []string{"", "hello"}, rep)
}
