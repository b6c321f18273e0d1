package reliable

import (
	"context"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// plainConn is a Client's plain mode: a REQ socket with the exact REQ
// envelope, one request at a time, reset after every failed attempt.
type plainConn struct {
	c    *Client
	eps  []*endpoint // sockets opened lazily, on the endpoint's first use
	turn chan struct{}
}

func newPlainConn(c *Client, addrs []string) *plainConn {
	p := &plainConn{c: c, turn: make(chan struct{}, 1)}
	for _, a := range addrs {
		p.eps = append(p.eps, &endpoint{addr: a, upCh: make(chan struct{}), closing: c.closing})
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
	return c.retry(ctx, seq, start, func(ctx context.Context, n int) ([][]byte, error) {
		ep := pick(p.eps, prev)
		prev = ep
		body, err := p.attempt(ctx, ep, seq, n, parts, start)
		ep.recordResult(err == nil || isRemote(err))
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

func (p *plainConn) attempt(ctx context.Context, ep *endpoint, seq uint64, n int, parts [][]byte, start time.Time) ([][]byte, error) {
	c := p.c
	if ep.sock == nil {
		if err := ep.open(c.zctx, &c.cfg, zmq.REQ); err != nil {
			return nil, err
		}
	}
	c.emit(ClientEvent{Kind: EventAttempt, Seq: seq, Attempt: n, Endpoint: ep.addr, Elapsed: time.Since(start)})
	fail := func(err error) ([][]byte, error) {
		c.attemptFailed(seq, n, ep.addr, err, start)
		return nil, err
	}
	deadline := time.Now().Add(c.cfg.attemptTimeout)
	life, err := ep.waitUp(ctx, deadline)
	if err != nil {
		return fail(err)
	}
	if !c.cfg.failFast {
		life = ep.closing // Close still ends the wait
	}
	dead, stopWatch := c.watchPeer(ep.addr)
	defer stopWatch()
	wctx, stopWait := waitContext(ctx, life, dead)
	defer stopWait()

	if err := sendBefore(ep.sock, wctx, deadline, parts); err != nil {
		return fail(c.waitError(err, ctx, wctx))
	}
	body, err := timeout.RecvMessageBytesUntil(wctx, ep.sock, deadline)
	if err != nil {
		return fail(c.waitError(err, ctx, wctx))
	}
	c.emit(ClientEvent{Kind: EventReply, Seq: seq, Attempt: n, Endpoint: ep.addr, Elapsed: time.Since(start)})
	if err := c.checkReply(body); err != nil {
		return fail(err)
	}
	if len(body) == 3 && string(body[0]) == wire.PlainErrorMarker {
		code, message, _ := wire.ParseErrorBody(body[1:])
		return nil, &RemoteError{Code: code, Message: message}
	}
	return body, nil
}
