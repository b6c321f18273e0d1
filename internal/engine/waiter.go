package engine

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// waiter parks goroutines on a socket's ZMQ_FD through Go's netpoller, so a
// blocked send or receive holds no OS thread and honours deadlines.
//
// ZMQ_FD belongs to libzmq. The waiter registers a duplicate of it (same
// open file description, so the same readiness) and closes only the
// duplicate. ZMQ_FD is edge-triggered and signals "look at ZMQ_EVENTS", not
// "readable": the readiness check therefore runs inside RawConn.Read's
// callback, after the netpoller has reset its readiness flag, so an edge
// that arrives between the check and the park is never lost.
type waiter struct {
	file *os.File
	conn syscall.RawConn
}

func newWaiter(zmqFD int) (*waiter, error) {
	dup, err := dupFD(zmqFD)
	if err != nil {
		return nil, err
	}
	return adoptWaiter(dup)
}

// dupFD returns a close-on-exec duplicate of fd.
func dupFD(fd int) (int, error) {
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, os.NewSyscallError("fcntl", errno)
	}
	return int(dup), nil
}

// adoptWaiter registers dup, a duplicate of ZMQ_FD, with the netpoller;
// the waiter owns it from then on, even on error.
func adoptWaiter(dup int) (*waiter, error) {
	// libzmq keeps its signaller non-blocking already; O_NONBLOCK is shared
	// by both descriptors and is what makes os.NewFile use the netpoller.
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	f := os.NewFile(uintptr(dup), "zmq-fd")
	conn, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	// A file that the netpoller cannot watch refuses deadlines.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, err
	}
	return &waiter{file: f, conn: conn}, nil
}

// wait parks until ready returns true, the deadline set with setDeadline
// passes (os.ErrDeadlineExceeded) or the waiter is closed (os.ErrClosed).
func (w *waiter) wait(ready func(uintptr) bool) error {
	err := w.conn.Read(ready)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	// The only other way out is the descriptor being closed under us
	// (internal/poll reports that as "use of closed file").
	return errs.Closed
}

func (w *waiter) setDeadline(t time.Time) error { return w.file.SetReadDeadline(t) }

// close wakes every parked goroutine and releases the duplicate descriptor.
func (w *waiter) close() error { return w.file.Close() }
