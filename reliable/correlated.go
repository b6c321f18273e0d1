package reliable

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
)

var osErrDeadlineExceeded = os.ErrDeadlineExceeded

func (c *Client) requestCorrelated(ctx context.Context, parts [][]byte) ([][]byte, error) {
	start := time.Now()
	cl := &call{seq: c.seq.Add(1), replies: make(chan reply, 1), idFrame: make([]byte, 0, wire.IDFrameLen)}
	c.mu.Lock()
	c.pending[cl.seq] = cl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cl.seq)
		c.mu.Unlock()
	}()
	var prev *endpoint
	return c.retry(ctx, cl.seq, start, func(ctx context.Context, n int) ([][]byte, error) {
		ep := pick(c.eps, prev)
		prev = ep
		body, err := c.attemptCorrelated(ctx, cl, ep, n, parts, start)
		ep.recordResult(err == nil || isRemote(err))
		return body, err
	})
}

func isRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}

func (c *Client) attemptCorrelated(ctx context.Context, cl *call, ep *endpoint, n int, parts [][]byte, start time.Time) ([][]byte, error) {
	id := wire.RequestID{Client: c.clientID, Seq: cl.seq, Attempt: uint32(n)}
	c.mu.Lock()
	cl.attempt, cl.ep = id.Attempt, ep
	c.mu.Unlock()
	// Drop a reply to an earlier attempt that slipped in before the switch.
	select {
	case <-cl.replies:
		c.counters.stale.Add(1)
	default:
	}
	c.emit(ClientEvent{Kind: EventAttempt, Seq: cl.seq, Attempt: n, Endpoint: ep.addr, Elapsed: time.Since(start)})

	deadline := time.Now().Add(c.cfg.attemptTimeout)
	fail := func(err error) ([][]byte, error) {
		c.attemptFailed(cl.seq, n, ep.addr, err, start)
		return nil, err
	}

	msg := make([][]byte, 0, 2+len(parts))
	msg = append(msg, id.AppendFrame(cl.idFrame, wire.KindRequest), []byte{})
	msg = append(msg, parts...)
	dead, stopWatch := c.watchPeer(ep.addr)
	defer stopWatch()
	life, err := c.send(ctx, ep, deadline, msg)
	if err != nil {
		return fail(err)
	}
	if !c.cfg.failFast {
		life = ep.closing // Close still ends the wait
	}
	wctx, stopWait := waitContext(ctx, life, dead)
	defer stopWait()

	// Wait for the reply. Whoever holds the endpoint's read token reads
	// the socket for everyone (leader/follower): with one request in
	// flight the requester receives its own reply, with no hand-off
	// between goroutines; with many, the leader hands the others theirs.
	var timer *time.Timer // only for a follower's wait
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	select {
	case r := <-cl.replies:
		return c.finish(cl.seq, n, ep.addr, r, start)
	case <-ep.readTok:
	default:
		timer = time.NewTimer(time.Until(deadline))
		select {
		case r := <-cl.replies:
			return c.finish(cl.seq, n, ep.addr, r, start)
		case <-wctx.Done():
			return fail(c.waitError(wctx.Err(), ctx, wctx))
		case <-timer.C:
			return fail(errAttemptTimeout)
		case <-ep.readTok:
		}
	}
	r, err := c.lead(ctx, wctx, ep, cl, deadline)
	ep.readTok <- struct{}{}
	if err != nil {
		return fail(err)
	}
	return c.finish(cl.seq, n, ep.addr, r, start)
}

// lead reads ep's socket, handing replies to their requests, until cl's
// reply arrives or cl's attempt ends (deadline, ctx, peer gone).
func (c *Client) lead(ctx, wctx context.Context, ep *endpoint, cl *call, deadline time.Time) (reply, error) {
	for {
		// A reply may have been handed over before this turn began.
		select {
		case r := <-cl.replies:
			return r, nil
		default:
		}
		// The attempt ends on time even while other requests' replies
		// keep the socket readable (a receive of a queued message
		// succeeds past the deadline).
		if err := wctx.Err(); err != nil {
			return reply{}, c.waitError(err, ctx, wctx)
		}
		if !time.Now().Before(deadline) {
			return reply{}, errAttemptTimeout
		}
		msg, err := timeout.RecvMessageBytesUntil(wctx, ep.sock, deadline)
		if err != nil {
			return reply{}, c.waitError(err, ctx, wctx)
		}
		c.dispatch(ep, msg)
	}
}

// send sends msg on ep once a peer is connected. It returns the life of
// the connection the request went out on.
func (c *Client) send(ctx context.Context, ep *endpoint, deadline time.Time, msg [][]byte) (context.Context, error) {
	for {
		life, err := ep.waitUp(ctx, deadline)
		if err != nil {
			return nil, err
		}
		ep.sendMu.Lock()
		_, err = ep.sock.SendMessageDontwait(msg)
		ep.sendMu.Unlock()
		if err == nil {
			return life, nil
		}
		if !errors.Is(err, syscall.EAGAIN) {
			return nil, err
		}
		// The connection is not (or no longer) ready although no event
		// said so yet, or the HWM is reached: look again shortly. (The
		// socket's one wait belongs to the leader reading it.)
		if err := pause(ctx, life.Done(), deadline, 5*time.Millisecond); err != nil {
			return nil, err
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

// finish turns a reply into the request's result.
func (c *Client) finish(seq uint64, n int, addr string, r reply, start time.Time) ([][]byte, error) {
	c.emit(ClientEvent{Kind: EventReply, Seq: seq, Attempt: n, Endpoint: addr, Elapsed: time.Since(start)})
	if r.err != nil {
		c.attemptFailed(seq, n, addr, r.err, start)
		return nil, r.err
	}
	if r.kind != wire.KindError {
		return r.body, nil
	}
	code, message, err := wire.ParseErrorBody(r.body)
	if err != nil {
		c.counters.malformed.Add(1)
		return nil, err
	}
	return nil, &RemoteError{Code: code, Message: message}
}

// dispatch hands a reply read from ep to the request waiting for it;
// anything else is counted and dropped.
func (c *Client) dispatch(ep *endpoint, msg [][]byte) {
	if len(msg) < 2 || len(msg[1]) != 0 {
		c.counters.malformed.Add(1)
		return
	}
	id, kind, err := wire.ParseIDFrame(msg[0])
	if err != nil || id.Client != c.clientID {
		c.counters.malformed.Add(1)
		return
	}
	r := reply{kind: kind, body: msg[2:]}
	// The hand-over happens under the lock that guards cl.attempt: once
	// attemptCorrelated has switched to the next attempt (under the same
	// lock) no reply to an earlier one can be put in cl.replies, and the
	// one put before the switch is drained after it. Checked outside the
	// lock, an earlier attempt's reply could be handed over after the
	// switch and taken for the current one (TestDispatchNeverHandsOverStale).
	c.mu.Lock()
	cl := c.pending[id.Seq]
	ok := cl != nil && cl.attempt == id.Attempt && cl.ep == ep
	dup := false
	if ok {
		r.err = c.checkReply(r.body)
		select {
		case cl.replies <- r:
		default: // a duplicate of the same attempt's reply
			dup = true
		}
	}
	c.mu.Unlock()
	switch {
	case !ok:
		c.counters.stale.Add(1)
		c.emit(ClientEvent{Kind: EventStale, Seq: id.Seq, Attempt: int(id.Attempt), Endpoint: ep.addr})
	case dup:
		c.counters.stale.Add(1)
	}
}
