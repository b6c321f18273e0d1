package reliable

import (
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// Server limits beyond those in server_options.go. Each bounds a part of
// the server's memory; together they make its MemoryBudget.
const (
	// DefaultMaxRequestFrames bounds the body frames of a request
	// (WithMaxRequestFrames). libzmq keeps 64 bytes per frame besides its
	// data, so a limit on bytes alone would let a request of empty frames
	// cost 32 times its size.
	DefaultMaxRequestFrames = 64
	// DefaultServerMaxReplySize bounds a handler's reply, in bytes of all
	// its frames (WithServerMaxReplySize): 1 MiB, like requests. A larger
	// reply is answered with wire.CodeTooLarge.
	DefaultServerMaxReplySize = 1 << 20
	// DefaultMaxConnections caps the server's connections
	// (WithMaxConnections). It is lowered to what the process's file limit
	// leaves (see WithMaxConnections).
	DefaultMaxConnections = 256
	// DefaultHandshakeInterval is the ZMQ_HANDSHAKE_IVL of server sockets
	// (WithHandshakeInterval): a connection that has not finished its ZMTP
	// handshake by then is dropped. libzmq's own default is 30 s.
	DefaultHandshakeInterval = 5 * time.Second
	// DefaultRequestQueue bounds the bytes of requests that libzmq holds
	// for the server and the server has not read yet, over all
	// connections (WithRequestQueue).
	DefaultRequestQueue = 32 << 20
	// DefaultReplyQueuePerConn and DefaultReplyQueue bound the bytes of
	// replies that libzmq holds for peers that have not read them yet, per
	// connection and in total (WithReplyQueue).
	DefaultReplyQueuePerConn = 8 << 20
	DefaultReplyQueue        = 32 << 20
)

// Memory the budget counts besides the limits: the process's own (the Go
// runtime, libzmq's context and threads: an idle `zmqguard serve` has an
// RSS of 10 MiB; and up to zmq.SendPoolBytes, 8 MiB, of idle send
// buffers), each connection's (libzmq's session, engine, pipes and
// buffers: 26 KiB of RSS at rest, measured by the hostile-peer suite's
// idle connections; its allocations when busy, two 8 KiB batches, an 8 KiB
// decoder buffer and two pipe chunks of 16 KiB, come to about 60 KiB),
// and what libzmq can read from the network between two looks of the
// connection watch (at about 1.5 GB/s per I/O thread on loopback).
const (
	budgetBase     = 24 << 20
	budgetPerConn  = 96 << 10
	budgetIngest   = 32 << 20 // 1.5 GB/s × maxScan, one I/O thread
	reservedFDs    = 48       // descriptors WithMaxConnections leaves to the rest of the process
	gcHeadroomPct  = 100      // the Go heap grows to live × (1 + GOGC/100) before a collection
	wireFrameBytes = 9 + 33   // a frame's largest overhead on the wire: size field and CURVE's MESSAGE command
)

// MemoryBudget is a server's worst case, derived from its limits, and the
// limits themselves. Server.Budget and ServerStats.Budget report it;
// zmqguard serve prints it at start. Total is the sum of the other byte
// fields:
//
//	Total = Base + Connections + RequestsQueued + Ingest + RequestsRead
//	      + Handlers + RepliesQueued + Cache + GC
//
//	Connections    = MaxConnections × 96 KiB
//	RequestsQueued = min(MaxConnections × (RcvHWM + 1) × request on the wire, RequestQueue)
//	Ingest         = 32 MiB: what libzmq reads between two looks (20 ms at 1.5 GB/s)
//	RequestsRead   = MaxRequestSize + MaxEnvelopeBytes (the request the serve loop is reading)
//	Handlers       = Concurrency × (MaxRequestSize + MaxEnvelopeBytes + MaxReplySize)
//	RepliesQueued  = min(MaxConnections × min(SndHWM × reply on the wire, ReplyQueuePerConn), ReplyQueue)
//	Cache          = ReplyCacheBytes
//	GC             = (RequestsRead + Handlers + Cache) × GOGC/100 (GOGC 100)
//
// What the server holds in Go (requests read, handlers' requests and
// replies, the reply cache) is counted twice: Go's collector lets the heap
// grow to twice its live data before it collects (a GOMEMLIMIT makes it
// collect sooner). What libzmq holds is counted once. A handler's own
// allocations are the handler's, and not counted.
type MemoryBudget struct {
	Total int64 // bytes, the sum of the parts below; -1: unbounded (a size limit is -1)

	Base           int64 // the process: Go runtime, libzmq's context and threads
	Connections    int64 // libzmq's per-connection state
	RequestsQueued int64 // requests libzmq holds that the server has not read
	Ingest         int64 // what libzmq can read between two looks at the connections
	RequestsRead   int64 // the request the serve loop is reading
	Handlers       int64 // requests held by running handlers and their replies
	RepliesQueued  int64 // replies libzmq holds for peers that have not read them
	Cache          int64 // the reply cache
	GC             int64 // Go's collector headroom over the Go-held parts

	// The limits it derives from.
	MaxConnections    int
	MaxRequestSize    int64 // bytes in all body frames of a request
	MaxRequestFrames  int   // body frames of a request
	MaxReplySize      int64
	Concurrency       int
	RcvHWM, SndHWM    int
	RequestQueue      int64
	ReplyQueuePerConn int64
	ReplyQueue        int64
	ReplyCacheBytes   int64
	Enforced          bool // the connection watch runs: connections are capped and measured
}

// String renders the budget in MiB for logs, e.g. "memory budget 480 MiB:
// base 24, 256 connections 24, ...".
func (b MemoryBudget) String() string {
	mib := func(n int64) string {
		if n < 0 {
			return "unbounded"
		}
		return fmt.Sprintf("%.0f", float64(n)/(1<<20))
	}
	s := fmt.Sprintf("memory budget %s MiB: base %s, %d connections %s, requests queued %s, ingest %s, reading %s, %d handlers %s, replies queued %s, reply cache %s, GC headroom %s",
		mib(b.Total), mib(b.Base), b.MaxConnections, mib(b.Connections), mib(b.RequestsQueued), mib(b.Ingest),
		mib(b.RequestsRead), b.Concurrency, mib(b.Handlers), mib(b.RepliesQueued), mib(b.Cache), mib(b.GC))
	if !b.Enforced {
		s += " (connections not watched: the figures for them do not hold)"
	}
	return s
}

// maxMsgWire is the most a request of the configured limits takes on the
// wire, framing included.
func (c *serverConfig) maxMsgWire() int64 {
	if c.maxMsgSize < 0 {
		return c.requestQueue // no limit: a connection may hold the whole queue
	}
	return c.maxMsgSize + MaxEnvelopeBytes + int64(c.maxFrames+wire.MaxEnvelopeFrames+1)*wireFrameBytes
}

// connLimits returns the bounds the connection watch enforces.
func (c *serverConfig) connLimits() connLimits {
	perConn := c.requestQueue
	if c.rcvHWM > 0 {
		perConn = min(perConn, int64(c.rcvHWM+1)*c.maxMsgWire()+handshakeAllowance)
	}
	return connLimits{
		maxConns:      c.maxConns,
		heldPerConn:   perConn,
		heldTotal:     c.requestQueue,
		queuedPerConn: c.replyQueuePerConn,
		queuedTotal:   c.replyQueue,
	}
}

// budget computes the worst case of c.
func (c *serverConfig) budget() MemoryBudget {
	b := MemoryBudget{
		MaxConnections: c.maxConns, MaxRequestSize: c.maxMsgSize, MaxRequestFrames: c.maxFrames,
		MaxReplySize: c.maxReply, Concurrency: c.concurrency, RcvHWM: c.rcvHWM, SndHWM: c.sndHWM,
		RequestQueue: c.requestQueue, ReplyQueuePerConn: c.replyQueuePerConn, ReplyQueue: c.replyQueue,
		ReplyCacheBytes: c.cacheBytes,
	}
	if c.cacheEntries == 0 || c.dedupeWindow == 0 {
		b.ReplyCacheBytes = 0
	}
	conns := int64(c.maxConns)
	lim := c.connLimits()
	b.Base = budgetBase
	b.Connections = conns * budgetPerConn
	b.RequestsQueued = min(conns*lim.heldPerConn, lim.heldTotal)
	b.Ingest = budgetIngest
	b.RequestsRead = c.maxMsgSize + MaxEnvelopeBytes
	b.Handlers = int64(c.concurrency) * (c.maxMsgSize + MaxEnvelopeBytes + c.maxReply)
	perConnOut := c.replyQueuePerConn
	if c.sndHWM > 0 {
		perConnOut = min(perConnOut, int64(c.sndHWM)*(c.maxReply+int64(wire.MaxEnvelopeFrames+2)*wireFrameBytes))
	}
	b.RepliesQueued = min(conns*perConnOut, c.replyQueue)
	b.Cache = b.ReplyCacheBytes
	b.GC = (b.RequestsRead + b.Handlers + b.Cache) * gcHeadroomPct / 100
	b.Total = b.Base + b.Connections + b.RequestsQueued + b.Ingest + b.RequestsRead + b.Handlers + b.RepliesQueued + b.Cache + b.GC
	if c.maxMsgSize < 0 || c.maxReply < 0 {
		// Without a size limit, a request or a reply can be any size.
		b.RequestsRead, b.Handlers, b.GC, b.Total = -1, -1, -1, -1
	}
	return b
}

// Bits of serverConfig.set: the limits an option set explicitly, which
// WithMemoryBudget keeps as they are.
const (
	setConcurrency = 1 << iota
	setCache
	setMaxConns
	setRequestQueue
	setReplyQueue
)

// fitBudget lowers the limits not set explicitly until the worst case
// fits c.memoryBudget, halving the largest adjustable part at each step:
// the reply cache, the request and reply queues, the handlers, the
// connections. It fails with a *zmq.OptionError when the explicit limits
// alone, with the adjustable ones at their floors, exceed the budget.
func (c *serverConfig) fitBudget() error {
	if c.memoryBudget == 0 {
		return nil
	}
	type knob struct {
		bit   int
		size  func() int64 // the part of the budget it drives
		lower func() bool  // halves it; false at its floor
	}
	knobs := []knob{
		{setCache, func() int64 { return c.budget().Cache * 2 }, func() bool {
			if c.cacheBytes <= 1<<20 {
				return false
			}
			c.cacheBytes /= 2
			return true
		}},
		{setRequestQueue, func() int64 { return c.budget().RequestsQueued }, func() bool {
			if c.requestQueue <= 2*c.maxMsgWire() {
				return false
			}
			c.requestQueue /= 2
			return true
		}},
		{setReplyQueue, func() int64 { return c.budget().RepliesQueued }, func() bool {
			if c.replyQueue <= 2*(c.maxReply+1<<10) {
				return false
			}
			c.replyQueue /= 2
			c.replyQueuePerConn = min(c.replyQueuePerConn, c.replyQueue)
			return true
		}},
		{setConcurrency, func() int64 { return c.budget().Handlers * 2 }, func() bool {
			if c.concurrency <= 1 {
				return false
			}
			c.concurrency /= 2
			return true
		}},
		{setMaxConns, func() int64 { return c.budget().Connections }, func() bool {
			if c.maxConns <= 8 {
				return false
			}
			c.maxConns /= 2
			return true
		}},
	}
	for t := c.budget().Total; t < 0 || t > c.memoryBudget; t = c.budget().Total {
		var best *knob
		var bestSize int64
		for i := range knobs {
			k := &knobs[i]
			if c.set&k.bit != 0 || k.lower == nil {
				continue
			}
			if sz := k.size(); best == nil || sz > bestSize {
				best, bestSize = k, sz
			}
		}
		if best == nil {
			return optionError("WithMemoryBudget", fmt.Sprintf(
				"the worst case of the limits set explicitly is over the budget of %d bytes: %v",
				c.memoryBudget, c.budget()))
		}
		if !best.lower() {
			best.lower = nil // at its floor
		}
	}
	return nil
}

// WithMemoryBudget states the most memory the server may need, in bytes.
// The server lowers the limits that no option set explicitly (the reply
// cache, the request and reply queues, the concurrency, the connections,
// largest first) until its worst case (MemoryBudget, whose doc has the
// formula) fits, and NewServer or Listen refuses with a *zmq.OptionError
// a configuration whose explicit limits alone exceed it. The budget with
// the defaults is 467 MiB. Zero (the default) takes the limits as
// they are.
func WithMemoryBudget(bytes int64) ServerOption {
	return func(c *serverConfig) error {
		if bytes < 0 {
			return optionError("WithMemoryBudget", "must not be negative")
		}
		c.memoryBudget = bytes
		return nil
	}
}

// WithMaxRequestFrames bounds the body frames of a request (default
// DefaultMaxRequestFrames). A request with more is answered with
// wire.CodeTooLarge and never reaches the handler; its frames beyond the
// bound are received and dropped.
func WithMaxRequestFrames(n int) ServerOption {
	return func(c *serverConfig) error {
		if n <= 0 {
			return optionError("WithMaxRequestFrames", "must be positive")
		}
		c.maxFrames = n
		return nil
	}
}

// WithServerMaxReplySize bounds a handler's reply, in bytes of all its
// frames (default DefaultServerMaxReplySize; -1 for no limit). A larger
// reply is not sent: the client gets an error reply with
// wire.CodeTooLarge, which the reply cache keeps like any outcome (the
// handler ran). Set it no larger than the clients' WithMaxReplySize.
func WithServerMaxReplySize(n int64) ServerOption {
	return func(c *serverConfig) error {
		if n < -1 || n == 0 {
			return optionError("WithServerMaxReplySize", "must be positive, or -1 for no limit")
		}
		c.maxReply = n
		return nil
	}
}

// WithMaxConnections caps the connections the server holds at once
// (default DefaultMaxConnections). A connection that arrives at the cap
// takes the place of the oldest connection that has not sent a request
// yet (a stalled handshake, typically: that one is dropped), or is
// dropped itself when there is none; ServerStats.ConnectionsRefused
// counts both. The cap is lowered to the process's file limit less the
// descriptors already open and a reserve of 48, so that libzmq never
// fails to accept for want of a descriptor (it would retry at once, in a
// loop, until one is free). Connections over inproc are not counted.
func WithMaxConnections(n int) ServerOption {
	return func(c *serverConfig) error {
		if n <= 0 {
			return optionError("WithMaxConnections", "must be positive")
		}
		c.maxConns = n
		c.set |= setMaxConns
		return nil
	}
}

// WithHandshakeInterval sets ZMQ_HANDSHAKE_IVL on the server socket
// (default DefaultHandshakeInterval): a connection that has not finished
// its ZMTP handshake by then is dropped. Zero means no limit (not
// recommended: a peer that stalls its handshake holds its connection
// until the cap makes room).
func WithHandshakeInterval(d time.Duration) ServerOption {
	return func(c *serverConfig) error {
		if d < 0 {
			return optionError("WithHandshakeInterval", "must not be negative")
		}
		c.handshake = d
		return nil
	}
}

// WithRequestQueue bounds the bytes of requests that libzmq holds for the
// server and the server has not read yet, over all connections (default
// DefaultRequestQueue). Each connection may hold up to (RcvHWM + 1) of the
// largest request (complete requests waiting while the handlers are busy,
// and the one arriving); a connection that makes libzmq hold more (a
// request of more frames than allowed, without end) is dropped, and so,
// while the total is over this bound, are the connections holding the
// most: their requests were never read, and their clients retry them.
// Counted on TCP connections (the kernel's counters of libzmq's
// descriptors); ipc and inproc peers are not measured.
func WithRequestQueue(total int64) ServerOption {
	return func(c *serverConfig) error {
		if total <= 0 {
			return optionError("WithRequestQueue", "must be positive")
		}
		c.requestQueue = total
		c.set |= setRequestQueue
		return nil
	}
}

// WithReplyQueue bounds the bytes of replies that libzmq holds for peers
// that have not read them yet, per connection and in total (defaults
// DefaultReplyQueuePerConn, DefaultReplyQueue). A reply that would exceed
// either is dropped and counted (ServerStats.RepliesDropped and
// RepliesOverQueue); the client's retry is answered from the reply cache
// once the peer reads again. Measured on TCP connections (the kernel's
// counters of libzmq's descriptors); for others only WithServerHWM's count
// of messages applies.
func WithReplyQueue(perConn, total int64) ServerOption {
	return func(c *serverConfig) error {
		if perConn <= 0 || total <= 0 {
			return optionError("WithReplyQueue", "bounds must be positive")
		}
		c.replyQueuePerConn, c.replyQueue = perConn, total
		c.set |= setReplyQueue
		return nil
	}
}
