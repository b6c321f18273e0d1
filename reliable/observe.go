package reliable

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// WithObserver reports what the client does to o (package observe):
// attempts, failed attempts, stale replies, resets, give-ups and the end
// of each request, the messages and bytes through its sockets, sends that
// found a socket full, and its connections' monitor events. When o is an
// observe.Propagator, each attempt carries what o.Inject returns in a
// trace frame (docs/PROTOCOL.md section 4.1). Nil (the default) observes
// nothing, at no cost.
func WithObserver(o observe.Observer) ClientOption {
	return func(c *clientConfig) error { c.observer = o; return nil }
}

// WithServerObserver reports what the server does to o (package observe):
// everything ServerEvent reports, a KindHandled event per handler run with
// its outcome and duration, the messages and bytes through its socket,
// connections accepted, lost and failing their handshake, and, when Serve
// starts, the figures of its MemoryBudget. When o is an
// observe.Propagator, a request's trace frame goes through o.Extract to
// make its handler's context. Nil (the default) observes nothing.
func WithServerObserver(o observe.Observer) ServerOption {
	return func(c *serverConfig) error { c.observer = o; return nil }
}

// observeSend reports a send of frames: the message, or a full socket.
func observeSend(o observe.Observer, c observe.Component, addr string, frames [][]byte, err error) {
	switch {
	case err == nil:
		o.Observe(context.Background(), observe.Event{Component: c, Kind: observe.KindSent, Endpoint: addr, Value: size(frames)})
	case errors.Is(err, syscall.EAGAIN):
		o.Observe(context.Background(), observe.Event{Component: c, Kind: observe.KindSendBlocked, Endpoint: addr, Err: err})
	}
}

func size(frames [][]byte) int64 {
	var n int64
	for _, f := range frames {
		n += int64(len(f))
	}
	return n
}

// Observed returns the observe.Event that reports ev to an Observer, or
// false for EventReply, which has none (KindDone reports a request's
// end). mdp.Client reports its events with it.
func (ev ClientEvent) Observed() (observe.Event, bool) {
	out := observe.Event{Component: observe.Client, Endpoint: ev.Endpoint, Request: ev.Seq,
		Attempt: ev.Attempt, Err: ev.Err, Elapsed: ev.Elapsed}
	switch ev.Kind {
	case EventAttempt:
		out.Kind = observe.KindAttempt
	case EventAttemptFailed:
		out.Kind, out.Outcome = observe.KindAttemptFailed, attemptOutcome(ev.Err)
		var re *RemoteError
		if errors.As(ev.Err, &re) {
			out.Code = re.Code
		}
	case EventReset:
		out.Kind = observe.KindReset
	case EventStale:
		out.Kind = observe.KindStale
	case EventGiveUp:
		out.Kind = observe.KindGiveUp
	default:
		return out, false
	}
	return out, true
}

func attemptOutcome(err error) string {
	switch {
	case errors.Is(err, ErrPeerGone):
		return observe.OutcomePeerGone
	case errors.Is(err, errAttemptTimeout):
		return observe.OutcomeTimeout
	}
	return observe.OutcomeError
}

// requestOutcome classifies the end of a request.
func requestOutcome(err error) string {
	var re *RemoteError
	switch {
	case err == nil:
		return observe.OutcomeOK
	case errors.As(err, &re):
		return observe.OutcomeRemoteError
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return observe.OutcomeCanceled
	case errors.Is(err, ErrNoReply):
		return observe.OutcomeGaveUp
	}
	return observe.OutcomeRejected
}

