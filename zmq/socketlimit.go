package zmq

import (
	"errors"
	"fmt"
	"syscall"
)

// libzmq refuses a new socket with EMFILE ("too many open files") when
// its context already has ZMQ_MAX_SOCKETS sockets (1023 by default). It
// counts the sockets that were closed but not yet reaped: zmq_close only
// hands a socket to libzmq's reaper thread, and a program that creates
// and closes sockets in a tight loop can outrun it (on two cores, ~10 000
// NewSocket+Connect+Close cycles). The process then has far fewer files
// open than its limit, and "too many open files" misleads.
//
// zmqguard raises the limit of the contexts it creates (NewContext) to
// the process's file limit, capped at maxSocketsCap: each socket needs at
// least one descriptor (its mailbox), so the file limit is the real bound
// and the socket count no longer fails first. When NewSocket still fails
// at the socket limit, the error is a *SocketLimitError that says so.

// maxSocketsCap caps the ZMQ_MAX_SOCKETS that NewContext sets: libzmq's
// own ZMQ_SOCKET_LIMIT. libzmq sizes a table of that many slots (8 bytes
// each) when the context starts.
const maxSocketsCap = 65535

// ErrTooManySockets is matched by the error of NewSocket when the
// context already has its ZMQ_MAX_SOCKETS sockets (a *SocketLimitError).
var ErrTooManySockets = errors.New("zmq: too many sockets in the context")

// SocketLimitError is the error of NewSocket at the context's socket
// limit. It matches ErrTooManySockets and syscall.EMFILE (libzmq's errno).
type SocketLimitError struct {
	Max  int // the context's ZMQ_MAX_SOCKETS
	Open int // sockets open through zmqguard (the rest are closed, not yet reaped)
}

// Error explains the limit and what to do.
func (e *SocketLimitError) Error() string {
	return fmt.Sprintf("zmq: too many sockets in the context: ZMQ_MAX_SOCKETS is %d and %d are open; "+
		"libzmq also counts sockets that were closed but not yet reaped by its reaper thread "+
		"(a tight create/close loop outruns it): raise the limit with Context.SetMaxSockets before the first socket, "+
		"or reuse sockets", e.Max, e.Open)
}

// Unwrap returns ErrTooManySockets and libzmq's EMFILE.
func (e *SocketLimitError) Unwrap() []error {
	return []error{ErrTooManySockets, Errno(syscall.EMFILE)}
}

// defaultMaxSockets is the ZMQ_MAX_SOCKETS NewContext sets: the file
// limit, within [MaxSocketsDflt, maxSocketsCap].
func defaultMaxSockets() int {
	return min(max(fileLimit(), MaxSocketsDflt), maxSocketsCap)
}

// socketLimitErr turns NewSocket's EMFILE into a *SocketLimitError when
// the context's socket limit, not the file limit, refused the socket.
// The caller holds c.mu.
func (c *Context) socketLimitErr(err error) error {
	if !errors.Is(err, syscall.EMFILE) {
		return err
	}
	limit, gerr := c.raw.GetMaxSockets()
	if gerr != nil {
		return err
	}
	if n, ok := openFiles(); ok && n >= fileLimit()-16 {
		return err // the process is out of descriptors: EMFILE means what it says
	}
	return &SocketLimitError{Max: limit, Open: len(c.sockets)}
}
