package mdp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/internal/ctxerr"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Client is a Majordomo client (ZeroMQ RFC 7, MDP/0.1) that never hangs:
// it sends a request for a service to a broker and returns the reply, with
// the rules of reliable.Client. Each attempt has a timeout, attempts are
// capped with backoff between them, the whole call is bounded by its
// context, and a reply that belongs to another request or an earlier
// attempt is never returned.
//
// With several brokers (a Binary Star pair) it follows the active one:
// it sends to the broker that answered last, and moves to the next after
// an attempt that failed or was refused (wire.CodePassive,
// wire.CodeOverloaded, wire.CodeShutdown: the request was not run, and is
// retried at once on the next broker, still after the backoff).
//
// MDP carries no request id, so correlation comes from the sockets: each
// request in flight has a socket of its own (a DEALER speaking the REQ
// envelope), a socket whose attempt failed is closed with LINGER 0 and
// never reused, and a socket whose attempt succeeded is kept for the next
// request. A late reply therefore reaches a closed socket, never a later
// request; a reply for another service is dropped and counted.
//
// An error reply from a zmqguard broker or worker (a reply body
// [wire.PlainErrorMarker, code, message]) is returned as a
// *reliable.RemoteError; a request that gives up returns a
// *reliable.NoReplyError. A Client is safe for concurrent use by many
// goroutines, up to WithMaxInFlight requests at once.
type Client struct {
	cfg     clientConfig
	zctx    *zmq.Context
	brokers []string
	active  atomic.Int64 // the broker tried first
	slots   chan struct{}
	closing chan struct{} // closed by Close
	seq     atomic.Uint64

	mu     sync.Mutex
	closed bool
	idle   [][]*conn // by broker: sockets ready for a request
	open   map[*conn]struct{}

	ctr struct {
		requests, attempts, replies, remoteErrors, timeouts, failedFast,
		resets, stale, malformed, giveUps atomic.Uint64
	}
}

// conn is one socket to one broker.
type conn struct {
	sock   *zmq.Socket
	broker int
}

// NewClient returns a client of the brokers at the given endpoints, on
// zctx. Invalid options, and a nil one, make it return a
// *zmq.OptionError. It connects lazily, on the first request.
func NewClient(zctx *zmq.Context, brokers []string, opts ...ClientOption) (*Client, error) {
	if zctx == nil || len(brokers) == 0 || slicesContainEmpty(brokers) {
		return nil, errors.New("mdp: NewClient: nil context or no broker endpoint")
	}
	cfg := defaultClientConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, zctx: zctx, brokers: append([]string(nil), brokers...),
		slots: make(chan struct{}, cfg.maxInFlight), closing: make(chan struct{}),
		idle: make([][]*conn, len(brokers)), open: make(map[*conn]struct{})}, nil
}

// Stats returns the client's counters, in reliable.Client's terms
// (Resets counts the sockets closed after a failed attempt).
func (c *Client) Stats() reliable.ClientStats {
	k := &c.ctr
	return reliable.ClientStats{
		Requests: k.requests.Load(), Attempts: k.attempts.Load(), Replies: k.replies.Load(),
		RemoteErrors: k.remoteErrors.Load(), Timeouts: k.timeouts.Load(), FailedFast: k.failedFast.Load(),
		Resets: k.resets.Load(), StaleDropped: k.stale.Load(), Malformed: k.malformed.Load(),
		GiveUps: k.giveUps.Load(),
	}
}

// Close closes the client's sockets. Requests in flight return
// reliable.ErrClientClosed at once. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	open := c.open
	c.open, c.idle = nil, nil
	c.mu.Unlock()
	for cn := range open {
		cn.sock.Close() // wakes a request waiting on it with net.ErrClosed
	}
	return nil
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

func (c *Client) emit(ev reliable.ClientEvent) {
	if c.cfg.observer != nil {
		c.observe(ev)
	}
	if c.cfg.hook != nil {
		c.cfg.hook(ev)
	}
}

