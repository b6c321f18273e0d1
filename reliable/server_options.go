package reliable

import (
	"time"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

// Server defaults. Each can be changed with the option named beside it.
const (
	// DefaultConcurrency is how many handlers a ROUTER server runs at once
	// (WithConcurrency). Request/reply handlers mostly wait on I/O, so the
	// CPU count is a poor bound; 64 keeps the worst case for requests held
	// in handlers at 64 × DefaultMaxMessageSize = 64 MiB.
	DefaultConcurrency = 64
	// DefaultHandlerTimeout is each request's deadline (WithHandlerTimeout).
	// It is a safety net against stuck handlers, not a latency target.
	DefaultHandlerTimeout = 30 * time.Second
	// DefaultDedupeWindow is how long a completed request's reply is kept
	// to answer retries (WithDedupeWindow). It should exceed the clients'
	// whole retry span (attempts × attempt timeout + backoff).
	DefaultDedupeWindow = 30 * time.Second
	// DefaultReplyCacheEntries bounds the reply cache by count
	// (WithReplyCache). With the default window the cache covers a full
	// window up to about 2 000 requests per second; above that, entries
	// are evicted early (see WithReplyCache).
	DefaultReplyCacheEntries = 65536
	// DefaultReplyCacheBytes bounds the reply cache by memory
	// (WithReplyCache): reply bytes plus a fixed overhead per entry and
	// per frame.
	DefaultReplyCacheBytes = 32 << 20
	// DefaultMaxMessageSize bounds a request, in bytes of all its body
	// frames together (WithMaxMessageSize): 1 MiB, like mangos. It is also the
	// ZMQ_MAXMSGSIZE set on server sockets: libzmq's own default is
	// unlimited, so one frame header announcing a terabyte makes it try to
	// allocate a terabyte. libzmq applies that to each frame (a peer that
	// announces a larger frame is disconnected); the server applies the
	// bound to the whole request.
	DefaultMaxMessageSize = 1 << 20
	// DefaultRcvHWM is the receive high-water mark set on server sockets
	// (WithServerHWM), in messages per connection: the requests libzmq
	// queues for a connection while the handlers are busy. libzmq's
	// default of 1000 lets one connection park 1000 × MaxMessageSize
	// bytes in the server; 128 still queues twice DefaultConcurrency
	// requests, and the bytes they may take in all are bounded by
	// WithRequestQueue (32 MiB by default). Beyond it, a sender is slowed
	// down by TCP, not buffered. A lower mark costs CPU: libzmq signals
	// the reading side's progress every half mark (at 8, the server spent
	// a third more CPU per request).
	DefaultRcvHWM = 128
	// DefaultSndHWM is the send high-water mark set on server sockets
	// (WithServerHWM). A reply that finds its connection's queue full is
	// dropped (the client's retry is answered from the reply cache), so
	// the queue must absorb bursts: up to WithConcurrency replies can be
	// ready at once, and libzmq learns that the queue drained only every
	// HWM/2 messages. Keep it at 4 × the concurrency or more. It bounds
	// the replies held for a peer that does not read them.
	DefaultSndHWM = 1000
)

// serverConfig is what the options set.
type serverConfig struct {
	concurrency    int
	handlerTimeout time.Duration
	dedupeWindow   time.Duration
	cacheEntries   int
	cacheBytes     int64
	maxMsgSize     int64
	rcvHWM, sndHWM int
	hook           func(ServerEvent)
	observer       observe.Observer
	setup          func(*zmq.Socket) error

	maxFrames         int           // WithMaxRequestFrames
	maxReply          int64         // WithServerMaxReplySize; -1: none
	maxConns          int           // WithMaxConnections
	handshake         time.Duration // WithHandshakeInterval
	requestQueue      int64         // WithRequestQueue
	replyQueuePerConn int64         // WithReplyQueue
	replyQueue        int64
	memoryBudget      int64 // WithMemoryBudget; 0: none
	set               int   // limits set explicitly (setConcurrency, ...)

	store          ReplyStore // WithReplyStore; nil: replies are kept in memory only
	outcomeUnknown bool       // WithOutcomeUnknownReplies
}

func defaultServerConfig() serverConfig {
	return serverConfig{
		concurrency:    DefaultConcurrency,
		handlerTimeout: DefaultHandlerTimeout,
		dedupeWindow:   DefaultDedupeWindow,
		cacheEntries:   DefaultReplyCacheEntries,
		cacheBytes:     DefaultReplyCacheBytes,
		maxMsgSize:     DefaultMaxMessageSize,
		rcvHWM:         DefaultRcvHWM,
		sndHWM:         DefaultSndHWM,

		maxFrames:         DefaultMaxRequestFrames,
		maxReply:          DefaultServerMaxReplySize,
		maxConns:          DefaultMaxConnections,
		handshake:         DefaultHandshakeInterval,
		requestQueue:      DefaultRequestQueue,
		replyQueuePerConn: DefaultReplyQueuePerConn,
		replyQueue:        DefaultReplyQueue,
	}
}

// ServerOption configures a Server. Invalid values, and a nil option,
// make NewServer and Listen return a *zmq.OptionError.
type ServerOption func(*serverConfig) error

func optionError(name, reason string) error {
	return &zmq.OptionError{Option: name, Reason: reason}
}

// WithConcurrency sets how many handlers run at once (default
// DefaultConcurrency). When all are busy the server stops reading: requests
// wait in libzmq's queues up to the high-water mark, then in the peers'
// TCP buffers, so a flood produces backpressure instead of growth. It must
// be positive. A REP server always runs one handler at a time.
func WithConcurrency(n int) ServerOption {
	return func(c *serverConfig) error {
		if n <= 0 {
			return optionError("WithConcurrency", "must be positive")
		}
		c.concurrency = n
		c.set |= setConcurrency
		return nil
	}
}

// WithHandlerTimeout sets each request's deadline (default
// DefaultHandlerTimeout). At the deadline the handler's ctx is done and
// the client gets a wire.CodeTimeout error reply at once, whether or not the
// handler returns; a result it returns later is discarded (it still
// replaces the timeout reply in the reply cache, so a retry gets it). A
// handler that ignores its ctx keeps its concurrency slot until it
// returns. Zero means no deadline; negative values are invalid.
func WithHandlerTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) error {
		if d < 0 {
			return optionError("WithHandlerTimeout", "must not be negative")
		}
		c.handlerTimeout = d
		return nil
	}
}

