package reliable

import "context"

// A Client's sockets belong to its zmq.Context: Context.Term closes them
// under the client. libzmq reports nothing to a socket that is closed, so
// the client learns it from its endpoints' monitors, which stop with their
// sockets: a monitor that stops while the client has not closed the socket
// itself means the socket was closed under it. The client then behaves as
// closed: requests in flight and every later request return
// ErrClientClosed (which matches net.ErrClosed) at once, instead of
// waiting out their attempts for a peer that can no longer be reached.

// stopKey carries the client's stopClosing in its closing context, which
// every endpoint holds.
type stopKey struct{}

// withStop makes stop reachable from the endpoints' closing context.
func withStop(closing context.Context, stop context.CancelCauseFunc) context.Context {
	return context.WithValue(closing, stopKey{}, stop)
}

// socketLost is called by an endpoint's monitor goroutine when it stops.
// Unless the endpoint closed its socket itself (shutdown, or a plain-mode
// reset), the socket was closed under the client: end the client's
// closing context.
func (ep *endpoint) socketLost() {
	if ep.quitting.Load() {
		return
	}
	if stop, ok := ep.closing.Value(stopKey{}).(context.CancelCauseFunc); ok {
		stop(ErrClientClosed)
	}
}
