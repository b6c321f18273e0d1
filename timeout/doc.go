// Package timeout is the one home of context-bounded I/O on zmqguard
// sockets: every blocking call takes a context.Context first, ends at its
// deadline, and wakes the moment it is cancelled.
//
// pebbe/zmq4 has no context support: a blocked receive can only end with
// the socket's RCVTIMEO, which EINTR retries stretch and which is truncated
// to whole milliseconds. Package zmq keeps pebbe's method set and makes
// those socket timeouts exact; this package adds the context:
//
//	msg, err := timeout.RecvMessageBytes(ctx, sock)
//	err = timeout.SendMessage(ctx, sock, "hello", payload)
//	ev, err := timeout.Wait(ctx, sock, zmq.POLLIN)
//	reply, err := timeout.Request(ctx, req, "hello")
//
// The ...Until variants take an absolute deadline as well as ctx, so a
// caller that bounds many calls by deadlines (package reliable does, per
// attempt) allocates no context for each.
//
// Request is one bounded round trip on a socket the caller owns. Most
// programs that make requests want reliable.Client instead (retries,
// failover, correlation) or, to un-stick a pebbe/zmq4 REQ program,
// reliable.ReqSocket.
//
// # Semantics
//
// For every function:
//
//   - A ctx that is already done returns at once, without touching libzmq:
//     nothing is sent, nothing is received.
//   - The wait ends at ctx's deadline. A per-socket default timeout (the
//     socket's SetRcvtimeo or SetSndtimeo) applies only when ctx has no
//     deadline, and never to the ...Until variants and Wait.
//   - Cancelling ctx wakes a blocked call at once.
//   - A timeout returns a *zmq.TimeoutError. It is a net.Error whose
//     Timeout() is true, and it matches os.ErrDeadlineExceeded with
//     errors.Is, and also ctx.Err() (context.DeadlineExceeded) when ctx's
//     deadline caused it, by the time the call returns. A cancellation returns the same type, matching
//     ctx.Err() (context.Canceled), with Timeout() false.
//   - A multipart message is received whole or not at all, and sent whole
//     or not at all: a timeout never leaves part of a message behind.
//   - Closing the socket from any goroutine while a call waits makes that
//     call return an error matching net.ErrClosed.
//   - EINTR never reaches the caller (unless the zmq.Context was told
//     otherwise with SetRetryAfterEINTR(false)), and retries never stretch
//     a deadline.
//
// # Mechanism
//
// The calls run on zmqguard's no-hang engine (internal/engine), the same
// that serves zmq.Socket's own sends and receives. Each call first tries
// the operation without blocking, which is all it costs when a message is
// queued (no poll per message). Only when the socket is not ready does it
// park the goroutine in Go's netpoller on the socket's ZMQ_FD, with the
// deadline as the netpoller's deadline and the context's cancellation as a
// wake-up. A parked call holds no OS thread, so thousands of sockets can
// wait at once on a handful of threads (a receive whose recent waits were
// short first blocks in libzmq for up to about 1 ms, interruptibly; see
// package zmq). The
// defaults are the socket's own exact timeouts, so honouring them
// allocates no context per call.
//
// # Concurrency
//
// A libzmq socket must be used by one goroutine at a time, and so must the
// sockets given to this package's functions: calls on one socket must not
// overlap. The one exception is the socket's Close, which may be called
// from any goroutine at any time; calls blocked on that socket then return
// an error matching net.ErrClosed.
// Calls on different sockets may run concurrently, and one ctx may bound
// any number of calls on any number of sockets at once.
//
// The package keeps no global state and owns no goroutines.
package timeout
