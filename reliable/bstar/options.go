package bstar

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of a Pair (the zguide's bstar).
const (
	// DefaultInterval is the heartbeat: how often each server publishes
	// its state.
	DefaultInterval = time.Second
	// DefaultLiveness is the number of intervals without the peer's state
	// after which the peer counts as silent (the zguide's peer expiry is
	// two heartbeats).
	DefaultLiveness = 2
)

type config struct {
	interval time.Duration
	liveness int
	hook     func(Event)
	setup    func(*zmq.Socket) error
}

func defaultConfig() config {
	return config{interval: DefaultInterval, liveness: DefaultLiveness}
}

// expiry is how long the peer may be silent before a client request makes
// a passive server active.
func (c config) expiry() time.Duration { return time.Duration(c.liveness) * c.interval }

// Option configures a Pair. Invalid values, and a nil option, make New
// return a *zmq.OptionError.
type Option func(*config) error

// WithHeartbeat sets how often the state is published (DefaultInterval)
// and after how many silent intervals the peer counts as silent
// (DefaultLiveness). Both servers of a pair must use the same values.
// interval must be positive and liveness at least 2.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return func(c *config) error {
		if interval <= 0 || liveness < 2 {
			return &zmq.OptionError{Option: "WithHeartbeat",
				Reason: fmt.Sprintf("(%v, %d): want a positive interval and liveness >= 2", interval, liveness)}
		}
		c.interval, c.liveness = interval, liveness
		return nil
	}
}

// WithEventHook calls hook for every change of state and for the fatal
// error that stops the pair. It runs on the goroutine that caused the
// change (Run's, or the one calling Admit) and must be quick; it may call
// the Pair's State and Stats.
func WithEventHook(hook func(Event)) Option {
	return func(c *config) error { c.hook = hook; return nil }
}

// WithSocketSetup runs setup on the PUB and the SUB socket before they
// bind and connect (CURVE keys, for example).
func WithSocketSetup(setup func(*zmq.Socket) error) Option {
	return func(c *config) error { c.setup = setup; return nil }
}

// Event reports a change of a Pair's state, or its fatal error.
type Event struct {
	From, To State     // the states before and after (equal for a fatal error)
	Input    Input     // what caused it
	Err      error     // the fatal error, if this event stops the pair
	At       time.Time // when it happened
}

// String describes the event, e.g. "passive -> active on client-request".
func (e Event) String() string {
	s := fmt.Sprintf("%v -> %v on %v", e.From, e.To, e.Input)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
