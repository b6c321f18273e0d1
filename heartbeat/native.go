package heartbeat

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of [Native], applied by [Native.WithDefaults].
const (
	// DefaultNativeInterval is the ZMQ_HEARTBEAT_IVL: how often libzmq
	// sends a ZMTP PING over a connection.
	DefaultNativeInterval = time.Second
	// DefaultNativeLiveness is the number of intervals a PING may go
	// unanswered before libzmq closes the connection: ZMQ_HEARTBEAT_TIMEOUT
	// and ZMQ_HEARTBEAT_TTL default to DefaultNativeLiveness×Interval, as
	// the Paranoid Pirate liveness does.
	DefaultNativeLiveness = 3
)

// Native configures libzmq's own ZMTP heartbeats (ZMTP 3.1, libzmq 4.2 and
// later): the socket PINGs every connection each Interval, closes a
// connection whose peer sent nothing within Timeout of a PING, and asks the
// peer (through the TTL in its PINGs) to close the connection if it hears
// nothing from this side for TTL. A connection closed this way shows up as
// an EVENT_DISCONNECTED on the socket's monitor, which [Watch] turns into a
// Dead peer.
//
// Native heartbeats see a dead or frozen process and a broken network path.
// They do not see a process that is alive but whose handler is stuck (the
// I/O thread still answers PINGs), and they do not wake a blocked receive:
// for those, use application heartbeats (the Paranoid Pirate Protocol).
//
// A zero field means its default (see [Native.WithDefaults]); the zero
// Native is valid. A Native is a plain value.
type Native struct {
	// Interval is ZMQ_HEARTBEAT_IVL. Zero means DefaultNativeInterval;
	// negative is invalid.
	Interval time.Duration
	// Timeout is ZMQ_HEARTBEAT_TIMEOUT. Zero means
	// DefaultNativeLiveness×Interval; negative is invalid. libzmq counts
	// in milliseconds.
	Timeout time.Duration
	// TTL is ZMQ_HEARTBEAT_TTL. Zero means the same as Timeout; negative
	// is invalid. libzmq sends it in deciseconds and caps it at 6553.5s, so
	// it is rounded up to a whole decisecond.
	TTL time.Duration
}

// maxTTL is the largest ZMQ_HEARTBEAT_TTL libzmq accepts.
const maxTTL = 6553500 * time.Millisecond

// WithDefaults returns a copy of n with every zero field replaced by its
// default.
func (n Native) WithDefaults() Native {
	if n.Interval == 0 {
		n.Interval = DefaultNativeInterval
	}
	if n.Timeout == 0 {
		n.Timeout = DefaultNativeLiveness * n.Interval
	}
	if n.TTL == 0 {
		n.TTL = n.Timeout
	}
	return n
}

// Validate reports why n, with defaults filled in, cannot be applied.
func (n Native) Validate() error {
	n = n.WithDefaults()
	switch {
	case n.Interval < time.Millisecond:
		return fmt.Errorf("heartbeat: native Interval %v is less than 1ms", n.Interval)
	case n.Timeout < time.Millisecond:
		return fmt.Errorf("heartbeat: native Timeout %v is less than 1ms", n.Timeout)
	case n.TTL < 0 || n.TTL > maxTTL:
		return fmt.Errorf("heartbeat: native TTL %v is not in [0, %v]", n.TTL, maxTTL)
	}
	return nil
}

// SetNative applies n (defaults filled in) to s as ZMQ_HEARTBEAT_IVL,
// ZMQ_HEARTBEAT_TIMEOUT and ZMQ_HEARTBEAT_TTL. Call it before Connect or
// Bind: libzmq applies the options to connections made afterwards. The
// options survive a zmqguard socket Reset.
func SetNative(s *zmq.Socket, n Native) error {
	if err := n.Validate(); err != nil {
		return err
	}
	n = n.WithDefaults()
	ttl := (n.TTL + 100*time.Millisecond - 1) / (100 * time.Millisecond) * (100 * time.Millisecond)
	if err := s.SetHeartbeatIvl(n.Interval); err != nil {
		return fmt.Errorf("heartbeat: ZMQ_HEARTBEAT_IVL: %w", err)
	}
	if err := s.SetHeartbeatTimeout(n.Timeout); err != nil {
		return fmt.Errorf("heartbeat: ZMQ_HEARTBEAT_TIMEOUT: %w", err)
	}
	if err := s.SetHeartbeatTtl(ttl); err != nil {
		return fmt.Errorf("heartbeat: ZMQ_HEARTBEAT_TTL: %w", err)
	}
	return nil
}
