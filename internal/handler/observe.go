package handler

import (
	"context"
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/observe"
)

// Report tells o how a handler run of component c (a worker, whose
// endpoint is the queue's or broker's) ended: observe.KindPanic,
// KindHandlerTimeout or KindHandlerError for those endings, then
// KindHandled with the outcome and how long it ran. It is shared by the
// workers of reliable/ppp and reliable/mdp; reliable.Server reports from
// its own events.
func Report(ctx context.Context, o observe.Observer, c observe.Component, endpoint string, out *Outcome, elapsed time.Duration) {
	ev := observe.Event{Component: c, Kind: observe.KindHandled, Endpoint: endpoint,
		Outcome: observe.OutcomeOK, Code: out.Code, Err: out.Err, Elapsed: elapsed}
	what := observe.Event{Component: c, Endpoint: endpoint, Err: out.Err, Code: out.Code, Elapsed: elapsed}
	switch out.Ending {
	case Replied:
		o.Observe(ctx, ev)
		return
	case Panicked, Exited:
		ev.Outcome = observe.OutcomePanic
		what.Kind, what.Name, what.Err = observe.KindPanic, fmt.Sprint(out.Panic), fmt.Errorf("panic: %v", out.Panic)
	case TimedOut:
		ev.Outcome, what.Kind = observe.OutcomeTimeout, observe.KindHandlerTimeout
	default:
		ev.Outcome, what.Kind = observe.OutcomeError, observe.KindHandlerError
	}
	o.Observe(ctx, what)
	o.Observe(ctx, ev)
}
