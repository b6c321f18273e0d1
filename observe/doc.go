// Package observe is how zmqguard is seen from outside: one Observer
// interface that every component reports into (reliable.Client and
// reliable.Server, ppp.Queue and ppp.Worker, mdp.Broker, and the sockets
// under them through their monitor events), in the manner of grpc-go's
// stats.Handler and franz-go's hooks. The library prints nothing and
// depends on nothing here: the adapters that turn events into log records
// (contrib/slog), Prometheus series (contrib/prometheus) or OpenTelemetry
// metrics and spans (contrib/otel) are modules of their own.
//
// A component reports an Event for each thing it did or saw: attempts and
// retries, timeouts, give-ups, stale replies dropped, resets, handler
// errors and panics, cache hits, malformed input, peers coming and going,
// monitor events, workers joining and lost, messages and bytes through
// its sockets, and the memory budget it starts with. docs/OBSERVABILITY.md
// lists the kinds and what the adapters make of them.
//
// # Cost
//
// A component without an Observer tests one nil interface per event and
// builds nothing: no Event, no allocation (reliable's BenchmarkObserver
// measures it). With one, an Event is passed by value; what it costs
// beyond that is the Observer's.
//
// # Concurrency
//
// Observe is called from the goroutines that do the work, often many at
// once: an Observer must be safe for concurrent use, return quickly and
// never block (a slow Observer slows the request path), and must not
// panic. The Event and its Err are the Observer's to read during the call;
// it must not keep the Event's byte slices (there are none today) or
// assume Err stays comparable by pointer.
//
// # Trace context
//
// An Observer that also implements Propagator carries context across a
// request: the client asks it for bytes to send with each attempt, as the
// optional trace frame of docs/PROTOCOL.md, and the server hands those
// bytes back to it to build the handler's context. Servers that predate
// the frame ignore it.
package observe