// requestObserved is Request with an observer: it reports the request's
// end (KindDone) and carries the observer's trace context.
func (c *Client) requestObserved(ctx context.Context, seq uint64, parts [][]byte) ([][]byte, error) {
	start := time.Now()
	if p := observe.PropagatorOf(c.cfg.observer); p != nil {
		var carried []byte
		// Plain mode has the exact REQ envelope: no room for a trace frame.
		if ctx, carried = p.Inject(ctx); len(carried) > 0 && c.plain == nil {
			ctx = context.WithValue(ctx, traceKey{}, wire.AppendTraceFrame(nil, carried))
		}
	}
	body, err := c.request(ctx, seq, parts)
	ev := observe.Event{Component: observe.Client, Kind: observe.KindDone, Outcome: observe.OutcomeOK, Elapsed: time.Since(start)}
	if err != nil { // errors.As allocates: not on the way of a reply
		ev.Outcome, ev.Err = requestOutcome(err), err
		if re := (*RemoteError)(nil); errors.As(err, &re) {
			ev.Code = re.Code
		}
	}
	c.cfg.observer.Observe(ctx, ev)
	return body, err
}

// traceKey keys the trace frame of a request in its context.
type traceKey struct{}

// traceFrame returns the trace frame the request's context carries, if any.
func traceFrame(ctx context.Context) []byte {
	f, _ := ctx.Value(traceKey{}).([]byte)
	return f
}

// observeClient reports a ClientEvent to the observer, if it has a
// counterpart.
func (c *Client) observeClient(ev ClientEvent) {
	if out, ok := ev.Observed(); ok {
		c.cfg.observer.Observe(context.Background(), out)
	}
}

// observeMalformed reports a malformed reply.
func (c *Client) observeMalformed(addr, why string) {
	if o := c.cfg.observer; o != nil {
		o.Observe(context.Background(), observe.Event{Component: observe.Client, Kind: observe.KindMalformed, Endpoint: addr, Name: why})
	}
}

// serverEvent turns a ServerEvent into its observe event.
func serverEvent(ev ServerEvent) observe.Event {
	out := observe.Event{Component: observe.Server, Request: ev.ID.Seq, Attempt: int(ev.ID.Attempt),
		Code: ev.Code, Err: ev.Err, Elapsed: ev.Elapsed, Name: ev.Message}
	switch ev.Kind {
	case ServerEventHandlerError:
		out.Kind = observe.KindHandlerError
	case ServerEventPanic:
		out.Kind = observe.KindPanic
		if out.Err == nil {
			out.Err = fmt.Errorf("panic: %s", ev.Message)
		}
	case ServerEventTimeout:
		out.Kind = observe.KindHandlerTimeout
	case ServerEventLateResult:
		out.Kind = observe.KindLateResult
	case ServerEventMalformed:
		out.Kind = observe.KindMalformed
	case ServerEventDuplicate:
		out.Kind, out.Name = observe.KindCacheHit, "cached"
		if ev.Message == dupJoined {
			out.Name = "in_flight"
		}
	case ServerEventEviction:
		out.Kind, out.Value = observe.KindEviction, int64(ev.Count)
	case ServerEventReplyDropped:
		out.Kind = observe.KindReplyDropped
	case ServerEventRefused:
		out.Kind = observe.KindRefused
	case ServerEventTooLarge:
		out.Kind = observe.KindTooLarge
	case ServerEventConnectionShed:
		out.Kind = observe.KindConnectionShed
	}
	return out
}

// dupJoined is the Message of a ServerEventDuplicate joined to its
// running request.
const dupJoined = "joined to the running request"

// handledOutcome is the outcome of a handler run, from its event.
func handledOutcome(kind ServerEventKind) string {
	switch kind {
	case 0:
		return observe.OutcomeOK
	case ServerEventPanic:
		return observe.OutcomePanic
	case ServerEventTimeout:
		return observe.OutcomeTimeout
	}
	return observe.OutcomeError
}

// observeBudget reports the figures of the memory budget.
func observeBudget(o observe.Observer, b MemoryBudget) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"total", b.Total}, {"base", b.Base}, {"connections", b.Connections},
		{"requests_queued", b.RequestsQueued}, {"ingest", b.Ingest}, {"requests_read", b.RequestsRead},
		{"handlers", b.Handlers}, {"replies_queued", b.RepliesQueued}, {"cache", b.Cache}, {"gc", b.GC},
	} {
		o.Observe(context.Background(), observe.Event{Component: observe.Server, Kind: observe.KindBudget, Name: f.name, Value: f.v})
	}
}

