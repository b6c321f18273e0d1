// Package mdp is the Majordomo pattern (zguide chapter 4): service-
// oriented request/reply through a broker, on the wire exactly as ZeroMQ
// RFC 7 (MDP/0.1, headers MDPC01 and MDPW01) with RFC 8's management
// interface (mmi.service), and with zmqguard's guarantees, specified in
// docs/MAJORDOMO.md:
//
//   - Broker routes each request to the least recently used worker of its
//     service, expires workers by heartbeat, gives the request of a
//     worker that died to another worker (then answers
//     wire.CodeWorkerLost), answers a request whose service has no worker
//     with wire.CodeNoService after a bounded wait, bounds everything it
//     holds, and can be one server of a Binary Star pair
//     (WithBinaryStar, package reliable/bstar).
//
//   - Worker serves one service with a reliable.Handler, heartbeats, and
//     registers again when a broker goes silent or disconnects it; given
//     both servers of a pair, it registers with both.
//
//   - Client sends a request for a service and returns its reply or a
//     typed error, with reliable.Client's rules: ctx on every call,
//     attempt timeouts, retries with backoff (reliable.Backoff), failover
//     to the next broker, stale replies dropped.
//
//     b, err := mdp.NewBroker(zctx, "tcp://*:5555")
//     go b.Run(ctx)
//     w, err := mdp.NewWorker(zctx, []string{"tcp://broker:5555"}, "echo", handler)
//     go w.Run(ctx)
//     c, err := mdp.NewClient(zctx, []string{"tcp://broker:5555"})
//     reply, err := c.Request(ctx, "echo", []byte("hello"))
//
// All three interoperate with the zguide's Majordomo peers (mdbroker,
// mdwrkapi, mdcliapi; tested against the pyzmq peers in testdata/peers).
// Error replies are MDP replies whose body is [wire.PlainErrorMarker,
// code, message] (docs/PROTOCOL.md section 6): a foreign client sees them
// as a three-frame reply.
//
// MDP carries no request id: a request retried by a client, by the
// broker after its worker died, or by a client after a Binary Star
// failover may run twice; docs/MAJORDOMO.md lists the windows.
//
// # Concurrency
//
// Broker.Run and Worker.Run are called once each; Broker.Run's goroutine
// is the only one that touches the broker's socket, and each of a
// worker's broker connections has a goroutine of its own (its handler
// runs on another, one request at a time, and hands its reply to the
// connection's socket under a lock). Close, Stats and Tracker are safe to
// call from any goroutine at any time; Close stops Run and waits for it.
// A Client is safe for concurrent use by many goroutines. The codec's
// functions keep no state and are safe for concurrent use.
//
// # Errors
//
// Errors match with errors.Is and errors.As: ErrBrokerClosed and
// ErrWorkerClosed (both match net.ErrClosed), ErrRunning,
// ErrHandlerStuck, ErrServiceName, ErrMalformed and *MalformedError for
// the codec; a Client returns reliable's errors: *reliable.RemoteError
// for an error reply, *reliable.NoReplyError when it gives up,
// reliable.ErrClientClosed after Close. Every invalid option, a nil one
// included, is a *zmq.OptionError. Nothing is printed: observe with Stats
// and the event hooks.
package mdp
