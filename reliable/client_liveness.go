package reliable

import (
	"context"

	"github.com/zmqguard/zmqguard/heartbeat"
)

// WithLiveness makes the client fail fast on what tr knows: when tr
// reports the peer of an attempt in flight Dead, the attempt ends at once
// with ErrPeerGone (instead of waiting out its timeout) and the request is
// retried, on another endpoint when there is one; the failure also counts
// against the endpoint's health. tr must track peers under the endpoint
// strings given to NewClient: feed it with a heartbeat.Watcher on a socket
// with native heartbeats connected to the same endpoints, or with
// application heartbeats. Only transitions to Dead during an attempt end
// it, so a peer that is Dead from the start is still tried (and times out
// or answers). Like disconnect events, it is off when WithFailFast(false)
// is given. The client does not close tr.
func WithLiveness(tr *heartbeat.Tracker) ClientOption {
	return func(c *clientConfig) error {
		if tr == nil {
			return optionError("WithLiveness", "nil tracker")
		}
		c.liveness = tr
		return nil
	}
}

// watchPeer returns a context that ends, with cause ErrPeerGone, when the
// liveness tracker reports addr Dead, and a function that stops watching.
// Without a tracker, or with fail-fast off, the context is nil.
func (c *Client) watchPeer(addr string) (dead context.Context, stop func()) {
	tr := c.cfg.liveness
	if tr == nil || !c.cfg.failFast {
		return nil, noop
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	remove := tr.OnChange(func(ev heartbeat.Event) {
		if ev.Peer == addr && ev.To == heartbeat.Dead {
			cancel(ErrPeerGone)
		}
	})
	return ctx, func() { remove(); cancel(nil) }
}
