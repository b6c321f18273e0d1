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

func (c *Client) requestCorrelated(ctx context.Context, seq uint64, parts [][]byte) ([][]byte, error) {
	start := time.Now()
	if seq == 0 {
		seq = c.seq.Add(1)
	}
	cl := newCall(seq)
	defer func() {
		if cl.listed {
			c.mu.Lock()
			c.pending.remove(cl)
			c.mu.Unlock()
		}
		cl.free() // out of pending: no reply can be handed to it any more
	}()
	var prev *endpoint
	return c.retry(ctx, cl.seq, start, func(ctx context.Context, n int, deadline time.Time) ([][]byte, error) {
		ep, body, err := c.attemptCorrelated(ctx, cl, prev, n, parts, start, deadline)
		if ep != nil { // sent
			prev = ep
			ep.recordResult(answered(err))
		}
		return body, err
	})
}

func isRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}

// attemptCorrelated sends attempt n of cl, as soon as a peer is connected
// (preferring another endpoint than avoid), and waits for its reply. It
// returns the endpoint it was sent to, or an *unsentError when it could
// not be sent before the request's deadline.
//
// A request not yet in Client.pending first tries to send as its
// endpoint's reader (sendLeading): then only it can read its reply, so it
// is never listed, and the common request (one in flight, answered at
// once) takes no lock of the client's. Otherwise, or when that send
// fails, it is listed and sent the general way (sendWhenUp), and waits
// as a follower or a leader (awaitReply).
func (c *Client) attemptCorrelated(ctx context.Context, cl *call, avoid *endpoint, n int, parts [][]byte,
	start, deadline time.Time) (*endpoint, [][]byte, error) {
	id := wire.RequestID{Client: c.clientID, Seq: cl.seq, Attempt: uint32(n)}
	msg := append(cl.msg[:0], id.AppendFrame(cl.idFrame[:0], wire.KindRequest), []byte{})
	msg = append(msg, parts...)
	cl.msg = msg
	msg = c.withTrace(ctx, msg)
	if !cl.listed {
		if ep, life := c.sendLeading(cl, avoid, n, msg, start); ep != nil {
			return c.awaitAttempt(ctx, cl, ep, life, n, start, deadline, true)
		}
	}
	ep, life, err := c.sendWhenUp(ctx, c.eps, avoid, deadline, func(ep *endpoint) error {
		if !ep.acquire() { // removed from the resolved set: pick again
			return syscall.EAGAIN
		}
		c.mu.Lock()
		if !cl.listed {
			c.pending.add(cl)
			cl.listed = true
		}
		cl.attempt, cl.ep = id.Attempt, ep
		c.mu.Unlock()
		// Drop a reply to an earlier attempt that slipped in before the
		// switch (a first attempt has none: free drained the channel).
		if n > 1 {
			select {
			case <-cl.replies:
				c.counters.stale.Add(1)
				c.observeStale(cl.seq, n-1, ep.addr)
			default:
			}
		}
		err := c.sendOn(ep, cl.seq, n, msg, start)
		if err != nil {
			ep.release()
		}
		return err
	})
	if err != nil {
		return nil, nil, &unsentError{c.waitError(err, ctx, ctx)}
	}
	return c.awaitAttempt(ctx, cl, ep, life, n, start, deadline, false)
}

// sendLeading sends attempt n of cl, which is not in Client.pending, to
// an endpoint that is up now and whose read token it takes first: the
// endpoint and the life of its connection, holding the token and counted
// in flight (acquire). It returns nil, having sent nothing or failed to,
// when no endpoint is up, the chosen one's token is taken (another
// request reads: cl must be listed to get its reply), or the send fails;
// the general way then handles the attempt.
func (c *Client) sendLeading(cl *call, avoid *endpoint, n int, msg [][]byte, start time.Time) (*endpoint, context.Context) {
	ep, life := c.pick(c.eps, avoid)
	if ep == nil {
		return nil, nil
	}
	select {
	case <-ep.readTok:
	default:
		return nil, nil
	}
	if ep.acquire() {
		cl.attempt, cl.ep = uint32(n), ep // unlisted: only this goroutine reads them
		if c.sendOn(ep, cl.seq, n, msg, start) == nil {
			return ep, life
		}
		ep.release()
	}
	ep.readTok <- struct{}{}
	return nil, nil
}

// sendOn sends attempt n of request seq on ep's socket without waiting.
func (c *Client) sendOn(ep *endpoint, seq uint64, n int, msg [][]byte, start time.Time) error {
	ep.sendMu.Lock()
	reset, err := ep.sendDontwait(msg, ep.resetSocket)
	ep.sendMu.Unlock()
	if reset {
		c.socketReset(seq, n, ep, start)
	}
	c.observeSent(ep.addr, msg, err)
	return err
}

