package mdp

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of the broker and the worker. The heartbeat is the zguide's
// Majordomo heartbeat; both sides must use the same one.
const (
	// DefaultInterval is the heartbeat interval.
	DefaultInterval = 2500 * time.Millisecond
	// DefaultLiveness is the number of silent intervals after which the
	// other side is considered dead.
	DefaultLiveness = 3
	// DefaultBrokerRetries is how many times a request whose worker died
	// is given to another worker before it is failed back with
	// wire.CodeWorkerLost.
	DefaultBrokerRetries = 1
	// DefaultServiceWait bounds how long a request waits for its service
	// to have a worker before it is answered with wire.CodeNoService (see
	// WithServiceWait).
	DefaultServiceWait = time.Second
	// DefaultServiceQueue bounds the requests waiting for one service.
	DefaultServiceQueue = 1000
	// DefaultQueueBytes bounds the bytes of all the request bodies the
	// broker holds.
	DefaultQueueBytes = 64 << 20
	// DefaultMaxServices bounds the services the broker knows at once.
	DefaultMaxServices = 1024
	// DefaultMaxWorkers bounds the workers the broker knows at once.
	DefaultMaxWorkers = 4096
	// DefaultBrokerMaxMessageSize is the broker socket's ZMQ_MAXMSGSIZE.
	DefaultBrokerMaxMessageSize = 16 << 20
	// DefaultBrokerShutdownLinger bounds how long the broker's socket
	// keeps trying to deliver the replies and DISCONNECTs sent when the
	// broker stops.
	DefaultBrokerShutdownLinger = 200 * time.Millisecond
)

type brokerConfig struct {
	interval     time.Duration
	liveness     int
	retries      int
	serviceWait  time.Duration
	serviceQueue int
	queueBytes   int64
	maxServices  int
	maxWorkers   int
	maxMsg       int64
	tracker      *heartbeat.Tracker
	pair         *bstar.Pair
	hook         func(BrokerEvent)
	observer     observe.Observer
	setup        func(*zmq.Socket) error
}

func defaultBrokerConfig() brokerConfig {
	return brokerConfig{
		interval:     DefaultInterval,
		liveness:     DefaultLiveness,
		retries:      DefaultBrokerRetries,
		serviceWait:  DefaultServiceWait,
		serviceQueue: DefaultServiceQueue,
		queueBytes:   DefaultQueueBytes,
		maxServices:  DefaultMaxServices,
		maxWorkers:   DefaultMaxWorkers,
		maxMsg:       DefaultBrokerMaxMessageSize,
	}
}

// BrokerOption configures a Broker. Invalid values, and a nil option,
// make NewBroker return a *zmq.OptionError.
type BrokerOption func(*brokerConfig) error

// WithBrokerHeartbeat sets the heartbeat interval (DefaultInterval) and
// liveness (DefaultLiveness): the broker heartbeats every worker it has
// sent nothing to for an interval, and forgets a worker silent for
// liveness intervals. Workers must use the same interval. interval must
// be positive and liveness at least 2.
func WithBrokerHeartbeat(interval time.Duration, liveness int) BrokerOption {
	return func(c *brokerConfig) error {
		if interval <= 0 || liveness < 2 {
			return optionError("WithBrokerHeartbeat", fmt.Sprintf("(%v, %d): want a positive interval and liveness >= 2", interval, liveness))
		}
		c.interval, c.liveness = interval, liveness
		return nil
	}
}

// WithBrokerRetries sets how many times a request whose worker died is
// given to another worker of its service (DefaultBrokerRetries; 0 fails
// it back at once with wire.CodeWorkerLost). A retry may run a request
// twice: the dead worker may have executed it.
func WithBrokerRetries(n int) BrokerOption {
	return func(c *brokerConfig) error {
		if n < 0 {
			return optionError("WithBrokerRetries", fmt.Sprintf("%d < 0", n))
		}
		c.retries = n
		return nil
	}
}

// WithServiceWait bounds how long a request waits for its service to
// have a worker (DefaultServiceWait; positive). A request that has waited
// that long while its service had no worker is answered with
// wire.CodeNoService, but not in the broker's first two heartbeat
// intervals, which leave the workers of a restarted broker the time to
// register again (docs/MAJORDOMO.md). A request whose service has
// workers, all busy, waits for one however long it takes. Choose it below
// the clients' attempt timeout, or they never see the answer (and, right
// after the broker starts, a client whose attempt timeout is shorter than
// two heartbeat intervals retries once before it does).
func WithServiceWait(d time.Duration) BrokerOption {
	return func(c *brokerConfig) error {
		if d <= 0 {
			return optionError("WithServiceWait", fmt.Sprintf("%v is not positive", d))
		}
		c.serviceWait = d
		return nil
	}
}

// WithBrokerLimits bounds what the broker holds: requests waiting per
// service (DefaultServiceQueue), bytes of request bodies held in all
// (DefaultQueueBytes, waiting or at a worker), services known at once
// (DefaultMaxServices) and workers known at once (DefaultMaxWorkers). A
// request beyond a bound is answered with wire.CodeOverloaded; a worker
// beyond the bound, or for a service beyond it, is sent DISCONNECT. Each
// must be at least 1.
func WithBrokerLimits(serviceQueue int, queueBytes int64, maxServices, maxWorkers int) BrokerOption {
	return func(c *brokerConfig) error {
		if serviceQueue < 1 || queueBytes < 1 || maxServices < 1 || maxWorkers < 1 {
			return optionError("WithBrokerLimits", fmt.Sprintf("(%d, %d, %d, %d): each must be at least 1",
				serviceQueue, queueBytes, maxServices, maxWorkers))
		}
		c.serviceQueue, c.queueBytes, c.maxServices, c.maxWorkers = serviceQueue, queueBytes, maxServices, maxWorkers
		return nil
	}
}

