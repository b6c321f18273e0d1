package ppp

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of the queue.
const (
	// DefaultQueueRetries is how many times a request whose worker died
	// (or held it past the request timeout) is given to another worker
	// before it is failed back with wire.CodeWorkerLost (or
	// wire.CodeTimeout).
	DefaultQueueRetries = 1
	// DefaultQueuePending bounds the requests waiting for a worker; beyond
	// it requests are answered with wire.CodeOverloaded.
	DefaultQueuePending = 10000
	// DefaultQueueMaxMessageSize is the ZMQ_MAXMSGSIZE of both sockets.
	DefaultQueueMaxMessageSize = 16 << 20
	// DefaultQueueRequestTimeout bounds how long a worker may hold a
	// request: past it the request is retried on another worker or
	// failed back with wire.CodeTimeout, and the worker is out of
	// rotation until it replies or says READY (see
	// WithQueueRequestTimeout). zguide's Lazy Pirate client gives up
	// after 3 × 2.5 s; a reply later than 10 s helps no client with
	// default settings.
	DefaultQueueRequestTimeout = 10 * time.Second
	// DefaultQueueShutdownLinger bounds how long the frontend keeps
	// trying to deliver the wire.CodeShutdown replies sent when the queue
	// stops.
	DefaultQueueShutdownLinger = 200 * time.Millisecond
)

type queueConfig struct {
	interval       time.Duration
	liveness       int
	retries        int
	requestTimeout time.Duration
	maxPending     int
	maxMsg         int64
	tracker        *heartbeat.Tracker
	hook           func(QueueEvent)
	observer       observe.Observer
	passTrace      bool
	setup          func(*zmq.Socket) error
	pair           *bstar.Pair
}

func defaultQueueConfig() queueConfig {
	return queueConfig{
		interval:       DefaultInterval,
		liveness:       DefaultLiveness,
		retries:        DefaultQueueRetries,
		requestTimeout: DefaultQueueRequestTimeout,
		maxPending:     DefaultQueuePending,
		maxMsg:         DefaultQueueMaxMessageSize,
	}
}

// QueueOption configures a Queue. Invalid values, and a nil option, make
// NewQueue return a *zmq.OptionError.
type QueueOption func(*queueConfig) error

// WithQueueHeartbeat sets the heartbeat interval (DefaultInterval) and
// liveness (DefaultLiveness): the queue heartbeats every worker it has
// sent nothing to for an interval, and forgets a worker silent for
// liveness intervals. Workers must use the same interval. interval must be
// positive and liveness at least 2.
func WithQueueHeartbeat(interval time.Duration, liveness int) QueueOption {
	return func(c *queueConfig) error {
		if interval <= 0 || liveness < 2 {
			return optionError("WithQueueHeartbeat", fmt.Sprintf("(%v, %d): want a positive interval and liveness >= 2", interval, liveness))
		}
		c.interval, c.liveness = interval, liveness
		return nil
	}
}

// WithQueueRetries sets how many times a request whose worker died, or
// held it past the request timeout, is retried on another worker
// (DefaultQueueRetries; 0 fails it back at once). Retrying may run a
// request twice: the dead worker may have executed it before dying.
func WithQueueRetries(n int) QueueOption {
	return func(c *queueConfig) error {
		if n < 0 {
			return optionError("WithQueueRetries", fmt.Sprintf("%d < 0", n))
		}
		c.retries = n
		return nil
	}
}

// WithQueueRequestTimeout bounds how long a worker may hold a request
// (DefaultQueueRequestTimeout; 0: as long as the worker stays alive, as
// in zguide's queue). A worker that keeps heartbeating but holds a
// request past d is taken out of rotation until it replies (the reply is
// dropped as stale) or says READY, and the request is retried on another
// worker, counting against WithQueueRetries, or failed back with a
// wire.CodeTimeout error reply. A request may so run twice: choose d
// above the slowest handler's time.
func WithQueueRequestTimeout(d time.Duration) QueueOption {
	return func(c *queueConfig) error {
		if d < 0 {
			return optionError("WithQueueRequestTimeout", fmt.Sprintf("%v < 0", d))
		}
		c.requestTimeout = d
		return nil
	}
}

// WithQueuePending bounds the requests waiting for a worker
// (DefaultQueuePending, at least 1).
func WithQueuePending(n int) QueueOption {
	return func(c *queueConfig) error {
		if n < 1 {
			return optionError("WithQueuePending", fmt.Sprintf("%d < 1", n))
		}
		c.maxPending = n
		return nil
	}
}

// WithQueueMaxMessageSize sets ZMQ_MAXMSGSIZE on both sockets
// (DefaultQueueMaxMessageSize; -1 for unlimited).
func WithQueueMaxMessageSize(n int64) QueueOption {
	return func(c *queueConfig) error {
		if n < -1 || n == 0 {
			return optionError("WithQueueMaxMessageSize", fmt.Sprintf("%d: must be positive, or -1 for no limit", n))
		}
		c.maxMsg = n
		return nil
	}
}

