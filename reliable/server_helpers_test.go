package reliable_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/procstat"
	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// served is a running server under test.
type served struct {
	t    testing.TB
	srv  *reliable.Server
	addr string

	once sync.Once
	errc chan error
	err  error
}

// serveOn starts srv.Serve in a goroutine; the test's cleanup closes the
// server and waits for Serve to return.
func serveOn(t testing.TB, srv *reliable.Server, addr string) *served {
	t.Helper()
	s := &served{t: t, srv: srv, addr: addr, errc: make(chan error, 1)}
	go func() { s.errc <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		s.wait()
	})
	return s
}

// listen starts a Listen-created server over transport.
func listen(t testing.TB, zctx *zmq.Context, transport string, h reliable.Handler, opts ...reliable.ServerOption) *served {
	t.Helper()
	srv, err := reliable.Listen(zctx, zmqtest.Endpoint(t, transport), h, opts...)
	require.NoError(t, err)
	return serveOn(t, srv, srv.Addr())
}

// wait returns what Serve returned, waiting at most 10 s for it.
func (s *served) wait() error {
	s.once.Do(func() {
		select {
		case s.err = <-s.errc:
		case <-time.After(10 * time.Second):
			s.err = errors.New("Serve did not return within 10s")
			s.t.Errorf("%v", s.err)
		}
	})
	return s.err
}

// echoUpper replies with the request's frames upper-cased.
func echoUpper(_ context.Context, req [][]byte) ([][]byte, error) {
	out := make([][]byte, len(req))
	for i, f := range req {
		out[i] = []byte(strings.ToUpper(string(f)))
	}
	return out, nil
}

// peer is a protocol-aware test client: a DEALER that frames requests
// with an ID frame by hand, so tests control ids and attempts exactly.
type peer struct {
	t      testing.TB
	sock   *zmq.Socket
	client uint64
}

// newPeer returns a peer connected to addr (not connected when addr is
// empty, for tests that configure the socket first).
func newPeer(t testing.TB, zctx *zmq.Context, addr string) *peer {
	t.Helper()
	s := zmqtest.Socket(t, zctx, zmq.DEALER)
	if addr != "" {
		require.NoError(t, s.Connect(addr))
	}
	return &peer{t: t, sock: s, client: rand.Uint64()}
}

func (p *peer) id(seq uint64, attempt uint32) wire.RequestID {
	return wire.RequestID{Client: p.client, Seq: seq, Attempt: attempt}
}

// send sends one attempt of request seq.
func (p *peer) send(seq uint64, attempt uint32, body ...string) {
	p.t.Helper()
	id := p.id(seq, attempt).AppendFrame(nil, wire.KindRequest)
	msg := []interface{}{id, ""}
	for _, b := range body {
		msg = append(msg, b)
	}
	err := timeout.SendMessage(context.Background(), p.sock, msg...)
	require.NoError(p.t, err)
}

// reply is what a peer received.
type reply struct {
	id   wire.RequestID
	kind wire.Kind
	body []string
}

// recv receives one reply within d.
func (p *peer) recv(d time.Duration) (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msg, err := timeout.RecvMessage(ctx, p.sock)
	if err != nil {
		return reply{}, err
	}
	if len(msg) < 2 || msg[1] != "" {
		return reply{}, errors.New("reply without ID frame and delimiter: " + strconv.Quote(strings.Join(msg, "|")))
	}
	id, kind, err := wire.ParseIDFrame([]byte(msg[0]))
	if err != nil {
		return reply{}, err
	}
	return reply{id: id, kind: kind, body: msg[2:]}, nil
}

// mustRecv is recv that fails the test on error.
func (p *peer) mustRecv(d time.Duration) reply {
	p.t.Helper()
	r, err := p.recv(d)
	require.NoError(p.t, err)
	return r
}

// call sends attempt 1 of seq and returns its reply.
func (p *peer) call(seq uint64, body ...string) reply {
	p.t.Helper()
	p.send(seq, 1, body...)
	r := p.mustRecv(5 * time.Second)
	require.Equal(p.t, p.id(seq, 1), r.id)
	return r
}

// counter counts handler executions per request body.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[key]++
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
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

// rssKiB returns the process's resident set size (VmRSS) in KiB.
func rssKiB(t testing.TB) int64 {
	t.Helper()
	kib := procstat.RSSKiB(os.Getpid())
	if kib < 0 {
		t.Fatal("no VmRSS in /proc/self/status")
	}
	return kib
}
