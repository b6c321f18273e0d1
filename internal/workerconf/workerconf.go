package workerconf

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

// Config is a worker's configuration.
type Config struct {
	Interval time.Duration // heartbeat interval
	Liveness int           // silent intervals before the peer is dead
	Backoff  backoff.Policy
	Backlog  int           // requests held while the handler is busy
	Grace    time.Duration // how long Run waits for a stuck handler
	Tracker  *heartbeat.Tracker
	Observer observe.Observer
	Setup    func(*zmq.Socket) error
	Rand     func() float64
}

// New returns a Config with these defaults.
func New(interval time.Duration, liveness int, b backoff.Policy, backlog int, grace time.Duration) Config {
	return Config{Interval: interval, Liveness: liveness, Backoff: b, Backlog: backlog, Grace: grace, Rand: rand.Float64}
}

// Check turns the error of a setter into the *zmq.OptionError of option.
func Check(option string, err error) error {
	if err == nil {
		return nil
	}
	return &zmq.OptionError{Option: option, Reason: err.Error()}
}

// SetHeartbeat sets the interval (positive) and liveness (at least 2).
func (c *Config) SetHeartbeat(interval time.Duration, liveness int) error {
	if interval <= 0 || liveness < 2 {
		return fmt.Errorf("(%v, %d): want a positive interval and liveness >= 2", interval, liveness)
	}
	c.Interval, c.Liveness = interval, liveness
	return nil
}

// SetBackoff sets the reconnect policy; its zero fields take def's.
func (c *Config) SetBackoff(p, def backoff.Policy) error {
	p = p.Fill(def)
	if err := p.Validate(); err != nil {
		return err
	}
	c.Backoff = p
	return nil
}

// SetBacklog sets the backlog, at least 1.
func (c *Config) SetBacklog(n int) error {
	if n < 1 {
		return fmt.Errorf("%d < 1", n)
	}
	c.Backlog = n
	return nil
}

// SetGrace sets the shutdown grace, at least 0.
func (c *Config) SetGrace(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%v < 0", d)
	}
	c.Grace = d
	return nil
}

// SetTracker sets the tracker, not nil.
func (c *Config) SetTracker(tr *heartbeat.Tracker) error {
	if tr == nil {
		return errors.New("nil tracker")
	}
	c.Tracker = tr
	return nil
}