// WithDedupeWindow sets how long a completed request's reply answers
// retries of it (default DefaultDedupeWindow). Zero keeps no completed
// replies: a retry that arrives while the request still runs is still
// joined to it, but one that arrives later runs again. Negative values are
// invalid.
func WithDedupeWindow(d time.Duration) ServerOption {
	return func(c *serverConfig) error {
		if d < 0 {
			return optionError("WithDedupeWindow", "must not be negative")
		}
		c.dedupeWindow = d
		return nil
	}
}

// WithReplyCache bounds the cache of completed replies by count and by
// bytes (defaults DefaultReplyCacheEntries, DefaultReplyCacheBytes).
// When either bound is reached the oldest entries are evicted first; a
// retry of an evicted request, or of a request whose reply was too big to
// cache, runs the handler again. Stats.CacheEvictions counts both.
// Zero for either disables the cache (as WithDedupeWindow(0) does);
// negative values are invalid.
func WithReplyCache(maxEntries int, maxBytes int64) ServerOption {
	return func(c *serverConfig) error {
		if maxEntries < 0 || maxBytes < 0 {
			return optionError("WithReplyCache", "bounds must not be negative")
		}
		c.cacheEntries, c.cacheBytes = maxEntries, maxBytes
		c.set |= setCache
		return nil
	}
}

// WithMaxMessageSize bounds a request, in bytes of all its body frames
// together (default DefaultMaxMessageSize; its envelope has
// MaxEnvelopeBytes besides). A request of several frames that add up to
// more is answered with wire.CodeTooLarge and never reaches the handler; the server keeps none of it beyond the bound (its
// frames are received and dropped), and libzmq frees each as it is
// received. The bound is also the socket's ZMQ_MAXMSGSIZE: libzmq
// disconnects a peer that announces a single larger frame, without
// allocating it. -1 removes the limit (libzmq's default; not recommended
// on a network-facing socket).
func WithMaxMessageSize(n int64) ServerOption {
	return func(c *serverConfig) error {
		if n < -1 || n == 0 {
			return optionError("WithMaxMessageSize", "must be positive, or -1 for no limit")
		}
		c.maxMsgSize = n
		return nil
	}
}

// WithServerHWM sets the receive and send high-water marks of the server
// socket, in messages per connection (defaults DefaultRcvHWM,
// DefaultSndHWM). Zero means no limit (not recommended). A reply that
// finds its connection's send queue full is dropped and counted
// (Stats.RepliesDropped); the client's retry is answered from the reply
// cache. In bytes, WithRequestQueue and WithReplyQueue bound the same
// queues.
func WithServerHWM(rcv, snd int) ServerOption {
	return func(c *serverConfig) error {
		if rcv < 0 || snd < 0 {
			return optionError("WithServerHWM", "must not be negative")
		}
		c.rcvHWM, c.sndHWM = rcv, snd
		return nil
	}
}

// WithServerEventHook sets a function called for every noteworthy event
// (see ServerEventKind). It is called synchronously from the serve loop,
// so it must be quick and must not call Shutdown or Close; a panic in it
// is recovered and ignored. By default nothing is reported and nothing is
// printed.
func WithServerEventHook(hook func(ServerEvent)) ServerOption {
	return func(c *serverConfig) error {
		c.hook = hook
		return nil
	}
}

// WithServerSocketSetup sets a function that Listen calls on the new
// socket before binding it: CURVE keys (ServerAuthCurve), a ZAP domain,
// TCP keepalives. It runs after the server has set its own options, so it
// may override them. NewServer, which gets an already configured socket,
// ignores it.
func WithServerSocketSetup(setup func(*zmq.Socket) error) ServerOption {
	return func(c *serverConfig) error {
		c.setup = setup
		return nil
	}
}
