package ppp

import (
	"context"
	"time"

	"github.com/zmqguard/zmqguard/internal/handler"
	"github.com/zmqguard/zmqguard/observe"
)

// WithQueueObserver reports what the queue does to o (package observe):
// workers joining (KindWorkerJoined) and expiring (KindWorkerLost),
// requests sent again (KindRequestRetried) or failed back
// (KindRequestFailed). A stuck worker is reported as KindWorkerLost with
// Name "stuck". Endpoint is the worker's identity.
func WithQueueObserver(o observe.Observer) QueueOption {
	return func(c *queueConfig) error { c.observer = o; return nil }
}

// WithWorkerObserver reports what the worker does to o (package observe):
// each handler run (KindHandled, with KindPanic and KindHandlerError for
// those outcomes), the queue coming up (KindPeerUp) and lost
// (KindPeerDown), and reconnects (KindConnectRetried).
func WithWorkerObserver(o observe.Observer) WorkerOption {
	return func(c *workerConfig) error { c.Observer = o; return nil }
}

// WithQueueTracePassing passes the trace frame of a client's request
// (docs/PROTOCOL.md section 4.1) on to the worker, before the queue's
// token: [trace, token, "", body...], which a ppp.Worker takes apart. Off
// by default: zguide's workers accept exactly [address, "", body] and
// would drop the request. Turn it on when every worker is a ppp.Worker.
func WithQueueTracePassing(on bool) QueueOption {
	return func(c *queueConfig) error { c.passTrace = on; return nil }
}

func (q *Queue) observe(kind QueueEventKind, worker string) {
	ev := observe.Event{Component: observe.Queue, Endpoint: worker}
	switch kind {
	case QueueWorkerJoined:
		ev.Kind = observe.KindWorkerJoined
	case QueueWorkerExpired:
		ev.Kind = observe.KindWorkerLost
	case QueueWorkerStuck:
		ev.Kind, ev.Name = observe.KindWorkerLost, "stuck"
	case QueueRequestRetried:
		ev.Kind = observe.KindRequestRetried
	case QueueRequestFailed:
		ev.Kind = observe.KindRequestFailed
	default:
		return
	}
	q.cfg.observer.Observe(context.Background(), ev)
}

func (w *Worker) observe(ev WorkerEvent) {
	out := observe.Event{Component: observe.Worker, Endpoint: w.endpoint, Attempt: ev.Attempt, Elapsed: ev.Delay}
	switch ev.Kind {
	case WorkerConnected:
		out.Kind = observe.KindPeerUp
	case WorkerQueueLost:
		out.Kind = observe.KindPeerDown
	case WorkerReconnectWait:
		out.Kind = observe.KindConnectRetried
	default:
		return
	}
	w.cfg.Observer.Observe(context.Background(), out)
}

// observeHandled reports a handler run that started at start.
func (w *Worker) observeHandled(ctx context.Context, out *handler.Outcome, start time.Time) {
	if o := w.cfg.Observer; o != nil {
		handler.Report(ctx, o, observe.Worker, w.endpoint, out, time.Since(start))
	}
}

// extractTrace returns ctx with what the request's trace frame carries,
// when the observer is a Propagator (as reliable.Server does).
func (w *Worker) extractTrace(ctx context.Context, carried []byte) context.Context {
	p := observe.PropagatorOf(w.cfg.Observer)
	if p == nil || carried == nil {
		return ctx
	}
	return p.Extract(ctx, carried)
}