// observeSent reports a client send (see observeSend).
func (c *Client) observeSent(addr string, frames [][]byte, err error) {
	if o := c.cfg.observer; o != nil {
		observeSend(o, observe.Client, addr, frames, err)
	}
}

// observeReceived reports a message a client received.
func (c *Client) observeReceived(addr string, msg [][]byte) {
	if o := c.cfg.observer; o != nil {
		o.Observe(context.Background(), observe.Event{Component: observe.Client, Kind: observe.KindReceived, Endpoint: addr, Value: size(msg)})
	}
}

// observeStale reports a stale reply dropped without a ClientEvent.
func (c *Client) observeStale(seq uint64, attempt int, addr string) {
	if o := c.cfg.observer; o != nil {
		o.Observe(context.Background(), observe.Event{Component: observe.Client, Kind: observe.KindStale, Request: seq, Attempt: attempt, Endpoint: addr})
	}
}

// withTrace returns msg with the request's trace frame, if it has one,
// in front: [trace, ID, "", body...].
func (c *Client) withTrace(ctx context.Context, msg [][]byte) [][]byte {
	if c.cfg.observer == nil {
		return msg
	}
	if tf := traceFrame(ctx); tf != nil {
		return append([][]byte{tf}, msg...)
	}
	return msg
}

// observeMonitor reports a monitor event of the endpoint's socket.
func (ep *endpoint) observeMonitor(ev zmq.MonitorEvent) {
	if ep.obs == nil {
		return
	}
	if out, ok := observe.FromMonitor(observe.Client, ev); ok {
		if out.Endpoint == "" {
			out.Endpoint = ep.addr
		}
		ep.obs.Observe(context.Background(), out)
	}
}

// observeUp reports the endpoint coming up or going down.
func (ep *endpoint) observeUp(up bool) {
	if ep.obs == nil || !up && ep.quitting.Load() { // the client closing is no peer lost
		return
	}
	kind := observe.KindPeerDown
	if up {
		kind = observe.KindPeerUp
	}
	ep.obs.Observe(context.Background(), observe.Event{Component: observe.Client, Kind: kind, Endpoint: ep.addr})
}

// observeReceived reports a request message of n bytes (envelope and
// body, without the routing id).
func (l *serverLoop) observeReceived(n int64) {
	if o := l.s.cfg.observer; o != nil {
		o.Observe(context.Background(), observe.Event{Component: observe.Server, Kind: observe.KindReceived, Value: n})
	}
}

// observeSent reports a reply sent, or refused by a full socket.
func (l *serverLoop) observeSent(frames [][]byte, err error) {
	if o := l.s.cfg.observer; o != nil {
		observeSend(o, observe.Server, "", frames, err)
	}
}

// observeHandled reports a handler's end (KindHandled) in its context;
// kind is the ServerEvent its outcome reported, 0 for a reply.
func (l *serverLoop) observeHandled(c *serverCall, kind ServerEventKind) {
	o := l.s.cfg.observer
	if o == nil {
		return
	}
	outcome := handledOutcome(kind)
	if c.timedOut {
		outcome = observe.OutcomeTimeout
	}
	o.Observe(c.ctx, observe.Event{Component: observe.Server, Kind: observe.KindHandled, Outcome: outcome,
		Request: c.in.ID.Seq, Attempt: int(c.in.ID.Attempt), Code: c.out.Code, Err: c.out.Err, Elapsed: time.Since(c.start)})
}

// extractTrace returns the handler's base context with what the request's
// trace frame carries, when the observer is a Propagator.
func (l *serverLoop) extractTrace(base context.Context, env [][]byte) context.Context {
	p := observe.PropagatorOf(l.s.cfg.observer)
	if p == nil {
		return base
	}
	if carried, ok := wire.TraceOf(env); ok {
		return p.Extract(base, carried)
	}
	return base
}

// observeMonitor reports a monitor event of the server's socket.
func (s *Server) observeMonitor(ev zmq.MonitorEvent) {
	if s.cfg.observer == nil {
		return
	}
	if out, ok := observe.FromMonitor(observe.Server, ev); ok {
		s.cfg.observer.Observe(context.Background(), out)
	}
}
