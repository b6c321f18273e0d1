// Package zgotel reports what zmqguard does to OpenTelemetry, and carries
// the trace context across a request: an observe.Observer and
// observe.Propagator.
//
//	o, err := zgotel.New() // the global tracer and meter providers
//	c, err := reliable.NewClient(zctx, eps, reliable.WithObserver(o))
//	srv, err := reliable.Listen(zctx, ep, h, reliable.WithServerObserver(o))
//
// Traces: each client request is a span (zmqguard.request, kind client)
// under the caller's, and its W3C trace context travels in the request's
// trace frame (docs/PROTOCOL.md section 4.1), which servers that predate
// it ignore. The server starts a span (zmqguard.handle, kind server) in
// that trace and runs the handler in it, so the handler's own spans join
// the caller's trace.
//
// Metrics: the durations of requests and handler runs by outcome, and a
// counter of every event by component and kind; docs/OBSERVABILITY.md
// lists them.
//
// # Concurrency
//
// An Observer is safe for concurrent use.
package zgotel
