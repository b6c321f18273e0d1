package reliable

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// ServerStats counts what a Server did. Read it with Server.Stats; the
// counters only grow, except the gauges marked as such.
type ServerStats struct {
	Requests uint64 // request messages received, duplicates and malformed ones included
	Executed uint64 // handler calls started
	Replies  uint64 // replies sent (successes and error replies)

	ErrorReplies uint64            // error replies sent, of every code
	ErrorsByCode map[string]uint64 // error replies sent, by code
	Panics       uint64            // handlers that panicked (wire.CodePanic)
	Timeouts     uint64            // handlers that overran their deadline (wire.CodeTimeout)
	LateResults  uint64            // results that arrived after the timeout reply, discarded
	Malformed    uint64            // malformed requests answered with wire.CodeMalformed

	MalformedDropped uint64 // malformed requests that could not be answered
	RepliesDropped   uint64 // replies libzmq refused: peer gone or its send queue full
	ErrorsWithheld   uint64 // error replies not sent: a plain client that does not take them (wire.TakesPlainErrors)
	Refused          uint64 // requests refused during Shutdown (wire.CodeShutdown)

	DuplicatesInFlight uint64 // retries that arrived while their request ran, joined to it
	DuplicatesCached   uint64 // retries answered from the reply cache
	Superseded         uint64 // attempts left unanswered because a newer attempt of the same request arrived while it ran
	CacheEvictions     uint64 // cached replies evicted before their window ended, or too big to cache

	InFlight     int   // gauge: handlers running (including ones past their deadline)
	Overrunning  int   // gauge: handlers running past their deadline, already answered
	CacheEntries int   // gauge: replies in the cache
	CacheBytes   int64 // gauge: accounted size of the cache

	TooLarge           uint64 // requests over the size or frame limits (answered wire.CodeTooLarge) and handler replies over WithServerMaxReplySize
	RepliesOverQueue   uint64 // replies dropped because the reply queue bounds (WithReplyQueue) were reached; also in RepliesDropped
	ConnectionsRefused uint64 // connections dropped at the cap (WithMaxConnections): new ones, or older ones that had sent nothing
	ConnectionsShed    uint64 // connections dropped for making libzmq hold too many unread request bytes (WithRequestQueue)
	Connections        int    // gauge: connections accepted and not dropped (TCP and ipc; 0 when not watched)
	RequestBytesHeld   int64  // gauge: unread request bytes libzmq held, at the last look (TCP)
	ReplyBytesQueued   int64  // gauge: reply bytes libzmq held for peers, at most (TCP)

	StoreStats // the persistent reply store's counters (WithReplyStore)

	Budget MemoryBudget // the server's worst case, stated at construction
}

// serverCounters is where the loop and handlers count; Stats snapshots it.
type serverCounters struct {
	requests, executed, replies, errorReplies, panics, timeouts, late, malformed,
	malformedDropped, repliesDropped, withheld, refused, dupInFlight, dupCached,
	superseded, evictions atomic.Uint64
	inFlight, overrunning, cacheEntries atomic.Int64
	cacheBytes                          atomic.Int64

	tooLarge, overQueue, connsRefused, connsShed atomic.Uint64
	conns, heldBytes, queuedBytes                atomic.Int64
	store                                        storeCounters

	mu     sync.Mutex
	byCode map[string]uint64
}

// reply counts (delta 1) or uncounts (delta -1) a reply, and an error
// reply of code when code is not empty.
func (c *serverCounters) reply(code string, delta int) {
	c.replies.Add(uint64(delta))
	if code == "" {
		return
	}
	c.errorReplies.Add(uint64(delta))
	c.mu.Lock()
	if c.byCode == nil {
		c.byCode = make(map[string]uint64)
	}
	c.byCode[code] += uint64(delta)
	if c.byCode[code] == 0 {
		delete(c.byCode, code)
	}
	c.mu.Unlock()
}

