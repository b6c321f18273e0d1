package reliable

import (
	"context"
	"errors"
	"net"

	"github.com/zmqguard/zmqguard/internal/ctxerr"
)

// An attempt, once sent, waits for its reply under a wait context and
// until its deadline. The wait context is the caller's context, ended
// early when the connection the request went out on ends (fail fast) or
// the liveness tracker reports the peer Dead. The attempt's deadline is
// handed to the socket's wait as it is, not wrapped into a context: with
// a context that never ends and no tracker, an attempt allocates no
// context, timer or goroutine of its own.

func noop() {}

// waitContext returns the context an attempt waits under: ctx, ended
// early when life (the connection's, nil without fail-fast) or dead (the
// tracker's, nil without one) ends.
func waitContext(ctx, life, dead context.Context) (context.Context, func()) {
	never := ctx.Done() == nil
	switch {
	case life == nil && dead == nil:
		return ctx, noop
	case never && dead == nil:
		return life, noop
	case never && life == nil:
		return dead, noop
	}
	wctx, cancel := context.WithCancel(ctx)
	stopLife, stopDead := func() bool { return false }, func() bool { return false }
	if life != nil {
		stopLife = context.AfterFunc(life, cancel)
	}
	if dead != nil {
		stopDead = context.AfterFunc(dead, cancel)
	}
	return wctx, func() { stopLife(); stopDead(); cancel() }
}

// waitError says why an attempt's socket operation, under wctx from
// waitContext(ctx, ...), failed with err.
func (c *Client) waitError(err error, ctx, wctx context.Context) error {
	switch {
	case errors.Is(err, net.ErrClosed), c.isClosed():
		return ErrClientClosed
	case ctxerr.Ended(ctx) != nil:
		return ctxerr.Ended(ctx)
	case wctx != ctx && wctx.Err() != nil:
		return ErrPeerGone
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errAttemptTimeout
	}
	return err
}
