// Package timeout bounds sends and receives on zmqguard sockets by a
// context.Context and by per-socket default timeouts, and wakes a blocked
// call the moment its context is cancelled.
//
// pebbe/zmq4 has no context support: a blocked receive can only end with
// the socket's RCVTIMEO, which EINTR retries stretch and which is truncated
// to whole milliseconds. Here every blocking call takes ctx first:
//
//	msg, err := timeout.RecvMessageBytes(ctx, sock)
//	reply, err := timeout.Request(ctx, req, "hello")
//
// and a Socket wraps a *zmq.Socket with default timeouts while keeping the
// method set of a pebbe/zmq4 socket:
//
//	s, err := timeout.New(sock, timeout.WithRecvTimeout(2500*time.Millisecond))
//	msg, err := s.RecvMessage(0) // at most 2.5 s
//
// # Semantics
//
// For every function and method that takes a ctx:
//
//   - A ctx that is already done returns at once, without touching libzmq:
//     nothing is sent, nothing is received.
//   - The wait ends at ctx's deadline. A per-socket default timeout (the
//     socket's SetRcvtimeo or SetSndtimeo, which New's options set) applies
//     only when ctx has no deadline.
//   - Cancelling ctx wakes a blocked call at once.
//   - A timeout returns a *zmq.TimeoutError. It is a net.Error whose
//     Timeout() is true, and it matches os.ErrDeadlineExceeded with
//     errors.Is, and also ctx.Err() (context.DeadlineExceeded) when ctx's
//     deadline caused it. A cancellation returns the same type, matching
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
// Package timeout adds no machinery of its own on the fast path: it uses
// package zmq's context-aware calls and its readiness primitive,
// zmq.Socket.WaitUntil. Each call first tries the operation without
// blocking, which is all it costs when a message is queued (no poll per
// message). Only when the socket is not ready does it park the goroutine in
// Go's netpoller on the socket's ZMQ_FD, with the deadline as the
// netpoller's deadline and the context's cancellation as a wake-up. A
// waiting call holds no OS thread, so thousands of sockets can wait at once
// on a handful of threads. Defaults are the socket's own exact timeouts, so
// honouring them allocates no context per call.
//
// # Concurrency
//
// A libzmq socket must be used by one goroutine at a time, and so must the
// sockets given to this package's functions and a Socket: calls on one
// socket must not overlap. The one exception is Close (of the Socket or the
// zmq.Socket), which may be called from any goroutine at any time; calls
// blocked on that socket then return an error matching net.ErrClosed.
// Calls on different sockets may run concurrently, and one ctx may bound
// any number of calls on any number of sockets at once.
//
// The package keeps no global state and owns no goroutines.
package timeout
