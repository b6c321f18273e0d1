package mdp

import (
	"errors"
	"net"

	"github.com/zmqguard/zmqguard/zmq"
)

var (
	// ErrBrokerClosed is returned by Broker.Run once Close stopped it, or
	// when the broker was closed before Run. It matches net.ErrClosed.
	ErrBrokerClosed error = &closedError{"mdp: broker closed"}
	// ErrWorkerClosed is returned by Worker.Run once Close stopped it, or
	// when the worker was closed before Run. It matches net.ErrClosed.
	ErrWorkerClosed error = &closedError{"mdp: worker closed"}
	// ErrRunning is returned by a second call to Broker.Run or Worker.Run.
	ErrRunning = errors.New("mdp: already running")
	// ErrHandlerStuck is matched by Worker.Run's error when a handler
	// ignored its cancelled context for longer than the shutdown grace
	// (WithWorkerShutdownGrace) and was left running.
	ErrHandlerStuck = errors.New("mdp: handler still running after the shutdown grace")
	// ErrServiceName is returned by Client.Request, NewWorker and
	// Client.ServiceAvailable for an empty service name or one longer
	// than MaxServiceName, and by NewWorker for a name that starts with
	// MMIPrefix.
	ErrServiceName = errors.New("mdp: service name must be 1 to 255 bytes (and not mmi.* for a worker)")
)

// closedError matches net.ErrClosed, as a closed socket's error does.
type closedError struct{ msg string }

// Error returns the message.
func (e *closedError) Error() string { return e.msg }

// Is makes the error match net.ErrClosed.
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

func optionError(name, reason string) error {
	return &zmq.OptionError{Option: name, Reason: reason}
}
