package ppp

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/internal/workerconf"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of the worker and the queue (zguide, ZeroMQ RFC 6).
const (
	// DefaultInterval is the heartbeat interval.
	DefaultInterval = time.Second
	// DefaultLiveness is the number of silent intervals after which the
	// other side is considered dead.
	DefaultLiveness = 3
	// DefaultWorkerShutdownGrace bounds how long Run waits, when it stops,
	// for a handler that ignores its cancelled context.
	DefaultWorkerShutdownGrace = 5 * time.Second
	// DefaultWorkerBacklog bounds the requests a worker holds while its
	// handler is busy (see WithWorkerBacklog).
	DefaultWorkerBacklog = 16
)

// workerBackoff is the worker's default reconnect policy: 1 s doubling to
// 32 s, without jitter, as in the zguide Paranoid Pirate worker (RFC 6).
var workerBackoff = backoff.Policy{Initial: time.Second, Max: 32 * time.Second, Multiplier: 2}

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
// the liveness (DefaultLiveness): the worker heartbeats the queue every
// interval and reconnects after liveness intervals without hearing from
// it. The queue must use the same interval. interval must be positive and
// liveness at least 2.
func WithWorkerHeartbeat(interval time.Duration, liveness int) WorkerOption {
	return func(c *workerConfig) error {
		return workerconf.Check("WithWorkerHeartbeat", c.SetHeartbeat(interval, liveness))
	}
}

// WithWorkerBackoff sets the pause before each reconnect; the attempt
// number restarts at 0 whenever the queue was heard from. Zero fields take
// the worker's defaults: 1 s doubling to 32 s, without jitter, as in the
// zguide Paranoid Pirate worker (see reliable.Backoff), so
// WithWorkerBackoff(reliable.Backoff{}) changes nothing.
func WithWorkerBackoff(b reliable.Backoff) WorkerOption {
	return func(c *workerConfig) error {
		return workerconf.Check("WithWorkerBackoff", c.SetBackoff(backoff.Policy(b), workerBackoff))
	}
}

// WithWorkerBacklog bounds the requests the worker accepts while its
// handler is busy (DefaultWorkerBacklog, at least 1). A zguide queue counts
// any message, heartbeats too, as "ready for work", so it may send a busy
// worker more requests; they wait in the backlog, and beyond it are
// answered at once with a wire.CodeOverloaded error reply.
func WithWorkerBacklog(n int) WorkerOption {
	return func(c *workerConfig) error { return workerconf.Check("WithWorkerBacklog", c.SetBacklog(n)) }
}

// WithWorkerShutdownGrace bounds how long Run (and so Close) waits for
// the running handler once it has cancelled the handler's context
// (DefaultWorkerShutdownGrace; at least 0). A handler still running after
// that is left behind: Run returns an error matching ErrHandlerStuck, and
// the handler's eventual reply is dropped.
func WithWorkerShutdownGrace(d time.Duration) WorkerOption {
	return func(c *workerConfig) error { return workerconf.Check("WithWorkerShutdownGrace", c.SetGrace(d)) }
}

// WithWorkerTracker makes the worker track the queue's liveness in tr,
// under the queue's endpoint, instead of in a tracker of its own; tr's
// Policy must match WithWorkerHeartbeat. Use it to watch the queue's state
// (tr.WaitForStateChange, tr.Events). The worker does not close tr.
func WithWorkerTracker(tr *heartbeat.Tracker) WorkerOption {
	return func(c *workerConfig) error { return workerconf.Check("WithWorkerTracker", c.SetTracker(tr)) }
}

// WithWorkerEventHook calls hook for every connection, loss of the queue
// and reconnect pause, on the worker's goroutine; it must be quick.
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
	// WorkerConnected: a new socket connected to the queue and sent READY.
	WorkerConnected WorkerEventKind = iota
	// WorkerQueueLost: the queue was silent for liveness intervals; the
	// socket is closed.
	WorkerQueueLost
	// WorkerReconnectWait: the worker pauses Delay before reconnect
	// number Attempt (0 for the first after a loss).
	WorkerReconnectWait
)

// String names the kind.
func (k WorkerEventKind) String() string {
	switch k {
	case WorkerConnected:
		return "connected"
	case WorkerQueueLost:
		return "queue-lost"
	case WorkerReconnectWait:
		return "reconnect-wait"
	}
	return fmt.Sprintf("WorkerEventKind(%d)", int(k))
}

// WorkerEvent reports what a Worker did.
type WorkerEvent struct {
	Kind     WorkerEventKind // what happened
	Endpoint string          // the queue's endpoint
	Attempt  int             // reconnect attempt, for WorkerReconnectWait
	Delay    time.Duration   // the pause, for WorkerReconnectWait
	At       time.Time       // when it happened
}
