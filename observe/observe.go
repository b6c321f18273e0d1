package observe

import (
	"context"
	"time"
)

// Observer receives the events of the components it is given to (with
// reliable.WithObserver, reliable.WithServerObserver, and the like). See
// the package doc for its concurrency contract.
type Observer interface {
	// Observe reports ev. ctx is the request's context for events about
	// a client request, the handler's context for events about a served
	// request, and context.Background() otherwise.
	Observe(ctx context.Context, ev Event)
}

// Func adapts a function to an Observer.
type Func func(ctx context.Context, ev Event)

// Observe calls f.
func (f Func) Observe(ctx context.Context, ev Event) { f(ctx, ev) }

// Propagator is implemented by an Observer that carries context from a
// client to a server along a request (the otel adapter carries the W3C
// trace context).
type Propagator interface {
	// Inject is called once as a client request starts. It returns the
	// context the request goes on in (its KindDone event is reported
	// with it: a span started here can end there) and what to carry from
	// it to the server with every attempt, or nil for nothing.
	Inject(ctx context.Context) (context.Context, []byte)
	// Extract returns the context a handler runs in, given the server's
	// context and the bytes a client's Inject returned. It must accept
	// any bytes, however malformed, and return ctx when it finds nothing.
	Extract(ctx context.Context, carried []byte) context.Context
}

// Event is one thing a component did or saw. Which fields are set depends
// on Kind (docs/OBSERVABILITY.md); the others are zero.
type Event struct {
	Component Component // who reports it
	Kind      Kind      // what happened

	// Endpoint is the endpoint an attempt went to, the address of a
	// monitor event, or a worker's identity. Its values are as many as
	// the peers: adapters make it a label only when asked to.
	Endpoint string
	// Request identifies the request within its client: the client's
	// sequence number (wire.RequestID.Seq); 0 for plain requests served.
	Request uint64
	Attempt int    // the attempt number, from 1 (the number of attempts for KindGiveUp)
	Outcome string // for KindDone, KindHandled and KindAttemptFailed: one of the Outcome constants
	Code    string // the error code of an error reply (wire.Code*), if any
	Err     error  // why, when something failed
	// Elapsed is since the request started (client) or arrived (server).
	Elapsed time.Duration
	// Value is the event's quantity: bytes for KindSent and KindReceived,
	// entries for KindEviction, bytes for KindBudget.
	Value int64
	// Name qualifies the event: the figure of KindBudget, the
	// malformation of KindMalformed, the service of a Majordomo event.
	Name string
}

// Outcomes of requests (KindDone), handler runs (KindHandled) and failed
// attempts (KindAttemptFailed). They are metric label values: few, fixed,
// snake_case.
const (
	OutcomeOK          = "ok"           // a reply (Done) or a handler that returned one (Handled)
	OutcomeRemoteError = "remote_error" // an error reply from the server (Done)
	OutcomeError       = "error"        // the handler returned an error (Handled); a send failed (AttemptFailed)
	OutcomePanic       = "panic"        // the handler panicked (Handled)
	OutcomeTimeout     = "timeout"      // the attempt (AttemptFailed) or handler (Handled) overran its deadline
	OutcomePeerGone    = "peer_gone"    // the attempt's peer disconnected (AttemptFailed)
	OutcomeGaveUp      = "gave_up"      // no reply: the request gave up (Done)
	OutcomeCanceled    = "canceled"     // the caller's context ended the request (Done)
	OutcomeRejected    = "rejected"     // refused before sending: too large, closed client (Done)
)

// Multi returns an Observer that reports each event to every non-nil
// observer in turn, or nil when there is none. It is a Propagator when
// one of them is: the first that is carries the context.
func Multi(obs ...Observer) Observer {
	var m multi
	for _, o := range obs {
		if o == nil {
			continue
		}
		m.obs = append(m.obs, o)
		if p, ok := o.(Propagator); ok && m.prop == nil {
			m.prop = p
		}
	}
	switch {
	case len(m.obs) == 0:
		return nil
	case len(m.obs) == 1:
		return m.obs[0]
	case m.prop != nil:
		return &multiProp{m}
	}
	return &m
}

type multi struct {
	obs  []Observer
	prop Propagator
}

func (m *multi) Observe(ctx context.Context, ev Event) {
	for _, o := range m.obs {
		o.Observe(ctx, ev)
	}
}

type multiProp struct{ multi }

func (m *multiProp) Inject(ctx context.Context) (context.Context, []byte) {
	return m.prop.Inject(ctx)
}
func (m *multiProp) Extract(ctx context.Context, b []byte) context.Context {
	return m.prop.Extract(ctx, b)
}

// PropagatorOf returns o as a Propagator, or nil when it is not one.
func PropagatorOf(o Observer) Propagator {
	p, _ := o.(Propagator)
	return p
}
