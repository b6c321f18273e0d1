package reliable

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/backoff"
	"github.com/zmqguard/zmqguard/zmq"
)

// Defaults of the Paranoid Pirate worker and queue (zguide, ZeroMQ RFC 6).
const (
	// DefaultPPInterval is the heartbeat interval.
	DefaultPPInterval = time.Second
	// DefaultPPLiveness is the number of silent intervals after which the
	// other side is considered dead.
	DefaultPPLiveness = 3
	// DefaultWorkerShutdownGrace bounds how long Run waits, when it stops,
	// for a handler that ignores its cancelled context.
	DefaultWorkerShutdownGrace = 5 * time.Second
	// DefaultWorkerBacklog bounds the requests a worker holds while its
	// handler is busy (see WithWorkerBacklog).
	DefaultWorkerBacklog = 16
)

// DefaultWorkerBackoff is the worker's reconnect policy: 1s doubling to
// 32s, without jitter, as in the zguide Paranoid Pirate worker.
var DefaultWorkerBackoff = backoff.PPPWorker

type ppWorkerConfig struct {
	interval time.Duration
	liveness int
	backoff  Backoff
	backlog  int
	grace    time.Duration
	tracker  *heartbeat.Tracker
	hook     func(WorkerEvent)
	setup    func(*zmq.Socket) error
	rand     func() float64
}

func defaultPPWorkerConfig() ppWorkerConfig {
	return ppWorkerConfig{
		interval: DefaultPPInterval,
		liveness: DefaultPPLiveness,
		backoff:  DefaultWorkerBackoff,
		backlog:  DefaultWorkerBacklog,
		grace:    DefaultWorkerShutdownGrace,
		rand:     rand.Float64,
	}
}

// WorkerOption configures a PPWorker.
type WorkerOption func(*ppWorkerConfig) error

// WithWorkerHeartbeat sets the heartbeat interval (DefaultPPInterval) and
// the liveness (DefaultPPLiveness): the worker heartbeats the queue every
// interval and reconnects after liveness intervals without hearing from
// it. The queue must use the same interval. interval must be positive and
// liveness at least 2.
func WithWorkerHeartbeat(interval time.Duration, liveness int) WorkerOption {
	return func(c *ppWorkerConfig) error {
		if interval <= 0 || liveness < 2 {
			return fmt.Errorf("reliable: WithWorkerHeartbeat(%v, %d): want a positive interval and liveness >= 2", interval, liveness)
		}
		c.interval, c.liveness = interval, liveness
		return nil
	}
}

// WithWorkerBackoff sets the pause before each reconnect
// (DefaultWorkerBackoff); the attempt number restarts at 0 whenever the
// queue was heard from. Zero fields take the backoff package's defaults.
func WithWorkerBackoff(b Backoff) WorkerOption {
	return func(c *ppWorkerConfig) error {
		b = b.WithDefaults()
		if err := b.Validate(); err != nil {
			return fmt.Errorf("reliable: WithWorkerBackoff: %w", err)
		}
		c.backoff = b
		return nil
	}
}

// WithWorkerBacklog bounds the requests the worker accepts while its
// handler is busy (DefaultWorkerBacklog, at least 1). A zguide queue counts
// any message, heartbeats too, as "ready for work", so it may send a busy
// worker more requests; they wait in the backlog, and beyond it are
// answered at once with a CodeOverloaded error reply.
func WithWorkerBacklog(n int) WorkerOption {
	return func(c *ppWorkerConfig) error {
		if n < 1 {
			return fmt.Errorf("reliable: WithWorkerBacklog: %d < 1", n)
		}
		c.backlog = n
		return nil
	}
}

// WithWorkerShutdownGrace bounds how long Run (and so Close) waits for
// the running handler once it has cancelled the handler's context
// (DefaultWorkerShutdownGrace; at least 0). A handler still running after
// that is left behind: Run returns an error matching ErrHandlerStuck, and
// the handler's eventual reply is dropped.
func WithWorkerShutdownGrace(d time.Duration) WorkerOption {
	return func(c *ppWorkerConfig) error {
		if d < 0 {
			return fmt.Errorf("reliable: WithWorkerShutdownGrace: %v < 0", d)
		}
		c.grace = d
		return nil
	}
}

// WithWorkerTracker makes the worker track the queue's liveness in tr,
// under the queue's endpoint, instead of in a tracker of its own; tr's
// Policy must match WithWorkerHeartbeat. Use it to watch the queue's state
// (tr.WaitForStateChange, tr.Events). The worker does not close tr.
func WithWorkerTracker(tr *heartbeat.Tracker) WorkerOption {
	return func(c *ppWorkerConfig) error {
		if tr == nil {
			return errors.New("reliable: WithWorkerTracker: nil tracker")
		}
		c.tracker = tr
		return nil
	}
}

// WithWorkerEventHook calls hook for every connection, loss of the queue
// and reconnect pause, on the worker's goroutine; it must be quick.
func WithWorkerEventHook(hook func(WorkerEvent)) WorkerOption {
	return func(c *ppWorkerConfig) error { c.hook = hook; return nil }
}

// WithWorkerSocketSetup runs setup on each DEALER the worker creates,
// before it connects (CURVE keys, for example).
func WithWorkerSocketSetup(setup func(*zmq.Socket) error) WorkerOption {
	return func(c *ppWorkerConfig) error { c.setup = setup; return nil }
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

// WorkerEvent reports what a PPWorker did.
type WorkerEvent struct {
	Kind     WorkerEventKind
	Endpoint string        // the queue's endpoint
	Attempt  int           // reconnect attempt, for WorkerReconnectWait
	Delay    time.Duration // the pause, for WorkerReconnectWait
	At       time.Time
}
