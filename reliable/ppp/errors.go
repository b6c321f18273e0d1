package ppp

import (
	"errors"
	"net"

	"github.com/zmqguard/zmqguard/zmq"
)

var (
	// ErrQueueClosed is returned by Queue.Run once Close stopped it, or
	// when it was closed before Run. It matches net.ErrClosed.
	ErrQueueClosed error = &closedError{"reliable: queue closed"}
	// ErrQueueRunning is returned by a second call to Queue.Run.
	ErrQueueRunning = errors.New("reliable: queue already running")
	// ErrWorkerClosed is returned by Worker.Run once Close stopped it, or
	// when it was closed before Run. It matches net.ErrClosed.
	ErrWorkerClosed error = &closedError{"reliable: worker closed"}
	// ErrWorkerRunning is returned by a second call to Worker.Run.
	ErrWorkerRunning = errors.New("reliable: worker already running")
	// ErrHandlerStuck is matched by Worker.Run's error when a handler
	// ignored its cancelled context for longer than the shutdown grace
	// (WithWorkerShutdownGrace) and was left running.
	ErrHandlerStuck = errors.New("reliable: handler still running after the shutdown grace")
)

// closedError is the error of a closed Queue or Worker: it matches
// net.ErrClosed, as a closed socket's error does.
type closedError struct{ msg string }

func (e *closedError) Error() string { return e.msg }

// Is makes the error match net.ErrClosed.
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

// optionError is the error of an option given an invalid value.
func optionError(name, reason string) error {
	return &zmq.OptionError{Option: name, Reason: reason}
}
