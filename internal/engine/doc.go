// Package engine is zmqguard's no-hang engine, and the only package of the
// module that calls libzmq through cgo itself (sockets are created and
// configured through pebbe/zmq4).
//
// It owns what makes a blocking ZeroMQ call safe in Go:
//
//   - the seam (seam.go): receive a frame, send a frame, read ZMQ_EVENTS
//     and ZMQ_FD, on the libzmq handle inside pebbe/zmq4's socket, with a
//     fallback to pebbe's calls when that layout is unknown;
//   - the waiter (waiter.go): a duplicate of ZMQ_FD registered with Go's
//     netpoller, so a waiting call parks its goroutine, not an OS thread;
//   - the wait (wait.go): try the operation with DONTWAIT, and only when the
//     socket is not ready park until an edge on ZMQ_FD, the Limit's
//     deadline, its context's cancellation or Close; EINTR is retried
//     without stretching the deadline;
//   - the armed receive (armed.go): after two receives in a row that had
//     to wait, the next one tries inside its armed wait, saving a call into
//     libzmq per round trip;
//   - atomic multipart sends (send.go): a send that fails after its first
//     frame breaks the socket until Reset, instead of gluing the next
//     message onto the broken one;
//   - the message path (msg.go, msgio.go): Msg, a frame in C memory the
//     application controls (a view of libzmq's message, or a copy in a
//     buffer of its own), received and sent one at a time or in batches
//     with one call into libzmq per batch; receives into the caller's
//     buffer; the per-socket allocator of received []byte bodies;
//   - sends without a copy (tracked.go): a pinned Go buffer handed to
//     libzmq, whose free callback runs no Go code (it pushes onto a
//     lock-free list and writes an eventfd) and a drainer goroutine that
//     unpins and reports completion;
//   - the hot wait (hot.go), on unless ZMQGUARD_HOTWAIT=0: a short,
//     rationed blocking receive in libzmq before parking, interrupted by
//     SIGURG when a cancel, Close, another goroutine or its watchdog
//     needs it to end.
//
// A Limit bounds each call: a context, an absolute deadline, a relative
// timeout. Package zmq uses the socket's RCVTIMEO and SNDTIMEO as the
// timeout (pebbe/zmq4's semantics, made exact); package timeout uses a
// context and deadlines. Both reach the engine of a *zmq.Socket through
// Of, which zmq sets in its init; the public error values come from zmq
// through SetErrors.
//
// # Contract
//
// A Socket is used by one goroutine at a time, like every libzmq socket;
// its lock serialises each call into libzmq all the same, so that Close
// from any goroutine waits for a call in progress instead of freeing the
// socket under it. Close may be called at any time: parked calls wake and
// return the closed error.
//
// One further pattern is supported, because reliable.Client's
// leader/follower read needs it: a single goroutine parked in a receive
// while other goroutines send with DONTWAIT (taking turns among
// themselves). Any call into libzmq may consume the ZMQ_FD edge that was
// meant for the parked receiver, so every call made through the engine
// ends with Poke, which wakes a parked receiver to look again (one atomic
// load when nobody is parked). Only one goroutine may wait on a Socket at a
// time: two parked receivers are not supported.
//
// The package owns two goroutines, each only while it has work: the
// drainer of the completions of sends without a copy (tracked.go), which
// returns once none is in flight, and the hot wait's watchdog (hot.go),
// which returns 20 ticks (at most 20 ms) after the last hot wait. While a
// receive waits hot it holds the socket's lock inside libzmq; any other
// goroutine that takes the lock (Close, a leader/follower send) first ends
// that wait. The wait's context registration (context.AfterFunc)
// outlives a call, keyed by the context's Done channel, and is dropped at
// Close.
//
// A Msg belongs to no socket: its memory outlives the socket and the
// context it came from, and only its Close (or, as a safety net that
// reports a leak, a runtime cleanup) releases it.
package engine
