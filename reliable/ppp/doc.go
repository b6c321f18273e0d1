// Package ppp is the Paranoid Pirate pattern (ZeroMQ RFC 6, zguide
// chapter 4) with zmqguard's guarantees, specified in docs/PPP.md: a
// load-balancing Queue that tracks its workers by heartbeats and never
// loses a request silently, Workers that serve a reliable.Handler and
// reconnect with backoff when the queue goes silent, and the RFC 6 codec
// (Parse, ReadyMessage, HeartbeatMessage).
//
//	q, err := ppp.NewQueue(zctx, "tcp://*:5555", "tcp://*:5556")
//	go q.Run(ctx)
//	w, err := ppp.NewWorker(zctx, "tcp://queue:5556", handler)
//	go w.Run(ctx)
//
// Clients are anything that speaks the REQ envelope or ZGRR/1
// (docs/PROTOCOL.md): a zguide Lazy Pirate client, a REQ socket, a
// reliable.Client in either mode. Both sides interoperate with zguide's
// ppqueue and ppworker: the Queue sends every worker [token, "", body...],
// the three frames zguide's workers accept, and the Worker echoes any
// envelope. The one combination that cannot work is a correlated client
// through zguide's queue to zguide's workers (docs/PPP.md lists what
// interoperates). Replies and error replies are framed by reliable/wire
// (a plain client that does not identify as zmqguard gets no error
// reply), and a worker runs its handler with the same rules as
// reliable.Server (see reliable.Handler).
//
// With WithQueueBinaryStar a queue is one server of a Binary Star pair
// (package reliable/bstar, docs/BINARY-STAR.md): workers run one Worker
// per queue, and a reliable.Client given both frontends follows the
// active one.
//
// # Concurrency
//
// Queue.Run and Worker.Run are called once each; Run's goroutine is the
// only one that touches the sockets (a worker's handler runs on a
// goroutine of its own, one request at a time, and hands its reply to
// Run's socket under a lock). Close, Stats and Tracker are safe to call
// from any goroutine at any time; Close stops Run and waits for it. The
// codec's functions keep no state and are safe for concurrent use.
//
// # Errors
//
// Errors match with errors.Is and errors.As: ErrQueueClosed and
// ErrWorkerClosed (both match net.ErrClosed), ErrQueueRunning,
// ErrWorkerRunning, ErrHandlerStuck, ErrMalformed and *MalformedError for
// the codec, and *zmq.OptionError for every invalid option, a nil one
// included. A queue whose pair stops with a fatal error returns it from
// Run (bstar.ErrDualActive and the like). Nothing is printed: observe with
// Stats and the event hooks.
package ppp