func (c *serverCounters) snapshot() ServerStats {
	st := ServerStats{
		Requests: c.requests.Load(), Executed: c.executed.Load(), Replies: c.replies.Load(),
		ErrorReplies: c.errorReplies.Load(), Panics: c.panics.Load(), Timeouts: c.timeouts.Load(),
		LateResults: c.late.Load(), Malformed: c.malformed.Load(),
		MalformedDropped: c.malformedDropped.Load(), RepliesDropped: c.repliesDropped.Load(),
		ErrorsWithheld: c.withheld.Load(), Refused: c.refused.Load(), DuplicatesInFlight: c.dupInFlight.Load(),
		DuplicatesCached: c.dupCached.Load(), Superseded: c.superseded.Load(),
		CacheEvictions: c.evictions.Load(),
		InFlight:       int(c.inFlight.Load()), Overrunning: int(c.overrunning.Load()),
		CacheEntries: int(c.cacheEntries.Load()), CacheBytes: c.cacheBytes.Load(),
		ErrorsByCode: make(map[string]uint64),
		TooLarge:     c.tooLarge.Load(), RepliesOverQueue: c.overQueue.Load(),
		ConnectionsRefused: c.connsRefused.Load(), ConnectionsShed: c.connsShed.Load(),
		Connections: int(c.conns.Load()), RequestBytesHeld: c.heldBytes.Load(), ReplyBytesQueued: c.queuedBytes.Load(),
	}
	st.StoreStats = c.store.snapshot()
	c.mu.Lock()
	for k, v := range c.byCode {
		st.ErrorsByCode[k] = v
	}
	c.mu.Unlock()
	return st
}

// ServerEventKind says what a ServerEvent reports.
type ServerEventKind int

const (
	// ServerEventHandlerError: a handler returned an error; Err is it.
	ServerEventHandlerError ServerEventKind = iota + 1
	// ServerEventPanic: a handler panicked; Panic and Stack say where.
	ServerEventPanic
	// ServerEventTimeout: a handler overran its deadline; the client got
	// a wire.CodeTimeout reply.
	ServerEventTimeout
	// ServerEventLateResult: a handler returned after its timeout reply.
	ServerEventLateResult
	// ServerEventMalformed: a request did not follow the protocol;
	// Message says how. Code is wire.CodeMalformed when it was answered and
	// empty when it was dropped.
	ServerEventMalformed
	// ServerEventDuplicate: a retry was joined to its running request or
	// answered from the reply cache, without running the handler.
	ServerEventDuplicate
	// ServerEventEviction: cached replies were evicted before their
	// window ended (Count says how many); retries of them will run again.
	ServerEventEviction
	// ServerEventReplyDropped: libzmq refused a reply (the peer is gone or
	// its queue is full); Err says which.
	ServerEventReplyDropped
	// ServerEventRefused: a request arrived during Shutdown and was
	// answered with wire.CodeShutdown.
	ServerEventRefused
	// ServerEventTooLarge: a request was over the size or frame limits
	// and was answered with wire.CodeTooLarge, or a handler's reply was
	// over WithServerMaxReplySize and was replaced by that error; Message
	// says which.
	ServerEventTooLarge
	// ServerEventConnectionShed: the server dropped a connection, at the
	// connection cap or for what libzmq held for it; Message says why. It
	// is reported when the serve loop next runs.
	ServerEventConnectionShed
)

var serverEventNames = [...]string{
	ServerEventHandlerError:   "handler-error",
	ServerEventPanic:          "panic",
	ServerEventTimeout:        "timeout",
	ServerEventLateResult:     "late-result",
	ServerEventMalformed:      "malformed",
	ServerEventDuplicate:      "duplicate",
	ServerEventEviction:       "eviction",
	ServerEventReplyDropped:   "reply-dropped",
	ServerEventRefused:        "refused",
	ServerEventTooLarge:       "too-large",
	ServerEventConnectionShed: "connection-shed",
}

// String names the kind, e.g. "panic".
func (k ServerEventKind) String() string {
	if k > 0 && int(k) < len(serverEventNames) {
		return serverEventNames[k]
	}
	return "unknown"
}

// ServerEvent is reported to the hook set with WithServerEventHook.
type ServerEvent struct {
	Kind    ServerEventKind // what happened
	ID      wire.RequestID  // the request's id; zero for plain requests
	Code    string          // the error code sent, if an error reply was sent
	Message string          // a description (the malformation, the error text)
	Err     error           // the handler's or libzmq's error, if any
	Panic   any             // the value the handler panicked with
	Stack   []byte          // the panicking goroutine's stack
	Count   int             // for ServerEventEviction: entries evicted
	Elapsed time.Duration   // since the request arrived
}