// awaitAttempt waits for the reply to attempt n of cl, sent to ep on the
// connection whose life is given, and returns it as the attempt's outcome.
// leading says the caller holds ep's read token (sendLeading), which it
// gives back.
func (c *Client) awaitAttempt(ctx context.Context, cl *call, ep *endpoint, life context.Context, n int,
	start, deadline time.Time, leading bool) (*endpoint, [][]byte, error) {
	defer ep.release()
	attemptDeadline := c.sent(cl.seq, n, ep, deadline, start)
	dead, stopWatch := c.watchPeer(ep.addr)
	if !c.cfg.failFast {
		life = ep.closing // Close still ends the wait
	}
	wctx, stopWait := waitContext(ctx, life, dead)
	var r reply
	var err error
	if leading {
		r, err = c.lead(ctx, wctx, ep, cl, attemptDeadline)
		ep.readTok <- struct{}{}
	} else {
		r, err = c.awaitReply(ctx, wctx, ep, cl, attemptDeadline)
	}
	stopWait()
	stopWatch()
	if err != nil {
		c.attemptFailed(cl.seq, n, ep.addr, err, start)
		return ep, nil, err
	}
	body, err := c.finish(cl.seq, n, ep.addr, r, start)
	return ep, body, err
}

// awaitReply waits for the reply to cl's attempt sent to ep, under wctx
// and until deadline. Whoever holds the endpoint's read token reads the
// socket for everyone (leader/follower): with one request in flight the
// requester receives its own reply, with no hand-off between goroutines;
// with many, the leader hands the others theirs.
func (c *Client) awaitReply(ctx, wctx context.Context, ep *endpoint, cl *call, deadline time.Time) (reply, error) {
	// A reply already handed over is found by lead's first look, or here
	// before the wait, which would otherwise pick at random between it
	// and an ended context.
	select {
	case <-ep.readTok:
	default:
		select {
		case r := <-cl.replies:
			return r, nil
		default:
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case r := <-cl.replies:
			timer.Stop()
			return r, nil
		case <-wctx.Done():
			timer.Stop()
			return reply{}, c.waitError(wctx.Err(), ctx, wctx)
		case <-timer.C:
			return reply{}, errAttemptTimeout
		case <-ep.readTok:
			timer.Stop()
		}
	}
	r, err := c.lead(ctx, wctx, ep, cl, deadline)
	ep.readTok <- struct{}{}
	return r, err
}

// lead reads ep's socket, handing replies to their requests, until cl's
// reply arrives or cl's attempt ends (deadline, ctx, peer gone).
func (c *Client) lead(ctx, wctx context.Context, ep *endpoint, cl *call, deadline time.Time) (reply, error) {
	for first := true; ; first = false {
		// A reply may have been handed over before this turn began (never
		// to a call not listed in pending).
		if cl.listed {
			select {
			case r := <-cl.replies:
				return r, nil
			default:
			}
		}
		// The attempt ends on time even while other requests' replies
		// keep the socket readable (a receive of a queued message
		// succeeds past the deadline). The first receive needs no
		// look: it checks ctx itself, and a reply it finds queued past
		// the deadline is still the reply.
		if !first {
			if err := wctx.Err(); err != nil {
				return reply{}, c.waitError(err, ctx, wctx)
			}
			if !time.Now().Before(deadline) {
				return reply{}, errAttemptTimeout
			}
		}
		msg, err := timeout.RecvMessageBytesUntil(wctx, ep.sock, deadline)
		if err != nil {
			return reply{}, c.waitError(err, ctx, wctx)
		}
		c.observeReceived(ep.addr, msg)
		if r, mine := c.dispatch(ep, msg, cl); mine {
			return r, nil
		}
	}
}

// finish turns a reply into the request's result.
func (c *Client) finish(seq uint64, n int, addr string, r reply, start time.Time) ([][]byte, error) {
	if c.watched() {
		c.emit(ClientEvent{Kind: EventReply, Seq: seq, Attempt: n, Endpoint: addr, Elapsed: time.Since(start)})
	}
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
		c.observeMalformed(addr, "malformed error body")
		return nil, err
	}
	return nil, &RemoteError{Code: code, Message: message}
}

// dispatch hands a reply read from ep to the request waiting for it;
// anything else is counted and dropped. A reply to own's attempt (the
// leader's own request) is returned instead, with mine set.
func (c *Client) dispatch(ep *endpoint, msg [][]byte, own *call) (r reply, mine bool) {
	msg = wire.StripTrace(msg) // echoed by the server with the envelope
	if len(msg) < 2 || len(msg[1]) != 0 {
		c.counters.malformed.Add(1)
		c.observeMalformed(ep.addr, "no envelope")
		return
	}
	id, kind, err := wire.ParseIDFrame(msg[0])
	if err != nil || id.Client != c.clientID {
		c.counters.malformed.Add(1)
		c.observeMalformed(ep.addr, "foreign id frame")
		return
	}
	r = reply{kind: kind, body: msg[2:]}
	if own != nil && id.Seq == own.seq && id.Attempt == own.attempt && own.ep == ep {
		// The caller's own attempt, which only the caller switches: no
		// lock, no hand-over.
		r.err = c.checkReply(r.body)
		return r, true
	}
	// The hand-over happens under the lock that guards cl.attempt: once
	// attemptCorrelated has switched to the next attempt (under the same
	// lock) no reply to an earlier one can be put in cl.replies, and the
	// one put before the switch is drained after it. Checked outside the
	// lock, an earlier attempt's reply could be handed over after the
	// switch and taken for the current one (TestDispatchNeverHandsOverStale).
	c.mu.Lock()
	cl := c.pending.get(id.Seq)
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
		c.observeStale(id.Seq, int(id.Attempt), ep.addr)
	}
	return reply{}, false
}