// WithBrokerMaxMessageSize sets the socket's ZMQ_MAXMSGSIZE, the bound of
// one frame (DefaultBrokerMaxMessageSize; -1 for none): libzmq drops a
// peer that announces a larger frame.
func WithBrokerMaxMessageSize(n int64) BrokerOption {
	return func(c *brokerConfig) error {
		if n < -1 || n == 0 {
			return optionError("WithBrokerMaxMessageSize", fmt.Sprintf("%d: must be positive, or -1 for no limit", n))
		}
		c.maxMsg = n
		return nil
	}
}

// WithBrokerTracker makes the broker track its workers in tr, under their
// routing identities, instead of in a tracker of its own; tr's Policy
// must match WithBrokerHeartbeat. The broker does not close tr.
func WithBrokerTracker(tr *heartbeat.Tracker) BrokerOption {
	return func(c *brokerConfig) error {
		if tr == nil {
			return optionError("WithBrokerTracker", "nil tracker")
		}
		c.tracker = tr
		return nil
	}
}

// WithBinaryStar makes the broker one server of a Binary Star pair
// (docs/BINARY-STAR.md): it asks p to admit every client request and
// answers a refused one with wire.CodePassive. Workers are accepted in
// every state, so that those registered with both servers are ready when
// the passive one takes over. The broker runs p (do not call p.Run) and
// closes it; when p stops with a fatal error, the broker stops too and
// Run returns that error.
func WithBinaryStar(p *bstar.Pair) BrokerOption {
	return func(c *brokerConfig) error {
		if p == nil {
			return optionError("WithBinaryStar", "nil pair")
		}
		c.pair = p
		return nil
	}
}

// WithBrokerEventHook calls hook for every worker that joins, expires or
// is disconnected and every request retried, failed back or refused, on
// the broker's goroutine; it must be quick and must not call the broker.
func WithBrokerEventHook(hook func(BrokerEvent)) BrokerOption {
	return func(c *brokerConfig) error { c.hook = hook; return nil }
}

// WithBrokerSocketSetup runs setup on the broker's ROUTER before it binds
// (CURVE keys, for example).
func WithBrokerSocketSetup(setup func(*zmq.Socket) error) BrokerOption {
	return func(c *brokerConfig) error { c.setup = setup; return nil }
}

// BrokerEventKind says what a BrokerEvent reports.
type BrokerEventKind int

const (
	// BrokerWorkerJoined: a worker sent READY for Service.
	BrokerWorkerJoined BrokerEventKind = iota + 1
	// BrokerWorkerExpired: a worker was silent for liveness intervals.
	BrokerWorkerExpired
	// BrokerWorkerDisconnected: a worker sent DISCONNECT, or was sent one
	// (a protocol error, a bound, or an unknown worker speaking).
	BrokerWorkerDisconnected
	// BrokerRequestRetried: the worker of a request died; the request
	// waits for another worker.
	BrokerRequestRetried
	// BrokerRequestFailed: a request was answered with an error reply:
	// Code says which (worker-lost, no-service, overloaded, passive,
	// shutdown, malformed).
	BrokerRequestFailed
)

var brokerEventNames = map[BrokerEventKind]string{
	BrokerWorkerJoined: "worker-joined", BrokerWorkerExpired: "worker-expired",
	BrokerWorkerDisconnected: "worker-disconnected", BrokerRequestRetried: "request-retried",
	BrokerRequestFailed: "request-failed",
}

// String names the kind.
func (k BrokerEventKind) String() string {
	if n, ok := brokerEventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("BrokerEventKind(%d)", int(k))
}

// BrokerEvent reports what a Broker did.
type BrokerEvent struct {
	Kind    BrokerEventKind // what happened
	Worker  string          // the worker's routing identity, if a worker is involved
	Service string          // the service
	Code    string          // the error code, for BrokerRequestFailed
	At      time.Time       // when it happened
}

// BrokerStats counts what a Broker did. Read it with Broker.Stats.
type BrokerStats struct {
	Requests     uint64 // client requests received (MMI included)
	Replies      uint64 // worker replies forwarded to clients
	MMI          uint64 // management requests answered
	Retried      uint64 // requests given to another worker after theirs died
	WorkerLost   uint64 // requests failed back with wire.CodeWorkerLost
	NoService    uint64 // requests failed back with wire.CodeNoService
	Overloaded   uint64 // requests refused with wire.CodeOverloaded
	Refused      uint64 // requests refused with wire.CodePassive (Binary Star)
	Shutdown     uint64 // requests failed back with wire.CodeShutdown when stopping
	Expired      uint64 // workers forgotten for their silence
	Disconnected uint64 // workers that sent DISCONNECT or were sent one
	Stale        uint64 // worker replies dropped: their request was retried or failed back
	Malformed    uint64 // messages that did not follow MDP/0.1
	Unroutable   uint64 // messages that could not be sent to their peer
	Workers      int    // workers known now
	Services     int    // services known now
	Waiting      int    // requests waiting for a worker now
	HeldBytes    int64  // bytes of the request bodies held now
}
