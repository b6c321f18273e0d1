package reliable_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zmqguard/zmqguard/internal/zmqtest"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// sniffer is a TCP relay that records every byte passing through it.
type sniffer struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer
	wg   sync.WaitGroup
}

func newSniffer(t *testing.T, target string) *sniffer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &sniffer{ln: ln}
	var conns []net.Conn
	var cmu sync.Mutex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, c, u)
			cmu.Unlock()
			s.wg.Add(2)
			go s.pipe(u, c)
			go s.pipe(c, u)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *sniffer) pipe(dst, src net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.seen.Write(buf[:n])
			s.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (s *sniffer) addr() string { return "tcp://" + s.ln.Addr().String() }

func (s *sniffer) saw(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.seen.Bytes(), []byte(text))
}

func curveKeys(t *testing.T) (pub, sec string) {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	require.NoError(t, err)
	return pub, sec
}

// TestServerCurveEncryption runs a server with CURVE and shows, with a
// relay recording the TCP stream, that request and reply bodies are not
// on the wire in the clear (and that they are without CURVE).
func TestServerCurveEncryption(t *testing.T) {
	if !zmq.HasCurve() {
		t.Skip("libzmq built without CURVE")
	}
	const secret = "top-secret-payload-4711"
	serverPub, serverSec := curveKeys(t)
	clientPub, clientSec := curveKeys(t)

	for _, curve := range []bool{true, false} {
		name := map[bool]string{true: "CURVE", false: "NULL"}[curve]
		t.Run(name, func(t *testing.T) {
			zctx := zmqtest.Context(t)
			var opts []reliable.ServerOption
			if curve {
				opts = append(opts, reliable.WithServerSocketSetup(func(s *zmq.Socket) error {
					return s.ServerAuthCurve("curve-test", serverSec)
				}))
			}
			s := listen(t, zctx, "tcp", echoUpper, opts...)
			sn := newSniffer(t, strings.TrimPrefix(s.addr, "tcp://"))

			d := zmqtest.Socket(t, zctx, zmq.DEALER)
			if curve {
				require.NoError(t, d.ClientAuthCurve(serverPub, clientPub, clientSec))
			}
			require.NoError(t, d.Connect(sn.addr()))
			p := &peer{t: t, sock: d, client: 42}
			r := p.call(1, secret)
			assert.Equal(t, []string{strings.ToUpper(secret)}, r.body)
			assert.Equal(t, !curve, sn.saw(secret), "request body visible on the wire")
			assert.Equal(t, !curve, sn.saw(strings.ToUpper(secret)), "reply body visible on the wire")

			if curve {
				// A client without CURVE cannot talk to the server at all.
				null := newPeer(t, zctx, s.addr)
				null.send(1, 1, "hello")
				_, err := null.recv(300 * time.Millisecond)
				assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
				assert.EqualValues(t, 1, s.srv.Stats().Requests)
			}
		})
	}
}

// TestServerZAPAllowDeny runs ZAP (pebbe/zmq4's handler, which serves the
// default context only, so the server socket is made with zmq.NewSocket)
// with a CURVE key allow list and an address deny list. Denied clients get
// no reply, their requests time out, and the handler never sees them;
// allowed clients get replies.
func TestServerZAPAllowDeny(t *testing.T) {
	if !zmq.HasCurve() {
		t.Skip("libzmq built without CURVE")
	}
	serverPub, serverSec := curveKeys(t)
	allowedPub, allowedSec := curveKeys(t)
	deniedPub, deniedSec := curveKeys(t)

	// Policies are set before AuthStart: pebbe's handler goroutine reads
	// them without locking.
	zmq.AuthCurveAdd("zg-curve", allowedPub)
	zmq.AuthDeny("zg-ip", "127.0.0.2")
	require.NoError(t, zmq.AuthStart())
	t.Cleanup(zmq.AuthStop)

	newServer := func(t *testing.T, setup func(*zmq.Socket) error) *served {
		sock, err := zmq.NewSocket(zmq.ROUTER) // default context, where ZAP runs
		require.NoError(t, err)
		require.NoError(t, setup(sock))
		require.NoError(t, sock.Bind("tcp://127.0.0.1:*"))
		addr, err := sock.GetLastEndpoint()
		require.NoError(t, err)
		srv, err := reliable.NewServer(sock, echoUpper)
		require.NoError(t, err)
		return serveOn(t, srv, addr)
	}
	// expectDenied waits for the client's handshake to be refused by ZAP,
	// then checks that its request gets no reply.
	expectDenied := func(t *testing.T, p *peer, mon *zmq.Monitor) {
		t.Helper()
		p.send(1, 1, "let me in")
		timeout := time.After(5 * time.Second)
	wait:
		for {
			select {
			case ev := <-mon.Events():
				if ev.Event == zmq.EVENT_HANDSHAKE_FAILED_AUTH {
					assert.Equal(t, 400, ev.Value, "ZAP status code")
					break wait
				}
			case <-timeout:
				t.Fatal("no EVENT_HANDSHAKE_FAILED_AUTH for the denied client")
			}
		}
		_, err := p.recv(300 * time.Millisecond)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "a denied client's request times out")
	}

	t.Run("CurveKeyAllowList", func(t *testing.T) {
		zctx := zmqtest.Context(t)
		s := newServer(t, func(s *zmq.Socket) error { return s.ServerAuthCurve("zg-curve", serverSec) })

		denied := newPeer(t, zctx, "")
		require.NoError(t, denied.sock.ClientAuthCurve(serverPub, deniedPub, deniedSec))
		mon, err := denied.sock.StartMonitor(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
		require.NoError(t, err)
		require.NoError(t, denied.sock.Connect(s.addr))
		expectDenied(t, denied, mon)

		allowed := newPeer(t, zctx, "")
		require.NoError(t, allowed.sock.ClientAuthCurve(serverPub, allowedPub, allowedSec))
		require.NoError(t, allowed.sock.Connect(s.addr))
		for seq := uint64(1); seq <= 3; seq++ {
			assert.Equal(t, []string{"HI"}, allowed.call(seq, "hi").body)
		}
		st := s.srv.Stats()
		assert.EqualValues(t, 3, st.Requests, "only the allowed client's requests reach the server")
		assert.EqualValues(t, 3, st.Executed)
	})

	t.Run("AddressDenyList", func(t *testing.T) {
		zctx := zmqtest.Context(t)
		s := newServer(t, func(s *zmq.Socket) error { return s.SetZapDomain("zg-ip") })
		port := s.addr[strings.LastIndex(s.addr, ":")+1:]

		denied := newPeer(t, zctx, "")
		mon, err := denied.sock.StartMonitor(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
		require.NoError(t, err)
		// Connect from 127.0.0.2 (libzmq's "source;destination" syntax).
		require.NoError(t, denied.sock.Connect("tcp://127.0.0.2:0;127.0.0.1:"+port))
		expectDenied(t, denied, mon)

		allowed := newPeer(t, zctx, s.addr)
		assert.Equal(t, []string{"HI"}, allowed.call(1, "hi").body)
		assert.EqualValues(t, 1, s.srv.Stats().Requests)
	})
}
