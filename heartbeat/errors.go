package heartbeat

import "net"

// ErrClosed is returned by [Tracker.WaitForStateChange] once the tracker is
// closed. It matches net.ErrClosed with errors.Is.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "heartbeat: tracker closed" }

// Is makes errors.Is(ErrClosed, net.ErrClosed) true.
func (closedError) Is(target error) bool { return target == net.ErrClosed }
