package engine

import "syscall"

// Errors are the public error values the engine returns. Package zmq owns
// the error types (zmq.TimeoutError, zmq.Errno, ...) and hands them over
// once, in its init, through SetErrors; the engine then returns them as
// they are, so nothing converts errors on the way out and every layer
// sees the same values.
type Errors struct {
	// Closed is returned by every call on a closed socket.
	Closed error
	// Timeout builds the error of a call that a deadline, a timeout or a
	// context ended; cause is the context's error, or nil for a timeout.
	Timeout func(op string, cause error) error
	// IsTimeout recognises the errors that Timeout builds.
	IsTimeout func(error) bool
	// Errno wraps an errno from libzmq.
	Errno func(syscall.Errno) error
	// Partial builds the error that breaks a socket whose multipart send
	// failed after sent of frames frames.
	Partial func(sent, frames int, cause error) error
	// Invalid is wrapped by the errors of a message refused before sending.
	Invalid error
}

var errs = Errors{
	Closed:    syscall.EBADF,
	Timeout:   func(string, error) error { return syscall.ETIMEDOUT },
	IsTimeout: func(err error) bool { return err == syscall.ETIMEDOUT },
	Errno:     func(e syscall.Errno) error { return e },
	Partial:   func(_, _ int, cause error) error { return cause },
	Invalid:   syscall.EINVAL,
}

// SetErrors installs the public errors. Package zmq calls it once, from
// init, before any socket exists.
func SetErrors(e Errors) { errs = e }

// Of returns the engine of a *zmq.Socket. Package zmq sets it in init;
// package timeout calls it, so that context-bounded I/O lives in timeout
// while zmq keeps its engine unexported (the pattern of grpc-go's
// internal package).
var Of func(zmqSocket any) *Socket

// timeoutErr is the error for a call that lim ended.
func timeoutErr(op string, cause error) error { return errs.Timeout(op, cause) }

// errno converts an error from the seam: a syscall.Errno becomes the
// public errno; anything else passes.
func errno(err error) error {
	if e, ok := err.(syscall.Errno); ok {
		return errs.Errno(e)
	}
	return err
}
