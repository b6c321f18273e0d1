// Package reliable is request/reply over ZeroMQ that never hangs: a Lazy
// Pirate client that retries and fails over, a self-healing REQ socket and
// a server that answers every request once and runs it once (across its
// own crashes too, with a persistent ReplyStore: docs/DURABILITY.md). The wire protocol they
// speak (docs/PROTOCOL.md) is package reliable/wire; the Paranoid Pirate
// queue and worker are package reliable/ppp.
//
// # Clients
//
// Client is the request API to reach for. It sends a request and returns
// its reply, or an error that says why there is none:
//
//	c, err := reliable.NewClient(zctx, []string{"tcp://a:5555", "tcp://b:5555"})
//	reply, err := c.Request(ctx, []byte("hello"))
//
// Each attempt has its own timeout, attempts are capped with exponential
// backoff and jitter between them, and a total deadline bounds the whole
// call: ctx's, else attempts × attempt timeout plus the backoff pauses.
// Only attempts that reach a
// peer count: while none is connected the request waits for one within its
// deadline. A request whose peer disconnects (or, with WithLiveness, is
// reported Dead by a heartbeat.Tracker) fails over at once instead of
// waiting out its attempt. When it gives up it returns a *NoReplyError, which matches
// ErrNoReply, its last cause and, when ctx ended the call, ctx's error. A
// reply that belongs to an earlier attempt or another request is never
// returned: it is counted and dropped (ClientStats.StaleDropped).
//
// Correlated mode (the default) puts a request-id frame (wire.RequestID)
// in the envelope (docs/PROTOCOL.md), so many requests can be in flight on
// one DEALER per endpoint; any server that echoes the envelope works (REP,
// ROUTER).
// Plain mode speaks the exact REQ envelope, for peers that pop [id, "",
// body] (the zguide queues), one request at a time, and resets its socket
// after a failed attempt.
//
// ReqSocket is for migrating: a REQ socket with pebbe/zmq4's method set
// that repairs itself after a failed receive, so the next Send works
// instead of failing with EFSM. Changing the constructor of a stuck pebbe
// program is enough; new code uses Client. (timeout.Request, lower still,
// is one bounded round trip on a socket the caller owns.)
//
// NewClientFor takes a discovery.Resolver (a DNS name, an etcd prefix in
// contrib/etcd) instead of a list: the client connects to replicas as they
// appear, drains and closes those that leave, and spreads requests over
// them with WithBalancer (docs/SCALE-OUT.md).
//
// # Servers
//
// Server runs a Handler per request and always replies: a handler's error,
// panic or runtime.Goexit, a request it did not finish in time, an
// overload and a malformed request each get one typed error reply (a
// *RemoteError on the client side, its Code one of the wire.Code
// constants), and a retried request is answered from its reply cache
// instead of running twice. A handler chooses its own error reply by
// returning an error with a ReplyError method, such as a *RemoteError (see
// Handler). The Paranoid Pirate worker of package reliable/ppp runs a
// Handler by the same rules.
//
// A Server's memory is known at start: it bounds what a peer can make it
// hold (requests in all their frames, replies, connections, the bytes
// libzmq queues both ways, the reply cache), states the worst case
// (Server.Budget, MemoryBudget) and fits its limits to a figure
// (WithMemoryBudget). A Client bounds the replies it accepts
// (WithMaxReplySize) and the requests it sends (WithMaxRequestSize).
// docs/PROTOCOL.md section 11 says what is bounded, by what, and what is
// not.
//
// # Durability
//
// The reply cache and a Client's requests live in memory. Two opt-in
// pieces make them outlive a crash (docs/DURABILITY.md): a ReplyStore
// (WithReplyStore) records each request as started and then its outcome,
// so a restarted Server answers retries from it; an Outbox writes each
// request to an OutboxStore before sending it and replays the pending ones
// with their request ids after a client restart, delivering replies to a
// function, and keeps the requests that gave up as dead letters. Package
// contrib/bbolt (a module of its own) has both stores on bbolt files.
//
// # Options
//
// Constructors take functional options. An invalid value, or a nil
// option, makes the constructor fail with a *zmq.OptionError that names
// the option. Backoff is the retry policy of the Client and of
// ppp.Worker; its zero fields mean the default of whichever uses it.
//
// # Concurrency
//
//   - A Client is safe for concurrent use by many goroutines; in Correlated
//     mode their requests are in flight at the same time, in Plain mode
//     they take turns. Close ends requests in flight with ErrClientClosed.
//   - A ReqSocket is not safe for concurrent use, like any socket; Close
//     may be called from any goroutine.
//   - Server.Serve is called once, and runs the only goroutine that
//     touches the server's socket; Shutdown, Close and Stats are safe to
//     call from any goroutine at any time. Handlers run concurrently, each
//     on a goroutine of its own, which also writes the request's records
//     to a ReplyStore; the serve loop reads it.
//   - An Outbox's methods are safe for concurrent use; it sends each
//     request on a goroutine of its own and calls its deliver function
//     from there, concurrently.
//
// # Errors
//
// Errors match with errors.Is and errors.As: ErrNoReply and *NoReplyError
// (which also matches its last cause, the context's error and, when the
// context's deadline ended the call, os.ErrDeadlineExceeded), ErrPeerGone,
// ErrNotConnected, ErrTooLarge and *TooLargeError (a message over a size
// limit), *RemoteError (with its Code; ErrOutcomeUnknown matches code
// wire.CodeOutcomeUnknown), ErrNotFound (an Outbox's unknown request), ErrClientClosed and
// ErrServerClosed (both match net.ErrClosed), and option errors as
// *zmq.OptionError. Nothing is printed: observe with the Stats methods and
// the event hooks.
package reliable
