// Command curve shows an encrypted client and server: reliable.Listen with
// CURVE keys set through WithServerSocketSetup, and reliable.Client with
// the server's public key set through WithSocketSetup. A relay between
// them records the bytes on the wire, to show that the request and reply
// never appear there in clear; a client that does not know the server's
// key gets no reply and gives up.
//
// Run it with `(cd examples && go run ./curve)`.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "curve:", err)
		os.Exit(1)
	}
}

const secret = "card 4111-1111-1111-1111"

func main() {
	if !zmq.HasCurve() {
		fmt.Println("libzmq was built without CURVE; nothing to show")
		return
	}
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	serverPub, serverSec, err := zmq.NewCurveKeypair()
	check(err)
	clientPub, clientSec, err := zmq.NewCurveKeypair()
	check(err)
	fmt.Println("server public key:", serverPub)
	fmt.Println("client public key:", clientPub)

	// Without a ZAP handler libzmq admits every CURVE client that knows the
	// server's public key. The context's Authenticator admits only the
	// client keys it is given.
	auth, err := zctx.StartAuth()
	check(err)
	defer auth.Stop()
	auth.AllowCurve("curve-example", clientPub)

	srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*",
		func(ctx context.Context, req [][]byte) ([][]byte, error) {
			return [][]byte{append([]byte("accepted "), req[0]...)}, nil
		},
		reliable.WithServerSocketSetup(func(s *zmq.Socket) error {
			return s.ServerAuthCurve("curve-example", serverSec)
		}))
	check(err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()

	tap := newTap(srv.Addr())
	defer tap.close()
	fmt.Println("server on", srv.Addr(), "- clients connect through a recording relay on", tap.addr())

	// The encrypted client knows the server's public key.
	c, err := reliable.NewClient(zctx, []string{tap.addr()},
		reliable.WithAttemptTimeout(2*time.Second),
		reliable.WithSocketSetup(func(s *zmq.Socket) error {
			return s.ClientAuthCurve(serverPub, clientPub, clientSec)
		}))
	check(err)
	rep, err := c.Request(context.Background(), []byte(secret))
	check(err)
	check(c.Close())
	fmt.Printf("CURVE client: reply %q\n", rep[0])
	fmt.Printf("request visible on the wire: %v\n", tap.saw(secret))
	fmt.Printf("reply visible on the wire: %v\n", tap.saw("accepted"))
	fmt.Printf("bytes relayed: %d\n", tap.n())

	// A client without the server's key fails the handshake: no reply.
	plain, err := reliable.NewClient(zctx, []string{srv.Addr()},
		reliable.WithAttemptTimeout(200*time.Millisecond), reliable.WithMaxAttempts(2))
	check(err)
	_, err = plain.Request(context.Background(), []byte("let me in"))
	check(plain.Close())
	fmt.Printf("client without CURVE: %v (no reply: %v)\n", err, errors.Is(err, reliable.ErrNoReply))

	// A CURVE client that knows the server's key but whose own key the
	// Authenticator does not know is refused in the handshake: no reply.
	strangerPub, strangerSec, err := zmq.NewCurveKeypair()
	check(err)
	stranger, err := reliable.NewClient(zctx, []string{srv.Addr()},
		reliable.WithAttemptTimeout(200*time.Millisecond), reliable.WithMaxAttempts(2),
		reliable.WithSocketSetup(func(s *zmq.Socket) error {
			return s.ClientAuthCurve(serverPub, strangerPub, strangerSec)
		}))
	check(err)
	_, err = stranger.Request(context.Background(), []byte("let me in too"))
	check(stranger.Close())
	fmt.Printf("CURVE client with an unknown key: no reply: %v\n", errors.Is(err, reliable.ErrNoReply))

	check(srv.Shutdown(context.Background()))
	<-served
	st := srv.Stats()
	fmt.Printf("server: %d request(s) received, %d replied\n", st.Requests, st.Replies)
}

// tap is a TCP relay that records the bytes passing through it.
type tap struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	seen   bytes.Buffer
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newTap(endpoint string) *tap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	t := &tap{ln: ln, target: endpoint[len("tcp://"):]}
	t.wg.Add(1)
	go t.accept()
	return t
}

func (t *tap) addr() string { return "tcp://" + t.ln.Addr().String() }

func (t *tap) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", t.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		t.mu.Lock()
		t.conns = append(t.conns, c, u)
		t.mu.Unlock()
		t.wg.Add(2)
		go t.pipe(u, c)
		go t.pipe(c, u)
	}
}

func (t *tap) pipe(dst, src net.Conn) {
	defer t.wg.Done()
	_, _ = io.Copy(dst, io.TeeReader(src, writerFunc(func(p []byte) (int, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.seen.Write(p)
	})))
	_ = dst.Close()
}

func (t *tap) saw(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.seen.Bytes(), []byte(s))
}

func (t *tap) n() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen.Len()
}

func (t *tap) close() {
	_ = t.ln.Close()
	t.mu.Lock()
	for _, c := range t.conns {
		_ = c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
