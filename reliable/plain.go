package reliable

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// plainConn is a Client's plain mode: a REQ socket with the exact REQ
// envelope, one request at a time, reset after every failed attempt.
type plainConn struct {
	c       *Client
	eps     []*endpoint // sockets opened lazily, on the endpoint's first use
	turn    chan struct{}
	sockets atomic.Uint32 // numbers the sockets' routing ids
}

func newPlainConn(c *Client, addrs []string) *plainConn {
	p := &plainConn{c: c, turn: make(chan struct{}, 1)}
	for _, a := range addrs {
		p.eps = append(p.eps, &endpoint{addr: a, closing: c.closing, ups: &c.ups, obs: c.cfg.observer})
	}
	return p
}

func (p *plainConn) close() {
	p.turn <- struct{}{} // wait for the request in flight
	for _, ep := range p.eps {
		ep.close()
	}
}

func (p *plainConn) request(ctx context.Context, parts [][]byte) ([][]byte, error) {
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, p.c.giveUp(0, 0, nil, ctx.Err(), time.Now())
	case <-p.c.closing.Done():
		return nil, ErrClientClosed
	}
	defer func() { <-p.turn }()
	c := p.c
	if c.isClosed() {
		return nil, ErrClientClosed
	}
	start := time.Now()
	seq := c.seq.Add(1)
	var prev *endpoint
	return c.retry(ctx, seq, start, func(ctx context.Context, n int, deadline time.Time) ([][]byte, error) {
		ep, body, err := p.attempt(ctx, prev, seq, n, parts, start, deadline)
		if ep == nil { // not sent
			return nil, err
		}
		prev = ep
		ep.recordResult(answered(err))
		if err != nil && !isRemote(err) && !c.isClosed() {
			// The REQ socket is stuck waiting for a reply that may come
			// late: drop it (LINGER 0), so nothing it holds is delivered
			// or returned later.
			ep.close()
			c.counters.resets.Add(1)
			c.emit(ClientEvent{Kind: EventReset, Seq: seq, Attempt: n, Endpoint: ep.addr, Elapsed: time.Since(start)})
		}
		return body, err
	})
}

// open gives every endpoint without a socket a new one. Each socket has a
// routing id of its own that names this client as a zmqguard one
// (docs/PROTOCOL.md section 6).
func (p *plainConn) open() error {
	c := p.c
	for _, ep := range p.eps {
		if ep.sock != nil {
			continue
		}
		rid := wire.ClientRoutingID(c.clientID, p.sockets.Add(1))
		if err := ep.open(c.zctx, &c.cfg, zmq.REQ, rid); err != nil {
			return err
		}
	}
	return nil
}

// attempt sends attempt n as soon as a peer is connected (preferring
// another endpoint than avoid) and waits for its reply. It returns the
// endpoint it was sent to, or nil and an *unsentError when it could not be
// sent before the request's deadline.
func (p *plainConn) attempt(ctx context.Context, avoid *endpoint, seq uint64, n int, parts [][]byte,
	start, deadline time.Time) (*endpoint, [][]byte, error) {
	c := p.c
	if err := p.open(); err != nil {
		return nil, nil, &unsentError{err}
	}
	ep, life, err := c.sendWhenUp(ctx, p.eps, avoid, deadline, func(ep *endpoint) error {
		reset, err := ep.sendDontwait(parts, func() error {
			ep.close()
			return p.open()
		})
		if reset {
			c.socketReset(seq, n, ep, start)
		}
		c.observeSent(ep.addr, parts, err)
		return err
	})
	if err != nil {
		return nil, nil, &unsentError{c.waitError(err, ctx, ctx)}
	}
	attemptDeadline := c.sent(seq, n, ep, deadline, start)
	fail := func(err error) (*endpoint, [][]byte, error) {
		c.attemptFailed(seq, n, ep.addr, err, start)
		return ep, nil, err
	}
	if !c.cfg.failFast {
		life = ep.closing // Close still ends the wait
	}
	dead, stopWatch := c.watchPeer(ep.addr)
	defer stopWatch()
	wctx, stopWait := waitContext(ctx, life, dead)
	defer stopWait()

	body, err := timeout.RecvMessageBytesUntil(wctx, ep.sock, attemptDeadline)
	if err != nil {
		return fail(c.waitError(err, ctx, wctx))
	}
	c.observeReceived(ep.addr, body)
	if c.watched() {
		c.emit(ClientEvent{Kind: EventReply, Seq: seq, Attempt: n, Endpoint: ep.addr, Elapsed: time.Since(start)})
	}
	if err := c.checkReply(body); err != nil {
		return fail(err)
	}
	if len(body) == 3 && string(body[0]) == wire.PlainErrorMarker {
		code, message, _ := wire.ParseErrorBody(body[1:])
		return ep, nil, &RemoteError{Code: code, Message: message}
	}
	return ep, body, nil
}
