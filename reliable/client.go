package reliable

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/internal/ctxerr"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// Client sends requests and returns replies, and never hangs: each attempt
// has a timeout, attempts are capped with backoff between them, the whole
// call is bounded by its context, and a request whose peer disconnects
// fails over early instead of waiting out its timeout. It never returns a
// reply that belongs to another request or to an earlier attempt.
//
// The retry budget is about time, and about attempts that reached a peer
// (gRPC's wait-for-ready with a deadline):
//
//   - a request has a total deadline: its context's, else MaxAttempts ×
//     AttemptTimeout from the call (7.5 s by default) plus the backoff
//     pauses between attempts (so each attempt can have its whole timeout,
//     as each try of zguide's Lazy Pirate client has); a context's
//     deadline cuts pauses and attempts short;
//   - an attempt is sent only on a live connection: while no peer is
//     connected the request waits for one (on any of its endpoints) within
//     its deadline, instead of spending attempts; it gives up with
//     ErrNotConnected when none came;
//   - only sent attempts count against MaxAttempts, and an attempt's clock
//     (AttemptTimeout) starts when it is sent;
//   - fail-fast keeps its use: an attempt whose peer disconnects ends at
//     once (ErrPeerGone; it counts, it reached a peer), and the request
//     moves on to another endpoint or waits for the reconnect.
//
// So with the defaults a request rides out a server outage of up to
// 7.5 s (and the pauses), as zguide's Lazy Pirate client does (3 tries of
// 2.5 s).
//
// A correlated request through zguide's Paranoid Pirate queue to zguide's
// workers cannot work: the queue passes the ID frame on, the request
// reaches the worker as four frames, and zguide's worker drops it as an
// invalid message without replying, so every attempt times out and the
// request gives up with a *NoReplyError (docs/PPP.md). Use WithMode(Plain)
// there; ppp.Queue serves both modes with any worker.
//
// A Client is safe for concurrent use by many goroutines. In Correlated
// mode their requests are in flight at the same time; in Plain mode they
// take turns.
type Client struct {
	cfg      clientConfig
	zctx     *zmq.Context
	clientID uint64
	eps      []*endpoint   // correlated mode: one DEALER each
	plain    *plainConn    // plain mode
	set      *endpointSet  // NewClientFor: the resolved endpoints, in place of eps
	rr       atomic.Uint64 // the round-robin balancers' turn
	counters clientCounters
	ups      signal // fired whenever an endpoint comes up

	seq atomic.Uint64

	mu      sync.Mutex
	pending inflight
	closed  atomic.Bool // Close was called: read by every request, so no lock

	// closing ends, with cause ErrClientClosed, when Close is called: every
	// wait of a request in flight ends with it.
	closing     context.Context
	stopClosing context.CancelCauseFunc
}

// NewClient creates a client for the given endpoints, on zctx. The
// endpoints are tried in order of health; with one endpoint every attempt
// goes there.
func NewClient(zctx *zmq.Context, endpoints []string, opts ...ClientOption) (*Client, error) {
	if zctx == nil {
		return nil, errors.New("reliable: NewClient: nil *zmq.Context")
	}
	if len(endpoints) == 0 {
		return nil, errors.New("reliable: NewClient: no endpoints")
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	c, err := newClient(zctx, opts)
	if err != nil {
		return nil, err
	}
	cfg := c.cfg
	if cfg.mode == Plain {
		c.plain = newPlainConn(c, endpoints)
		return c, nil
	}
	for _, addr := range endpoints {
		ep, err := openEndpoint(zctx, &cfg, addr, zmq.DEALER, c.closing, &c.ups)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reliable: endpoint %s: %w", addr, err)
		}
		c.eps = append(c.eps, ep)
	}
	return c, nil
}

// newClient returns a client with its options applied and no endpoints.
func newClient(zctx *zmq.Context, opts []ClientOption) (*Client, error) {
	cfg := defaultClientConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, zctx: zctx, clientID: randomID()}
	c.closing, c.stopClosing = context.WithCancelCause(context.Background())
	c.closing = withStop(c.closing, c.stopClosing) // Context.Term ends it too
	return c, nil
}

func randomID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats { return c.counters.snapshot() }

// Close closes the client's sockets and waits for its goroutines. Requests
// in flight, and requests waiting for their turn in Plain mode, return
// ErrClientClosed at once instead of waiting out their attempts. Close is
// idempotent. A client whose zmq.Context is terminated (Context.Term
// closes its sockets) behaves as closed from then on; Close it all the
// same.
func (c *Client) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	// Wake every request in flight: its waits end with closing, and it
	// returns ErrClientClosed instead of trying again.
	c.stopClosing(ErrClientClosed)
	if c.plain != nil {
		c.plain.close()
	}
	if c.set != nil {
		c.set.close()
	}
	for _, ep := range c.eps {
		ep.shutdown()
	}
	return nil
}

