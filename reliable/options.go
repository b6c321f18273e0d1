package reliable

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

// Backoff is a policy for the pause before a retry: exponential, capped
// and jittered, a pure function of the attempt number. The pause before
// retry number n (0 for the first) is
//
//	min(Initial × Multiplier^n, Max) × (1 ± Jitter)
//
// with the sign and size of the jitter drawn at random each time.
//
// A zero field means the default of the component that uses the policy,
// so the zero Backoff is that component's default policy:
//
//   - Client (WithBackoff): 100 ms doubling to 2 s, ±20 % jitter;
//   - ppp.Worker (ppp.WithWorkerBackoff): 1 s doubling to 32 s, no
//     jitter, as in ZeroMQ RFC 6.
//
// A zero Initial is the default one, or Max when Max is set and smaller; a
// zero Max is the default one, or Initial when that is larger. A policy
// that cannot work makes the option that takes it fail with a
// *zmq.OptionError. Backoff is a plain value, safe for concurrent use.
type Backoff struct {
	// Initial is the pause before the first retry. It must not be
	// negative.
	Initial time.Duration
	// Max caps the pause, before jitter. It must not be less than Initial.
	Max time.Duration
	// Multiplier is the growth of the pause from one retry to the next: 1
	// keeps it constant. It must be a finite number, at least 1.
	Multiplier float64
	// Jitter spreads each pause uniformly over ±Jitter of its value, so
	// that many clients retrying at once do not retry in lock-step. It
	// must be at most 1; a negative Jitter means no jitter (zero means the
	// component's default).
	Jitter float64
}

// policy returns the policy b describes for a component whose defaults are
// def (its zero fields filled, see Backoff), or a *zmq.OptionError naming
// the option when it cannot work.
func (b Backoff) policy(def Backoff, option string) (backoff.Policy, error) {
	p := backoff.Policy(b).Fill(backoff.Policy(def))
	if err := p.Validate(); err != nil {
		return backoff.Policy{}, optionError(option, err.Error())
	}
	return p, nil
}

// Mode selects how a Client frames requests and matches replies.
type Mode int

const (
	// Correlated, the default, puts a request ID frame in the envelope
	// (docs/PROTOCOL.md). Any REP or ROUTER server echoes it. Many
	// requests may be in flight; a late reply carries an unknown ID and is
	// dropped, so no socket reset is needed.
	Correlated Mode = iota
	// Plain uses a REQ socket and the exact REQ envelope, for peers that
	// pop [identity, "", body] themselves (zguide queues, Majordomo). One
	// request is in flight at a time; after a failed attempt the socket is
	// reset (LINGER 0), so a late reply can never be returned. Each socket
	// has a routing id of its own that names it a zmqguard client
	// (wire.ClientRoutingID), so zmqguard servers, workers and queues send
	// it error replies, which would break a zguide client
	// (docs/PROTOCOL.md section 6); a routing id set by WithSocketSetup
	// replaces it.
	Plain
)

// String names the mode.
func (m Mode) String() string {
	if m == Plain {
		return "plain"
	}
	return "correlated"
}

// Defaults for Client options.
const (
	// DefaultAttemptTimeout bounds one attempt from the moment it is sent
	// (zguide's Lazy Pirate uses 2500 ms).
	DefaultAttemptTimeout = 2500 * time.Millisecond
	// DefaultMaxAttempts caps the attempts of one request that reach a
	// peer; with DefaultAttemptTimeout it makes the 7.5 s budget (plus
	// backoff pauses) of a request whose context has no deadline (zguide's
	// Lazy Pirate: 3 tries).
	DefaultMaxAttempts = 3
	// DefaultReconnectInterval is the ZMQ_RECONNECT_IVL of client sockets;
	// it bounds how soon a restarted server is reached again.
	DefaultReconnectInterval = 100 * time.Millisecond
	// DefaultHWM is the send and receive high-water mark of client sockets.
	DefaultHWM = 1000
)

// clientBackoff is the Client's default Backoff (see Backoff).
var clientBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2}

