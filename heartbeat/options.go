package heartbeat

import (
	"errors"
	"fmt"
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

// Option configures a [Tracker] in [New]. An invalid option makes New fail.
type Option func(*config) error

// WithPolicy sets the liveness policy; zero fields take their defaults. The
// default is the zero Policy: 1s interval, liveness 3, suspect after 1.
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		if err := p.Validate(); err != nil {
			return err
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
			return fmt.Errorf("heartbeat: event buffer %d is less than 1", n)
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
			return errors.New("heartbeat: nil OnChange callback")
		}
		c.callbacks = append(c.callbacks, f)
		return nil
	}
}