// WithQueueTracker makes the queue track its workers in tr, under their
// identities (as strings), instead of in a tracker of its own; tr's Policy
// must match WithQueueHeartbeat. The queue forgets the workers it drops;
// other peers in tr are left alone. The queue does not close tr.
func WithQueueTracker(tr *heartbeat.Tracker) QueueOption {
	return func(c *queueConfig) error {
		if tr == nil {
			return optionError("WithQueueTracker", "nil tracker")
		}
		c.tracker = tr
		return nil
	}
}

// WithQueueEventHook calls hook for every worker that joins or expires and
// every request retried or failed back, on the queue's goroutine; it must
// be quick and must not call the queue.
func WithQueueEventHook(hook func(QueueEvent)) QueueOption {
	return func(c *queueConfig) error { c.hook = hook; return nil }
}

// WithQueueSocketSetup runs setup on both sockets before they bind.
func WithQueueSocketSetup(setup func(*zmq.Socket) error) QueueOption {
	return func(c *queueConfig) error { c.setup = setup; return nil }
}

// WithQueueBinaryStar makes the queue one server of a Binary Star pair
// (docs/BINARY-STAR.md): it asks p to admit every client request and
// answers a refused one with wire.CodePassive, which a reliable.Client
// takes as a cue to try the other queue. Workers are accepted in every
// state: a worker of the pair runs one Worker per queue, and the passive
// queue only heartbeats its workers, which are ready the moment it takes
// over. The queue runs p (do not call p.Run) and closes it; when p stops
// with a fatal error, the queue stops too and Run returns that error.
func WithQueueBinaryStar(p *bstar.Pair) QueueOption {
	return func(c *queueConfig) error {
		if p == nil {
			return optionError("WithQueueBinaryStar", "nil pair")
		}
		c.pair = p
		return nil
	}
}

// QueueEventKind says what a QueueEvent reports.
type QueueEventKind int

const (
	// QueueWorkerJoined: a worker said READY (or spoke while unknown).
	QueueWorkerJoined QueueEventKind = iota
	// QueueWorkerExpired: a worker was silent for liveness intervals, or
	// could not be reached, and is forgotten.
	QueueWorkerExpired
	// QueueRequestRetried: the worker of a request died; the request waits
	// for another worker.
	QueueRequestRetried
	// QueueRequestFailed: a request ran out of retries and was answered
	// with wire.CodeWorkerLost, or wire.CodeTimeout when its last worker
	// held it past the request timeout.
	QueueRequestFailed
	// QueueWorkerStuck: a worker held a request past the request timeout
	// (WithQueueRequestTimeout) and is out of rotation until it replies or
	// says READY.
	QueueWorkerStuck
)

// String names the kind.
func (k QueueEventKind) String() string {
	switch k {
	case QueueWorkerJoined:
		return "worker-joined"
	case QueueWorkerExpired:
		return "worker-expired"
	case QueueRequestRetried:
		return "request-retried"
	case QueueRequestFailed:
		return "request-failed"
	case QueueWorkerStuck:
		return "worker-stuck"
	}
	return fmt.Sprintf("QueueEventKind(%d)", int(k))
}

// QueueEvent reports what a Queue did.
type QueueEvent struct {
	Kind   QueueEventKind // what happened
	Worker string         // the worker's identity
	At     time.Time      // when it happened
}

// QueueStats counts what a Queue did. Read it with Queue.Stats.
type QueueStats struct {
	Requests   uint64 // requests received from clients
	Replies    uint64 // replies forwarded to clients
	Retried    uint64 // requests given to another worker after theirs died
	WorkerLost uint64 // requests failed back with wire.CodeWorkerLost
	TimedOut   uint64 // requests failed back with wire.CodeTimeout: the last worker held them past the request timeout
	Overloaded uint64 // requests refused with wire.CodeOverloaded
	Refused    uint64 // requests refused with wire.CodePassive: this queue is the passive one of a Binary Star pair
	Shutdown   uint64 // requests failed back with wire.CodeShutdown when stopping
	Expired    uint64 // workers forgotten
	// Disconnected counts workers forgotten at once because a heartbeat
	// found their connection gone (among Expired).
	Disconnected uint64
	// Merged counts requests not queued because they were a retry of a
	// request the queue held: a correlated client's newer attempt, or a
	// plain client's identical request; the reply goes to the newest.
	Merged uint64
	// Abandoned counts requests dropped because their plain client sent a
	// different request: its earlier one no longer waited for.
	Abandoned  uint64
	Stale      uint64 // replies dropped: a late reply to an earlier dispatch, whose request was reassigned or failed back
	Malformed  uint64 // messages dropped for not following the protocol (a reply without the token the queue sent)
	Unroutable uint64 // replies that could not be sent to their client
	Withheld   uint64 // error replies not sent: a plain client that does not take them (wire.TakesPlainErrors)
	Overdue    uint64 // requests a worker held past the request timeout (WithQueueRequestTimeout)
	Workers    int    // workers known now
	Idle       int    // workers ready for a request now
	Stuck      int    // workers out of rotation now: they held a request past the request timeout
}
