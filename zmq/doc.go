// Package zmq is a drop-in replacement for github.com/pebbe/zmq4 that does
// not hang.
//
// Change the import path from github.com/pebbe/zmq4 to
// github.com/zmqguard/zmqguard/zmq and a program still compiles: every
// function, method, type and constant that applications use has a
// counterpart with the same name and a compatible signature (the API
// parity test lists the deliberate differences; see docs/MIGRATION.md).
// Underneath, the behaviour changes where pebbe/zmq4 lets programs hang or
// lose data:
//
//   - Blocking sends and receives park the goroutine in Go's netpoller on
//     the socket's ZMQ_FD instead of blocking an OS thread inside libzmq.
//     They try the operation without blocking first, so the fast path costs
//     nothing extra. Thousands of sockets can wait on a handful of threads.
//     A receive whose recent waits were short (not a batch: RecvMsgs of
//     several Msgs), and a SendMsgs batch whose recent waits for room
//     were short, first block in libzmq itself for up to about 1 ms, as
//     pebbe's blocking calls do, then park; cancel, Close and a call from
//     another goroutine interrupt them at once (with SIGURG, which Go
//     already sends its threads). At most GOMAXPROCS calls of the process
//     do so at once, none with GOMAXPROCS=1 (ZMQGUARD_HOTWAIT=0 turns it
//     off; docs/BENCHMARKS.md, "The hot wait").
//   - Timeouts (SetRcvtimeo, SetSndtimeo) are exact: never truncated to
//     whole milliseconds, never stretched by EINTR retries, and they return
//     a *TimeoutError that is a net.Error and matches
//     os.ErrDeadlineExceeded as well as EAGAIN. To bound a call by a
//     context.Context instead, use package timeout.
//   - EINTR from Go's asynchronous preemption never reaches the caller.
//   - SendMessage is atomic as far as the application can see: it checks
//     every part first, and if a frame after the first fails, the socket
//     refuses further sends with ErrPartialMessage until Reset, instead of
//     gluing the next message onto the broken one.
//   - Close is idempotent, safe from another goroutine while a call is
//     blocked (that call returns an error matching net.ErrClosed), and
//     bounded by LINGER, which defaults to DefaultLinger instead of forever.
//     Context.Term closes the context's sockets and is bounded too. Nothing
//     relies on finalizers.
//   - Errors match with errors.Is: every Errno matches its syscall.Errno,
//     a closed socket or context matches net.ErrClosed. Bind, Connect,
//     Unbind and Disconnect return an *EndpointError that names the
//     operation and the endpoint, and refuse a malformed endpoint before
//     libzmq misreads it.
//   - A small message (up to 16 frames and 4 KiB) goes to libzmq in one
//     call, and RecvMessage takes a message's first 17 frames in the call
//     that receives its first. Frames of 16 KiB to 1 MiB are sent in
//     buffers the engine takes back from libzmq once sent and reuses
//     (at most SendPoolBytes of them idle), not in a fresh allocation on
//     whichever thread the goroutine runs: that cost a 64 KiB frame ten
//     page faults.
//   - StartMonitor delivers socket events as typed values on a channel.
//   - Reset rebuilds a socket with its options and endpoints, the basis of
//     the self-healing REQ in package reliable.
//
// Raw returns the underlying *zmq4.Socket, so a migrated socket can still
// be handed to code that uses pebbe/zmq4.
//
// # Compatibility names
//
// api_gen.go is generated from pebbe/zmq4 (go generate): the option
// getters and setters, the constants, and the package-level names that
// pebbe programs use. Where a pebbe name stands for an API that zmqguard
// spells differently, the generated function says so and is for
// compatibility only: the package-level Auth* functions act on the default
// context's Authenticator (new code calls Context.StartAuth).
//
// # Concurrency
//
// A Socket, like every libzmq socket, must be used by one goroutine at a
// time. Close may be called from any goroutine at any time. One further
// pattern is supported: a single goroutine blocked in a receive while other
// goroutines send with DONTWAIT (taking turns among themselves); the
// engine's documentation (internal/engine) explains how. A Context is safe
// for concurrent use, and so are a Monitor and an Authenticator. Poller and
// Reactor are not.
//
// Sends, receives and waits run on zmqguard's no-hang engine
// (internal/engine), the only package that calls libzmq through cgo
// itself; everything else goes through pebbe/zmq4.
package zmq

//go:generate go run ../internal/apigen -o api_gen.go
