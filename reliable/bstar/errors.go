package bstar

import (
	"errors"
	"net"
)

var (
	// ErrClosed is returned by Run once Close stopped it, or when the
	// pair was closed before Run. It matches net.ErrClosed.
	ErrClosed error = closedError{}
	// ErrRunning is returned by a second call to Run.
	ErrRunning = errors.New("bstar: pair already running")
)

type closedError struct{}

// Error returns the message.
func (closedError) Error() string { return "bstar: pair closed" }

// Is makes the error match net.ErrClosed.
func (closedError) Is(target error) bool { return target == net.ErrClosed }