// isClosed reports whether Close was called.
func (c *Client) isClosed() bool { return c.closed.Load() }

// watched reports whether anyone takes ClientEvents: when not, the hot
// path does not build them.
func (c *Client) watched() bool { return c.cfg.hook != nil || c.cfg.observer != nil }

func (c *Client) emit(ev ClientEvent) {
	if c.cfg.hook != nil {
		c.cfg.hook(ev)
	}
	if c.cfg.observer != nil {
		c.observeClient(ev)
	}
}

// Request sends parts as one request and returns the reply's frames. An
// error reply from a zmqguard server is returned as a *RemoteError. When
// the request gives up (its attempts are spent, its deadline passed, or
// ctx ended; see Client) it returns a *NoReplyError matching ErrNoReply,
// its last cause and, if the context ended it, the context's error.
func (c *Client) Request(ctx context.Context, parts ...[]byte) ([][]byte, error) {
	return c.requestSeq(ctx, 0, parts)
}

// requestSeq is Request for the request numbered seq (0: the next
// number), which an Outbox replays under its number; it reports to the
// observer, if there is one.
func (c *Client) requestSeq(ctx context.Context, seq uint64, parts [][]byte) ([][]byte, error) {
	if c.cfg.observer != nil {
		return c.requestObserved(ctx, seq, parts)
	}
	return c.request(ctx, seq, parts)
}

// request runs the request numbered seq (0: the next number).
func (c *Client) request(ctx context.Context, seq uint64, parts [][]byte) ([][]byte, error) {
	c.counters.requests.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, c.giveUp(0, 0, nil, err, time.Now())
	}
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	if err := c.checkRequest(parts); err != nil {
		return nil, err
	}
	if c.plain != nil {
		return c.plain.request(ctx, parts)
	}
	return c.requestCorrelated(ctx, seq, parts)
}

// retry runs attempts until one succeeds or the request gives up. The
// request has a total deadline: ctx's, else MaxAttempts × AttemptTimeout
// from start, plus the backoff pauses between attempts (so that each
// attempt can have its whole timeout, as each try of zguide's Lazy Pirate
// client has). attempt(ctx, n, deadline) sends attempt n once a peer is
// connected, waiting for one until deadline, and returns its outcome, or
// an *unsentError when it could not send it: only attempts that were sent
// count against MaxAttempts.
func (c *Client) retry(ctx context.Context, seq uint64, start time.Time,
	attempt func(ctx context.Context, n int, deadline time.Time) ([][]byte, error)) ([][]byte, error) {
	deadline, fixed := c.deadline(ctx, start)
	var last error
	for n := 1; n <= c.cfg.maxAttempts; n++ {
		if n > 1 {
			delay := c.cfg.backoff.Delay(n-2, c.cfg.rand())
			if fixed {
				delay = min(delay, time.Until(deadline))
			} else {
				deadline = deadline.Add(delay)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, c.giveUp(seq, n-1, last, ctx.Err(), start)
			case <-c.closing.Done():
				t.Stop()
				return nil, ErrClientClosed
			}
			if !time.Now().Before(deadline) {
				return nil, c.giveUp(seq, n-1, last, ctxerr.Ended(ctx), start)
			}
		}
		body, err := attempt(ctx, n, deadline)
		if err == nil {
			c.counters.replies.Add(1)
			return body, nil
		}
		var re *RemoteError
		if errors.As(err, &re) && !retryableCode(re.Code) {
			c.counters.replies.Add(1)
			c.counters.remoteErrors.Add(1)
			return nil, re
		}
		if errors.Is(err, ErrClientClosed) || c.isClosed() {
			return nil, ErrClientClosed
		}
		var unsent *unsentError
		if errors.As(err, &unsent) {
			// No peer before the deadline (or ctx ended the wait): this
			// attempt never reached one, and the budget is spent.
			if cerr := ctxerr.Ended(ctx); cerr != nil {
				return nil, c.giveUp(seq, n-1, last, cerr, start)
			}
			return nil, c.giveUp(seq, n-1, unsent.err, nil, start)
		}
		last = err
		if cerr := ctxerr.Ended(ctx); cerr != nil {
			return nil, c.giveUp(seq, n, last, cerr, start)
		}
		if !time.Now().Before(deadline) {
			return nil, c.giveUp(seq, n, last, nil, start)
		}
	}
	return nil, c.giveUp(seq, c.cfg.maxAttempts, last, nil, start)
}

// deadline returns a request's total deadline: ctx's (fixed), else
// MaxAttempts × AttemptTimeout from start, which retry extends by each
// backoff pause.
func (c *Client) deadline(ctx context.Context, start time.Time) (deadline time.Time, fixed bool) {
	if d, ok := ctx.Deadline(); ok {
		return d, true
	}
	return start.Add(time.Duration(c.cfg.maxAttempts) * c.cfg.attemptTimeout), false
}