// Request sends body as one request for service and returns the reply's
// frames. An error reply is returned as a *reliable.RemoteError: among
// its codes, wire.CodeNoService (the broker found no worker for the
// service in time) and wire.CodeWorkerLost (the workers given the request
// died; it may have run). When the request gives up it returns a
// *reliable.NoReplyError matching reliable.ErrNoReply, its last cause
// and, if ctx ended it, ctx's error. A service name must be 1 to
// MaxServiceName bytes (ErrServiceName).
func (c *Client) Request(ctx context.Context, service string, body ...[]byte) ([][]byte, error) {
	c.ctr.requests.Add(1)
	start := time.Now()
	seq := c.seq.Add(1)
	if len(service) == 0 || len(service) > MaxServiceName {
		return nil, fmt.Errorf("mdp: Request: %w", ErrServiceName)
	}
	if err := ctx.Err(); err != nil {
		return nil, c.giveUp(seq, 0, nil, err, start)
	}
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return nil, c.giveUp(seq, 0, nil, ctx.Err(), start)
	case <-c.closing:
		return nil, reliable.ErrClientClosed
	}
	msg := ClientRequest(service, body)
	var last error
	for n := 1; n <= c.cfg.maxAttempts; n++ {
		if n > 1 {
			if err := c.pause(ctx, n); err != nil {
				if errors.Is(err, reliable.ErrClientClosed) {
					return nil, err
				}
				return nil, c.giveUp(seq, n-1, last, err, start)
			}
		}
		b := int(c.active.Load())
		ev := reliable.ClientEvent{Seq: seq, Attempt: n, Endpoint: c.brokers[b]}
		c.ctr.attempts.Add(1)
		ev.Kind, ev.Elapsed = reliable.EventAttempt, time.Since(start)
		c.emit(ev)
		reply, err := c.attempt(ctx, b, service, msg)
		if err == nil {
			code, message, isErr := wire.ParsePlainError(reply)
			if isErr && retryable(code) {
				// Not run: try the next broker.
				err = &reliable.RemoteError{Code: code, Message: message}
			} else {
				c.active.Store(int64(b))
				c.ctr.replies.Add(1)
				ev.Kind, ev.Elapsed = reliable.EventReply, time.Since(start)
				c.emit(ev)
				if isErr {
					c.ctr.remoteErrors.Add(1)
					return nil, &reliable.RemoteError{Code: code, Message: message}
				}
				return reply, nil
			}
		}
		if errors.Is(err, reliable.ErrClientClosed) {
			return nil, err
		}
		last = err
		c.active.CompareAndSwap(int64(b), int64((b+1)%len(c.brokers)))
		ev.Kind, ev.Err, ev.Elapsed = reliable.EventAttemptFailed, err, time.Since(start)
		c.emit(ev)
		if cerr := ctxerr.Ended(ctx); cerr != nil {
			return nil, c.giveUp(seq, n, last, cerr, start)
		}
	}
	return nil, c.giveUp(seq, c.cfg.maxAttempts, last, nil, start)
}

// retryable reports whether an error reply says the request was not run
// and may be sent again, to the next broker.
func retryable(code string) bool {
	return code == wire.CodePassive || code == wire.CodeOverloaded || code == wire.CodeShutdown
}

// pause waits the backoff before attempt n.
func (c *Client) pause(ctx context.Context, n int) error {
	t := time.NewTimer(c.cfg.backoff.Delay(n-2, c.cfg.rand()))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return reliable.ErrClientClosed
	}
}

func (c *Client) giveUp(seq uint64, attempts int, last, ctxErr error, start time.Time) error {
	c.ctr.giveUps.Add(1)
	err := &reliable.NoReplyError{Attempts: attempts, Last: last, Ctx: ctxErr}
	c.emit(reliable.ClientEvent{Kind: reliable.EventGiveUp, Seq: seq, Attempt: attempts, Err: err, Elapsed: time.Since(start)})
	return err
}