type clientConfig struct {
	mode           Mode
	attemptTimeout time.Duration
	maxAttempts    int
	backoff        backoff.Policy
	failFast       bool
	reconnect      time.Duration
	hwm            int
	hook           func(ClientEvent)
	observer       observe.Observer
	setup          func(*zmq.Socket) error
	rand           func() float64
	liveness       *heartbeat.Tracker // WithLiveness
	maxReply       int64              // WithMaxReplySize; 0 or less: none
	maxRequest     int64              // WithMaxRequestSize; 0 or less: none
	balancer       Balancer           // WithBalancer
	maxEndpoints   int                // WithMaxEndpoints
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		mode:           Correlated,
		attemptTimeout: DefaultAttemptTimeout,
		maxAttempts:    DefaultMaxAttempts,
		backoff:        backoff.Policy(clientBackoff),
		failFast:       true,
		reconnect:      DefaultReconnectInterval,
		hwm:            DefaultHWM,
		rand:           rand.Float64,
		maxReply:       DefaultMaxReplySize,
		maxRequest:     DefaultMaxRequestSize,
		maxEndpoints:   DefaultMaxEndpoints,
	}
}

// ClientOption configures a Client. Invalid values, and a nil option,
// make NewClient return a *zmq.OptionError.
type ClientOption func(*clientConfig) error

// WithMode selects Correlated (the default) or Plain framing.
func WithMode(m Mode) ClientOption {
	return func(c *clientConfig) error {
		if m != Correlated && m != Plain {
			return optionError("WithMode", fmt.Sprintf("unknown mode %d", m))
		}
		c.mode = m
		return nil
	}
}

// WithAttemptTimeout bounds each attempt, from the moment it is sent
// (DefaultAttemptTimeout). It must be positive. MaxAttempts ×
// AttemptTimeout is also a request's total deadline when its context has
// none (see Client).
func WithAttemptTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return optionError("WithAttemptTimeout", fmt.Sprintf("%v is not positive", d))
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithMaxAttempts caps the attempts per request that are sent to a peer
// (DefaultMaxAttempts); at least 1. While no peer is connected a request
// waits for one instead of spending attempts (see Client).
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
// Client's defaults: 100 ms doubling to 2 s, ±20 % jitter (see Backoff),
// so WithBackoff(Backoff{}) changes nothing.
func WithBackoff(b Backoff) ClientOption {
	return func(c *clientConfig) error {
		p, err := b.policy(clientBackoff, "WithBackoff")
		if err != nil {
			return err
		}
		c.backoff = p
		return nil
	}
}

// WithFailFast sets whether an attempt ends early when the library knows
// its peer is gone (a disconnect event), instead of waiting out the attempt
// timeout. On by default. Either way a request waits for a connected peer
// before it sends an attempt.
func WithFailFast(on bool) ClientOption {
	return func(c *clientConfig) error { c.failFast = on; return nil }
}

// WithReconnectInterval sets ZMQ_RECONNECT_IVL on the client's sockets
// (DefaultReconnectInterval). It must be positive.
func WithReconnectInterval(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return optionError("WithReconnectInterval", fmt.Sprintf("%v is not positive", d))
		}
		c.reconnect = d
		return nil
	}
}

// WithHWM sets the send and receive high-water marks (DefaultHWM); at
// least 1.
func WithHWM(n int) ClientOption {
	return func(c *clientConfig) error {
		if n < 1 {
			return optionError("WithHWM", fmt.Sprintf("%d < 1", n))
		}
		c.hwm = n
		return nil
	}
}

// WithEventHook calls hook for every attempt, reply, failure, reset,
// stale reply and give-up. The hook runs on the goroutine that observed the
// event (a requester or the client's reader); it must be quick and must
// not call the Client.
func WithEventHook(hook func(ClientEvent)) ClientOption {
	return func(c *clientConfig) error { c.hook = hook; return nil }
}

// WithSocketSetup runs setup on every socket the client creates, before it
// connects: set CURVE keys or other options there. It runs again after a
// reset.
func WithSocketSetup(setup func(*zmq.Socket) error) ClientOption {
	return func(c *clientConfig) error { c.setup = setup; return nil }
}
