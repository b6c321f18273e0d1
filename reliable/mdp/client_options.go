package mdp

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of the client.
const (
	// DefaultAttemptTimeout bounds one attempt (the zguide's Majordomo
	// client uses 2500 ms).
	DefaultAttemptTimeout = 2500 * time.Millisecond
	// DefaultMaxAttempts caps the attempts of one request (the zguide's
	// client tries 3 times).
	DefaultMaxAttempts = 3
	// DefaultReconnectInterval is the ZMQ_RECONNECT_IVL of client sockets.
	DefaultReconnectInterval = 100 * time.Millisecond
	// DefaultMaxInFlight bounds the requests of one Client in flight at
	// once (one socket each); more wait for a turn.
	DefaultMaxInFlight = 64
)

// clientBackoff is the client's default pause between attempts, the same
// as reliable.Client's: 100 ms doubling to 2 s, ±20 % jitter.
var clientBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2}

type clientConfig struct {
	attemptTimeout time.Duration
	maxAttempts    int
	backoff        backoff.Policy
	reconnect      time.Duration
	maxInFlight    int
	hook           func(reliable.ClientEvent)
	observer       observe.Observer
	setup          func(*zmq.Socket) error
	rand           func() float64
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		attemptTimeout: DefaultAttemptTimeout,
		maxAttempts:    DefaultMaxAttempts,
		backoff:        clientBackoff,
		reconnect:      DefaultReconnectInterval,
		maxInFlight:    DefaultMaxInFlight,
		rand:           rand.Float64,
	}
}

// ClientOption configures a Client. Invalid values, and a nil option,
// make NewClient return a *zmq.OptionError.
type ClientOption func(*clientConfig) error

// WithAttemptTimeout bounds each attempt (DefaultAttemptTimeout), from
// the moment it takes a socket to its reply; it must be positive. It
// must cover the service's handling time plus, for the broker's own
// retry of a request whose worker died to reach the client, the
// broker's worker expiry (liveness × heartbeat interval): a shorter
// timeout makes the client retry first, and the request may run twice.
func WithAttemptTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return optionError("WithAttemptTimeout", fmt.Sprintf("%v is not positive", d))
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithMaxAttempts caps the attempts per request (DefaultMaxAttempts); at
// least 1.
func WithMaxAttempts(n int) ClientOption {
	return func(c *clientConfig) error {
		if n < 1 {
			return optionError("WithMaxAttempts", fmt.Sprintf("%d < 1", n))
		}
		c.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the pause between attempts. Zero fields take the
// client's defaults, those of reliable.Client: 100 ms doubling to 2 s,
// ±20 % jitter (see reliable.Backoff).
func WithBackoff(b reliable.Backoff) ClientOption {
	return func(c *clientConfig) error {
		p := backoff.Policy(b).Fill(clientBackoff)
		if err := p.Validate(); err != nil {
			return optionError("WithBackoff", err.Error())
		}
		c.backoff = p
		return nil
	}
}

// WithReconnectInterval sets ZMQ_RECONNECT_IVL on the client's sockets
// (DefaultReconnectInterval); it must be positive.
func WithReconnectInterval(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return optionError("WithReconnectInterval", fmt.Sprintf("%v is not positive", d))
		}
		c.reconnect = d
		return nil
	}
}

// WithMaxInFlight bounds the requests in flight at once
// (DefaultMaxInFlight, at least 1). Each has a socket of its own, so
// that a reply can only be the answer to the request on its socket; the
// sockets of successful requests are kept for the next ones.
func WithMaxInFlight(n int) ClientOption {
	return func(c *clientConfig) error {
		if n < 1 {
			return optionError("WithMaxInFlight", fmt.Sprintf("%d < 1", n))
		}
		c.maxInFlight = n
		return nil
	}
}

// WithClientEventHook calls hook for every attempt, reply, failure, socket
// reset, stale reply and give-up, as reliable.Client does; the kinds are
// reliable's (EventAttempt, ...). It runs on the requester's goroutine,
// must be quick and must not call the Client.
func WithClientEventHook(hook func(reliable.ClientEvent)) ClientOption {
	return func(c *clientConfig) error { c.hook = hook; return nil }
}

// WithClientSocketSetup runs setup on every socket the client creates,
// before it connects (CURVE keys, for example).
func WithClientSocketSetup(setup func(*zmq.Socket) error) ClientOption {
	return func(c *clientConfig) error { c.setup = setup; return nil }
}
