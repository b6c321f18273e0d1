package mdp

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/internal/workerconf"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of the worker.
const (
	// DefaultWorkerShutdownGrace bounds how long Run waits, when it stops,
	// for a handler that ignores its cancelled context.
	DefaultWorkerShutdownGrace = 5 * time.Second
	// DefaultWorkerDisconnectLinger bounds how long a stopping worker's
	// sockets try to deliver the DISCONNECT it sends each broker.
	DefaultWorkerDisconnectLinger = 100 * time.Millisecond
	// DefaultWorkerBacklog bounds the requests a worker holds while its
	// handler is busy (see WithWorkerBacklog).
	DefaultWorkerBacklog = 16
)

// workerBackoff is the worker's default reconnect policy: the zguide's
// Majordomo worker waits 2.5 s before it reconnects, every time.
var workerBackoff = backoff.Policy{Initial: 2500 * time.Millisecond, Max: 2500 * time.Millisecond, Multiplier: 1}

type workerConfig struct {
	workerconf.Config
	hook func(WorkerEvent)
}

func defaultWorkerConfig() workerConfig {
	return workerConfig{Config: workerconf.New(DefaultInterval, DefaultLiveness, workerBackoff, DefaultWorkerBacklog, DefaultWorkerShutdownGrace)}
}

// WorkerOption configures a Worker. Invalid values, and a nil option,
// make NewWorker return a *zmq.OptionError.
type WorkerOption func(*workerConfig) error

// WithWorkerHeartbeat sets the heartbeat interval (DefaultInterval) and
// the liveness (DefaultLiveness): the worker heartbeats each broker every
// interval, and reconnects to a broker it has not heard from for liveness
// intervals. The brokers must use the same interval. interval must be
// positive and liveness at least 2.
func WithWorkerHeartbeat(interval time.Duration, liveness int) WorkerOption {
	return func(c *workerConfig) error {
		return workerconf.Check("WithWorkerHeartbeat", c.SetHeartbeat(interval, liveness))
	}
}

// WithWorkerBackoff sets the pause before reconnecting to a broker that
// went silent, or that keeps sending DISCONNECT before anything else
// (after a DISCONNECT that follows other traffic the worker reconnects at
// once, as RFC 7 asks). The attempt number restarts at 0 whenever the
// broker was heard from. Zero fields take the worker's defaults: 2.5 s,
// constant, without jitter, as in the zguide's Majordomo worker (see
// reliable.Backoff).
func WithWorkerBackoff(b reliable.Backoff) WorkerOption {
	return func(c *workerConfig) error {
		return workerconf.Check("WithWorkerBackoff", c.SetBackoff(backoff.Policy(b), workerBackoff))
	}
}

// WithWorkerBacklog bounds the requests the worker accepts while its
// handler is busy (DefaultWorkerBacklog, at least 1). A broker gives a
// worker one request at a time, but a worker registered with both servers
// of a Binary Star pair may get one from each; beyond the backlog a
// request is answered at once with a wire.CodeOverloaded error reply.
func WithWorkerBacklog(n int) WorkerOption {
	return func(c *workerConfig) error { return workerconf.Check("WithWorkerBacklog", c.SetBacklog(n)) }
}

// WithWorkerShutdownGrace bounds how long Run (and so Close) waits for
// the running handler once it has cancelled the handler's context
// (DefaultWorkerShutdownGrace; at least 0). A handler still running after
// that is left behind: Run returns an error matching ErrHandlerStuck.
func WithWorkerShutdownGrace(d time.Duration) WorkerOption {
	return func(c *workerConfig) error { return workerconf.Check("WithWorkerShutdownGrace", c.SetGrace(d)) }
}

// WithWorkerTracker makes the worker track its brokers' liveness in tr,
// under their endpoints, instead of in a tracker of its own; tr's Policy
// must match WithWorkerHeartbeat. The worker does not close tr.
func WithWorkerTracker(tr *heartbeat.Tracker) WorkerOption {
	return func(c *workerConfig) error { return workerconf.Check("WithWorkerTracker", c.SetTracker(tr)) }
}

// WithWorkerEventHook calls hook for every connection, loss of a broker,
// DISCONNECT and reconnect pause, on the goroutine of that broker's
// connection; it must be quick.
func WithWorkerEventHook(hook func(WorkerEvent)) WorkerOption {
	return func(c *workerConfig) error { c.hook = hook; return nil }
}

// WithWorkerSocketSetup runs setup on each DEALER the worker creates,
// before it connects (CURVE keys, for example).
func WithWorkerSocketSetup(setup func(*zmq.Socket) error) WorkerOption {
	return func(c *workerConfig) error { c.Setup = setup; return nil }
}

// WorkerEventKind says what a WorkerEvent reports.
type WorkerEventKind int

const (
	// WorkerConnected: a new socket connected to Broker and sent READY.
	WorkerConnected WorkerEventKind = iota + 1
	// WorkerBrokerLost: Broker was silent for liveness intervals; the
	// socket is closed.
	WorkerBrokerLost
	// WorkerDisconnected: Broker sent DISCONNECT; the socket is closed.
	WorkerDisconnected
	// WorkerReconnectWait: the worker pauses Delay before reconnect
	// number Attempt (0 for the first) to Broker.
	WorkerReconnectWait
)

var workerEventNames = map[WorkerEventKind]string{
	WorkerConnected: "connected", WorkerBrokerLost: "broker-lost",
	WorkerDisconnected: "disconnected", WorkerReconnectWait: "reconnect-wait",
}

// String names the kind.
func (k WorkerEventKind) String() string {
	if n, ok := workerEventNames[k]; ok {
		return n
	}
	return fmt.Sprintf("WorkerEventKind(%d)", int(k))
}

// WorkerEvent reports what a Worker did.
type WorkerEvent struct {
	Kind    WorkerEventKind // what happened
	Broker  string          // the broker's endpoint
	Attempt int             // reconnect attempt, for WorkerReconnectWait
	Delay   time.Duration   // the pause, for WorkerReconnectWait
	At      time.Time       // when it happened
}

// WorkerStats counts what a Worker did. Read it with Worker.Stats.
type WorkerStats struct {
	Served      uint64 // requests handled and answered
	Dropped     uint64 // replies dropped because their connection was replaced
	Overloaded  uint64 // requests refused because the backlog was full
	Malformed   uint64 // messages from a broker that were not MDP/Worker
	Reconnects  uint64 // connections replaced after a broker went silent
	Disconnects uint64 // DISCONNECTs received
}
