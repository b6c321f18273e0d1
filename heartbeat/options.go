package heartbeat

import (
	"fmt"

	"github.com/zmqguard/zmqguard/zmq"
)

// DefaultEventBuffer is the capacity of the channel returned by
// [Tracker.Events] unless [WithEventBuffer] says otherwise.
const DefaultEventBuffer = 64

// config collects what the options set.
type config struct {
	policy    Policy
	buffer    int
	callbacks []func(Event)
}

// Option configures a [Tracker] in [New]. An invalid option, or a nil
// one, makes New fail with a *zmq.OptionError.
type Option func(*config) error

// optionError is the error of an option given an invalid value.
func optionError(name, reason string) error {
	return &zmq.OptionError{Option: name, Reason: reason}
}

// WithPolicy sets the liveness policy; zero fields take their defaults. The
// default is the zero Policy: 1s interval, liveness 3, suspect after 1.
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		if err := p.Validate(); err != nil {
			return optionError("WithPolicy", err.Error())
		}
		c.policy = p.WithDefaults()
		return nil
	}
}

// WithEventBuffer sets the capacity of the channel returned by
// [Tracker.Events]; n must be at least 1. The default is
// DefaultEventBuffer.
func WithEventBuffer(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return optionError("WithEventBuffer", fmt.Sprintf("event buffer %d is less than 1", n))
		}
		c.buffer = n
		return nil
	}
}

// WithOnChange registers f as if by [Tracker.OnChange] before the tracker
// starts, so that f sees every event. f must not be nil.
func WithOnChange(f func(Event)) Option {
	return func(c *config) error {
		if f == nil {
			return optionError("WithOnChange", "nil OnChange callback")
		}
		c.callbacks = append(c.callbacks, f)
		return nil
	}
}
