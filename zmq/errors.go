package zmq

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/engine"
)

// The engine returns zmq's own error values, and package timeout reaches
// a Socket's engine through engine.Of.
func init() {
	engine.SetErrors(engine.Errors{
		Closed:  ErrorSocketClosed,
		Timeout: func(op string, cause error) error { return &TimeoutError{Op: op, Cause: cause} },
		IsTimeout: func(err error) bool {
			_, ok := err.(*TimeoutError)
			return ok
		},
		Errno: func(e syscall.Errno) error { return Errno(e) },
		Partial: func(sent, frames int, cause error) error {
			return &PartialMessageError{Sent: sent, Frames: frames, Err: cause}
		},
		Invalid: ErrInvalidMessage,
	})
	engine.Of = func(s any) *engine.Socket { return &s.(*Socket).core }
}

// An Errno is a libzmq error number: a POSIX errno or one of libzmq's own
// (EFSM, ETERM, ...). It implements error and matches the syscall.Errno of
// the same number under errors.Is, so errors.Is(err, syscall.EAGAIN) works.
// ETERM also matches net.ErrClosed, because it means the context is gone.
type Errno uintptr

// Error returns libzmq's description of the error.
func (e Errno) Error() string { return "zmq: " + zmq4.Errno(e).Error() }

// Is reports whether e matches target: the syscall.Errno or Errno with the
// same number, or net.ErrClosed for ETERM.
func (e Errno) Is(target error) bool {
	switch t := target.(type) {
	case syscall.Errno:
		return uintptr(t) == uintptr(e)
	case Errno:
		return t == e
	}
	return e == ETERM && target == net.ErrClosed
}

// Timeout reports whether e is EAGAIN, which libzmq returns when a socket
// timeout expires.
func (e Errno) Timeout() bool { return e == Errno(syscall.EAGAIN) }

// AsErrno converts err to an Errno. It unwraps err, so it also finds the
// errno inside zmqguard's richer errors (a timeout yields EAGAIN, like
// pebbe/zmq4's timeouts). It returns 0 when err carries no errno.
func AsErrno(err error) Errno {
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return Errno(se)
	}
	var pe zmq4.Errno
	if errors.As(err, &pe) {
		return Errno(pe)
	}
	return 0
}

// closedError is the error for a socket or context used after Close or
// Term. It matches net.ErrClosed.
type closedError struct{ what string }

func (e *closedError) Error() string        { return "zmq: " + e.what + " is closed" }
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

var (
	// ErrorSocketClosed is returned when a closed socket is used. It matches
	// net.ErrClosed.
	ErrorSocketClosed error = &closedError{"socket"}
	// ErrorContextClosed is returned when a terminated context is used. It
	// matches net.ErrClosed.
	ErrorContextClosed error = &closedError{"context"}
	// ErrorMoreExpected is returned by RecvEvent when an event lacks its
	// second frame.
	ErrorMoreExpected = errors.New("zmq: more expected")
	// ErrorNotImplemented405 mirrors pebbe/zmq4; libzmq 4.0.5 or newer is needed.
	ErrorNotImplemented405 = zmq4.ErrorNotImplemented405
	// ErrorNotImplemented41 mirrors pebbe/zmq4; libzmq 4.1 or newer is needed.
	ErrorNotImplemented41 = zmq4.ErrorNotImplemented41
	// ErrorNotImplemented42 mirrors pebbe/zmq4; libzmq 4.2 or newer is needed.
	ErrorNotImplemented42 = zmq4.ErrorNotImplemented42
	// ErrorNotImplementedWindows mirrors pebbe/zmq4.
	ErrorNotImplementedWindows = zmq4.ErrorNotImplementedWindows
	// ErrorNoSocket is returned by Poller and Reactor methods given a socket
	// they do not hold.
	ErrorNoSocket = errors.New("zmq: no such socket")

	// ErrPartialMessage is returned when a multipart send failed after its
	// first frame was queued. libzmq cannot take the queued frames back, so
	// the socket refuses every further send (with this error) until Reset or
	// Close: otherwise the next message would be glued onto the broken one.
	ErrPartialMessage = errors.New("zmq: multipart message sent partially; socket needs Reset")
	// ErrInvalidMessage is returned when a send is refused before its frame
	// is sent: an empty message, a frame of an unsupported type, or bytes
	// that cgo refuses to pass to libzmq (a byte array inside a struct
	// that also holds pointers) in a frame passed as it is: a one-frame
	// send, or a message of over 16 frames or 4 KiB (smaller ones are
	// copied into C memory first). In a multipart message, a frame refused
	// after the first leaves the socket broken (ErrPartialMessage).
	ErrInvalidMessage = errors.New("zmq: invalid message")
	// ErrTermTimeout is returned by Context.Term when libzmq did not finish
	// terminating within the context's term timeout (a socket created
	// outside zmqguard is probably still open).
	ErrTermTimeout = errors.New("zmq: context termination timed out")
)

// TimeoutError is returned when a deadline, a socket timeout or a context
// ends a blocking call. It is a net.Error with Timeout() true when a
// deadline caused it, and it matches os.ErrDeadlineExceeded, EAGAIN (as a
// pebbe/zmq4 timeout would) and, when a context ended the call, that
// context's error. Nothing was sent or received when it is returned.
type TimeoutError struct {
	// Op is the operation: "send", "recv" or "wait".
	Op string
	// Cause is the context error when a context ended the call, else nil.
	Cause error
}

// Error names the operation that timed out and, if any, its cause.
func (e *TimeoutError) Error() string {
	if e.Cause != nil {
		return "zmq: " + e.Op + ": " + e.Cause.Error()
	}
	return "zmq: " + e.Op + ": i/o timeout"
}

// Timeout reports true unless the call was ended by context cancellation
// (as opposed to a deadline).
func (e *TimeoutError) Timeout() bool { return !errors.Is(e.Cause, context.Canceled) }

// Temporary reports true: the operation may succeed if retried.
func (e *TimeoutError) Temporary() bool { return true }

// Unwrap returns os.ErrDeadlineExceeded (when a deadline caused the error),
// EAGAIN and the context's error, so errors.Is matches each of them.
func (e *TimeoutError) Unwrap() []error {
	if e.Cause == nil {
		return []error{os.ErrDeadlineExceeded, Errno(syscall.EAGAIN)}
	}
	if e.Timeout() {
		return []error{os.ErrDeadlineExceeded, Errno(syscall.EAGAIN), e.Cause}
	}
	return []error{Errno(syscall.EAGAIN), e.Cause}
}

var _ net.Error = (*TimeoutError)(nil)

// wrapErr converts errors coming from pebbe/zmq4 or cgo into zmqguard's.
func wrapErr(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case zmq4.Errno:
		return Errno(e)
	case syscall.Errno:
		return Errno(e)
	}
	switch err {
	case zmq4.ErrorSocketClosed:
		return ErrorSocketClosed
	case zmq4.ErrorContextClosed:
		return ErrorContextClosed
	case zmq4.ErrorMoreExpected:
		return ErrorMoreExpected
	case zmq4.ErrorNoSocket:
		return ErrorNoSocket
	}
	return err
}

func isErrno(err error, n syscall.Errno) bool {
	switch e := err.(type) {
	case Errno:
		return uintptr(e) == uintptr(n)
	case zmq4.Errno:
		return uintptr(e) == uintptr(n)
	case syscall.Errno:
		return e == n
	}
	return false
}

func isIntr(err error) bool { return isErrno(err, syscall.EINTR) }