// unsentError is the outcome of an attempt that was never sent: no peer
// was connected before the request's deadline (err is ErrNotConnected),
// the context ended, or the send failed. It is not counted as an attempt.
type unsentError struct{ err error }

func (e *unsentError) Error() string { return e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

// sent marks attempt n of request seq as sent to ep: it counts, and its
// clock starts now. It returns the attempt's deadline: AttemptTimeout
// from now, or the request's deadline if that comes first.
func (c *Client) sent(seq uint64, n int, ep *endpoint, deadline, start time.Time) time.Time {
	c.counters.attempts.Add(1)
	now := time.Now()
	if c.watched() {
		c.emit(ClientEvent{Kind: EventAttempt, Seq: seq, Attempt: n, Endpoint: ep.addr, Elapsed: now.Sub(start)})
	}
	if d := now.Add(c.cfg.attemptTimeout); d.Before(deadline) {
		return d
	}
	return deadline
}

// sendWhenUp sends an attempt as soon as a peer is connected: it waits
// for one of eps to be up (waitPeer), calls pick with it, and send; when
// send fails with EAGAIN (the connection is not ready although no event
// said so yet, the HWM is reached, or the endpoint replaced a socket that a
// half-sent message broke: sendDontwait) it looks again shortly. It returns
// the endpoint and the life of the connection the attempt went out on.
func (c *Client) sendWhenUp(ctx context.Context, eps []*endpoint, avoid *endpoint, deadline time.Time,
	send func(ep *endpoint) error) (*endpoint, context.Context, error) {
	for {
		ep, life, err := c.waitPeer(ctx, eps, avoid, deadline)
		if err != nil {
			return nil, nil, err
		}
		err = send(ep)
		if err == nil {
			return ep, life, nil
		}
		if !errors.Is(err, syscall.EAGAIN) {
			return nil, nil, err
		}
		if err := pause(ctx, life.Done(), deadline, 5*time.Millisecond); err != nil {
			return nil, nil, err
		}
	}
}

// waitPeer returns an endpoint of eps that is up, and the life of its
// connection: the healthiest one, and not avoid while another is up (see
// pickUp). While none is up it waits for one, until the deadline
// (ErrNotConnected), ctx ends or the client is closed.
func (c *Client) waitPeer(ctx context.Context, eps []*endpoint, avoid *endpoint, deadline time.Time) (*endpoint, context.Context, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		changed := c.ups.next() // before looking, so no change is missed
		if ep, life := c.pick(eps, avoid); ep != nil {
			return ep, life, nil
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-timer.C:
			return nil, nil, ErrNotConnected
		case <-c.closing.Done():
			return nil, nil, ErrClientClosed
		}
	}
}

// pause waits for d, or until down is closed, ctx ends (its error) or the
// deadline passes (ErrNotConnected).
func pause(ctx context.Context, down <-chan struct{}, deadline time.Time, d time.Duration) error {
	last := time.Until(deadline) <= d
	if last {
		d = max(time.Until(deadline), 0)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-down:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		if last {
			return ErrNotConnected
		}
		return nil
	}
}

// retryableCode says which error replies are worth another attempt: the
// server did not run the request, and another (or a later) one may.
func retryableCode(code string) bool {
	return code == wire.CodeOverloaded || code == wire.CodeShutdown || code == wire.CodePassive
}

func (c *Client) giveUp(seq uint64, attempts int, last, ctxErr error, start time.Time) error {
	c.counters.giveUps.Add(1)
	err := &NoReplyError{Attempts: attempts, Last: last, Ctx: ctxErr}
	c.emit(ClientEvent{Kind: EventGiveUp, Seq: seq, Attempt: attempts, Err: err, Elapsed: time.Since(start)})
	return err
}

// attemptFailed counts and reports a failed attempt.
func (c *Client) attemptFailed(seq uint64, n int, ep string, err error, start time.Time) {
	switch {
	case errors.Is(err, ErrPeerGone):
		c.counters.failedFast.Add(1)
	case errors.Is(err, errAttemptTimeout):
		c.counters.timeouts.Add(1)
	}
	c.emit(ClientEvent{Kind: EventAttemptFailed, Seq: seq, Attempt: n, Endpoint: ep, Err: err, Elapsed: time.Since(start)})
}

// errAttemptTimeout is the cause of an attempt that timed out. It matches
// os.ErrDeadlineExceeded.
var errAttemptTimeout error = &attemptTimeoutError{}

type attemptTimeoutError struct{}

func (*attemptTimeoutError) Error() string   { return "reliable: attempt timed out" }
func (*attemptTimeoutError) Timeout() bool   { return true }
func (*attemptTimeoutError) Temporary() bool { return true }
func (*attemptTimeoutError) Is(target error) bool {
	return target == osErrDeadlineExceeded
}
