package zmqtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/zmq"
)

// Transports are the transports every behaviour is tested over.
var Transports = []string{"inproc", "ipc", "tcp"}

var seq atomic.Uint64

// Context returns a new context that is terminated when the test ends.
// Termination is bounded: a Term that times out (a leaked socket) fails
// the test.
func Context(t testing.TB, opts ...zmq.ContextOption) *zmq.Context {
	t.Helper()
	opts = append([]zmq.ContextOption{zmq.WithTermTimeout(5 * time.Second)}, opts...)
	c, err := zmq.NewContext(opts...)
	if err != nil {
		t.Fatalf("zmq.NewContext: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Term(); err != nil {
			t.Errorf("context Term: %v", err)
		}
	})
	return c
}

// Endpoint returns an endpoint to bind for transport: a unique inproc
// name, an ipc path in the test's temp dir, or tcp://127.0.0.1:* (read the
// real port back with GetLastEndpoint after Bind).
func Endpoint(t testing.TB, transport string) string {
	t.Helper()
	n := seq.Add(1)
	switch transport {
	case "inproc":
		return fmt.Sprintf("inproc://zmqtest-%d-%d", os.Getpid(), n)
	case "ipc":
		// Unix socket paths are limited to ~107 bytes; TempDir can be long.
		dir, err := os.MkdirTemp("", "zq")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return "ipc://" + filepath.Join(dir, fmt.Sprintf("%d.sock", n))
	case "tcp":
		return "tcp://127.0.0.1:*"
	}
	t.Fatalf("unknown transport %q", transport)
	return ""
}

// FreeTCP returns n tcp endpoints on 127.0.0.1 whose ports were free a
// moment ago, for peers that must bind a known endpoint (and bind it again
// after a restart), and for endpoints where nothing listens.
func FreeTCP(t testing.TB, n int) []string {
	t.Helper()
	eps := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, "tcp://"+l.Addr().String())
		l.Close()
	}
	return eps
}

// Bind binds s to an endpoint of transport and returns the endpoint that
// peers should connect to.
func Bind(t testing.TB, s *zmq.Socket, transport string) string {
	t.Helper()
	if err := s.Bind(Endpoint(t, transport)); err != nil {
		t.Fatalf("bind %s: %v", transport, err)
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		t.Fatalf("GetLastEndpoint: %v", err)
	}
	return ep
}

// Socket creates a socket that is closed when the test ends.
func Socket(t testing.TB, c *zmq.Context, typ zmq.Type) *zmq.Socket {
	t.Helper()
	s, err := c.NewSocket(typ)
	if err != nil {
		t.Fatalf("NewSocket(%v): %v", typ, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Pair returns a bound socket of type bindType and a socket of type
// connType connected to it over transport.
func Pair(t testing.TB, c *zmq.Context, transport string, bindType, connType zmq.Type) (bound, conn *zmq.Socket) {
	t.Helper()
	bound = Socket(t, c, bindType)
	ep := Bind(t, bound, transport)
	conn = Socket(t, c, connType)
	if err := conn.Connect(ep); err != nil {
		t.Fatalf("connect %s: %v", ep, err)
	}
	return bound, conn
}

// PebbeEcho runs a raw pebbe/zmq4 ROUTER echo server on its own context,
// bound to n tcp loopback endpoints (high-water marks of 100000, so that
// a benchmark's burst is not dropped), and returns them. It stops when
// the test ends. It is the baseline server of the benchmarks: the same
// for every variant, and nothing of zmqguard's.
func PebbeEcho(t testing.TB, n int) []string {
	t.Helper()
	ctx, err := zmq4.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	r, err := ctx.NewSocket(zmq4.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	r.SetLinger(0)
	r.SetRcvhwm(100000)
	r.SetSndhwm(100000)
	eps := make([]string, 0, n)
	for range n {
		if err := r.Bind("tcp://127.0.0.1:*"); err != nil {
			t.Fatal(err)
		}
		ep, _ := r.GetLastEndpoint()
		eps = append(eps, ep)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := r.RecvMessageBytes(0)
			if err != nil {
				return // ETERM
			}
			r.SendMessage(msg)
		}
	}()
	t.Cleanup(func() {
		go ctx.Term() // wakes the server with ETERM; waits for its socket
		<-done
		r.Close()
	})
	return eps
}
