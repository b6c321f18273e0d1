package bbolt

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// Sync is a store's fsync policy (see the package documentation).
type Sync struct {
	every time.Duration // 0: each write; > 0: that often; < 0: never
}

// Sync policies.
var (
	// SyncAlways makes each write durable before it returns: it survives
	// a power loss. Concurrent writes share one fsync.
	SyncAlways = Sync{}
	// SyncNever never calls fsync: a write survives the process's death
	// (SIGKILL) at once, and a power loss only once the kernel has
	// written it back.
	SyncNever = Sync{every: -1}
)

// SyncEvery calls fsync every d (positive): a write survives the
// process's death at once, and a power loss within d.
func SyncEvery(d time.Duration) Sync { return Sync{every: max(d, time.Millisecond)} }

// String names the policy, as the benchmarks do.
func (s Sync) String() string {
	switch {
	case s.every == 0:
		return "always"
	case s.every < 0:
		return "never"
	}
	return "every-" + s.every.String()
}

// Defaults for the options.
const (
	// DefaultMaxBytes bounds a ReplyStore's records (WithMaxBytes).
	DefaultMaxBytes = 256 << 20
	// DefaultMaxDeadLetters bounds an OutboxStore's dead letters.
	DefaultMaxDeadLetters = 100000
	// DefaultExpiryInterval is how often a ReplyStore removes expired
	// records (WithExpiryInterval).
	DefaultExpiryInterval = time.Second
	// DefaultOpenTimeout bounds the wait for another process's lock on
	// the file (WithOpenTimeout).
	DefaultOpenTimeout = 5 * time.Second
	// expiryBatch bounds the records one expiry transaction removes, so
	// that writers wait for at most one small transaction.
	expiryBatch = 256
)

type config struct {
	sync       Sync
	maxBytes   int64
	maxDead    int
	expiry     time.Duration
	open       time.Duration
	batchDelay time.Duration
}

func defaultConfig() config {
	return config{sync: SyncAlways, maxBytes: DefaultMaxBytes, maxDead: DefaultMaxDeadLetters,
		expiry: DefaultExpiryInterval, open: DefaultOpenTimeout}
}

// Option configures a store. Invalid values, and a nil option, make
// OpenReplyStore and OpenOutboxStore return a *zmq.OptionError.
type Option func(*config) error

func optionError(name, reason string) error { return &zmq.OptionError{Option: name, Reason: reason} }

// WithSync sets the fsync policy (SyncAlways by default).
func WithSync(s Sync) Option { return func(c *config) error { c.sync = s; return nil } }

// WithMaxBytes bounds a ReplyStore's records, in bytes of keys and values
// (DefaultMaxBytes): the oldest make room for a new one, and a record
// larger than the bound is not kept. The file is larger (bbolt's pages
// and free list) and does not shrink: it stays near its peak size. At
// least 4096.
func WithMaxBytes(n int64) Option {
	return func(c *config) error {
		if n < 4096 {
			return optionError("WithMaxBytes", fmt.Sprintf("%d < 4096", n))
		}
		c.maxBytes = n
		return nil
	}
}

// WithMaxDeadLetters bounds an OutboxStore's dead letters
// (DefaultMaxDeadLetters): the oldest is dropped, and counted, to make
// room. At least 1.
func WithMaxDeadLetters(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return optionError("WithMaxDeadLetters", fmt.Sprintf("%d < 1", n))
		}
		c.maxDead = n
		return nil
	}
}

// WithExpiryInterval sets how often a ReplyStore removes expired records
// (DefaultExpiryInterval), in transactions of at most 256 records each.
// Positive.
func WithExpiryInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return optionError("WithExpiryInterval", "must be positive")
		}
		c.expiry = d
		return nil
	}
}

// WithOpenTimeout bounds the wait for the file's lock, held by another
// process that has the store open (DefaultOpenTimeout). Positive.
func WithOpenTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return optionError("WithOpenTimeout", "must be positive")
		}
		c.open = d
		return nil
	}
}

// WithBatchDelay lets a write wait up to d for others to share its
// transaction and fsync (0 by default: writes that queue up while a
// transaction runs share the next one, which is enough when many
// handlers run at once). Not negative.
func WithBatchDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return optionError("WithBatchDelay", "must not be negative")
		}
		c.batchDelay = d
		return nil
	}
}