// attempt sends msg to broker b on a socket of its own and waits for the
// reply to service. The socket is kept for the next request when the
// attempt gets its reply, and closed otherwise.
func (c *Client) attempt(ctx context.Context, b int, service string, msg [][]byte) (reply [][]byte, err error) {
	cn, err := c.take(b)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			c.put(cn)
		} else {
			c.discard(cn)
		}
	}()
	deadline := time.Now().Add(c.cfg.attemptTimeout)
	for { // a reply that arrived after its attempt succeeded elsewhere: none expected, but drop it
		if _, err := cn.sock.RecvMessageBytes(zmq.DONTWAIT); err != nil {
			break
		}
		c.ctr.stale.Add(1)
	}
	for {
		_, err := cn.sock.SendMessageDontwait(msg)
		if err == nil {
			break
		}
		// A socket that a half-sent request broke refuses every send
		// (wrapping EAGAIN) and stays writable: fail the attempt, which
		// discards the socket, instead of retrying it to the deadline.
		if !errors.Is(err, syscall.EAGAIN) || errors.Is(err, zmq.ErrPartialMessage) {
			return nil, c.failure(ctx, err)
		}
		// IMMEDIATE: no connection to the broker yet.
		if _, err := timeout.WaitUntil(ctx, cn.sock, deadline, zmq.POLLOUT); err != nil {
			if isTimeout(err) && !c.isClosed() && ctxerr.Ended(ctx) == nil {
				c.ctr.failedFast.Add(1)
				return nil, reliable.ErrNotConnected
			}
			return nil, c.failure(ctx, err)
		}
	}
	for {
		rep, err := timeout.RecvMessageBytesUntil(ctx, cn.sock, deadline)
		if err != nil {
			return nil, c.failure(ctx, err)
		}
		svc, body, err := ParseClientMessage(rep)
		switch {
		case err != nil:
			c.ctr.malformed.Add(1)
		case svc != service:
			c.ctr.stale.Add(1)
		default:
			return body, nil
		}
	}
}

// failure says why a socket operation of an attempt failed: the client
// was closed, ctx ended, or the attempt timed out (a *zmq.TimeoutError,
// which matches os.ErrDeadlineExceeded).
func (c *Client) failure(ctx context.Context, err error) error {
	switch {
	case c.isClosed() || errors.Is(err, net.ErrClosed):
		return reliable.ErrClientClosed
	case ctxerr.Ended(ctx) != nil:
		return ctxerr.Ended(ctx)
	case isTimeout(err):
		c.ctr.timeouts.Add(1)
	}
	return err
}

func isTimeout(err error) bool {
	var te *zmq.TimeoutError
	return errors.As(err, &te)
}

// take returns an idle socket to broker b, or a new one.
func (c *Client) take(b int) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, reliable.ErrClientClosed
	}
	if n := len(c.idle[b]); n > 0 {
		cn := c.idle[b][n-1]
		c.idle[b] = c.idle[b][:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	s, err := c.zctx.NewSocket(zmq.DEALER)
	if err != nil {
		return nil, err
	}
	if err := c.configure(s, c.brokers[b]); err != nil {
		s.Close()
		return nil, err
	}
	cn := &conn{sock: s, broker: b}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.Close()
		return nil, reliable.ErrClientClosed
	}
	c.open[cn] = struct{}{}
	return cn, nil
}

// configure sets a new socket's options and connects it. LINGER 0: a
// request abandoned by a failed attempt is dropped with the socket, never
// delivered later; IMMEDIATE: nothing is queued for a broker that is not
// connected.
func (c *Client) configure(s *zmq.Socket, endpoint string) error {
	steps := []func() error{
		func() error { return s.SetLinger(0) },
		func() error { return s.SetImmediate(true) },
		func() error { return s.SetReconnectIvl(c.cfg.reconnect) },
	}
	if c.cfg.setup != nil {
		steps = append(steps, func() error { return c.cfg.setup(s) })
	}
	steps = append(steps, func() error { return s.Connect(endpoint) })
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// put keeps a socket whose attempt got its reply for the next request.
func (c *Client) put(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return // Close closed it
	}
	c.idle[cn.broker] = append(c.idle[cn.broker], cn)
}

// discard closes a socket whose attempt failed.
func (c *Client) discard(cn *conn) {
	c.ctr.resets.Add(1)
	c.mu.Lock()
	delete(c.open, cn)
	c.mu.Unlock()
	cn.sock.Close()
}

// ServiceAvailable asks the broker, through the management interface
// (RFC 8, mmi.service), whether service has a worker: true for 200, false
// for 404. Another answer is an error matching ErrMalformed. It is a
// Request, with its retries and errors.
func (c *Client) ServiceAvailable(ctx context.Context, service string) (bool, error) {
	if len(service) == 0 || len(service) > MaxServiceName {
		return false, fmt.Errorf("mdp: ServiceAvailable: %w", ErrServiceName)
	}
	reply, err := c.Request(ctx, MMIService, []byte(service))
	if err != nil {
		return false, err
	}
	if len(reply) == 1 {
		switch string(reply[0]) {
		case MMIFound:
			return true, nil
		case MMINotFound:
			return false, nil
		}
	}
	return false, malformed("mmi.service answered %q", reply)
}
