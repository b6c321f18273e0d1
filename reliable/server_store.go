package reliable

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/internal/handler"
	"github.com/zmqguard/zmqguard/reliable/wire"
)

// outcomeUnknownText is the message of a wire.CodeOutcomeUnknown reply.
const outcomeUnknownText = "the server stopped while this request ran: it may or may not have been executed"

// WithReplyStore makes the server record each correlated request in st
// (see ReplyStore) as well as in its reply cache: that its handler
// started, before the handler runs, and its outcome, before the reply is
// sent. A server restarted on the same store then answers retries of the
// requests its earlier run completed, within the dedupe window, without
// running their handlers again (docs/DURABILITY.md).
//
// A retry of a request whose handler was running when the earlier run
// stopped finds only its "started" record: by default its handler runs
// again (the one case of at-least-once, counted in
// ServerStats.StartedAgain); WithOutcomeUnknownReplies answers it with
// wire.CodeOutcomeUnknown instead. A store that fails is counted
// (StoreErrors) and the request is served as without a store. Plain
// requests (no ID frame) and a server with WithDedupeWindow(0) use no
// store. The application opens st and closes it after Serve returns.
func WithReplyStore(st ReplyStore) ServerOption {
	return func(c *serverConfig) error {
		if st == nil {
			return optionError("WithReplyStore", "nil store")
		}
		c.store = st
		return nil
	}
}

// WithOutcomeUnknownReplies answers a retry of a request that was running
// when an earlier run of the server stopped (its ReplyStore has it as
// started, without an outcome) with an error reply of code
// wire.CodeOutcomeUnknown (ErrOutcomeUnknown on the client), recorded
// like any outcome, instead of running the handler again: at most once
// instead of at least once, for those requests. It needs WithReplyStore.
func WithOutcomeUnknownReplies() ServerOption {
	return func(c *serverConfig) error { c.outcomeUnknown = true; return nil }
}

// StoreStats counts what a Server did with its ReplyStore.
type StoreStats struct {
	DuplicatesStored uint64 // retries answered from the reply store, not the cache in memory
	StartedAgain     uint64 // retries of requests running when an earlier run stopped, whose handlers ran again
	OutcomeUnknown   uint64 // such retries answered with wire.CodeOutcomeUnknown (WithOutcomeUnknownReplies)
	StoreErrors      uint64 // reads and writes of the store that failed
}

type storeCounters struct {
	dupStored, startedAgain, unknown, errors atomic.Uint64
}

func (c *storeCounters) snapshot() StoreStats {
	return StoreStats{DuplicatesStored: c.dupStored.Load(), StartedAgain: c.startedAgain.Load(),
		OutcomeUnknown: c.unknown.Load(), StoreErrors: c.errors.Load()}
}

// storing reports whether the server records requests in a store.
func (s *Server) storing() bool { return s.cfg.store != nil && s.cfg.dedupeWindow > 0 }

// storeStarted records, on a handler's goroutine, that its handler is
// about to run.
func (s *Server) storeStarted(c *serverCall) {
	rec := StoredOutcome{Boot: c.boot, Expires: time.Now().Add(s.cfg.dedupeWindow)}
	if err := s.cfg.store.Put(c.key, rec); err != nil {
		s.ctr.store.errors.Add(1)
	}
}

// storeOutcome records, on a handler's goroutine, the reply the serve
// loop is about to send (outcome and boundReply make the same one).
func (s *Server) storeOutcome(c *serverCall) {
	kind, body := s.replyOf(&c.out)
	if msg, over := s.replyOverLimit(kind, body); over {
		kind, body = wire.KindError, wire.EncodeErrorBody(wire.CodeTooLarge, msg)
	}
	rec := StoredOutcome{Boot: c.boot, Done: true, Kind: kind, Body: body, Expires: time.Now().Add(s.cfg.dedupeWindow)}
	if err := s.cfg.store.Put(c.key, rec); err != nil {
		s.ctr.store.errors.Add(1)
	}
}

// fromStore answers a correlated request that is neither running nor in
// the reply cache from the store, when the store knows it, and reports
// whether it did.
func (l *serverLoop) fromStore(in wire.Request) bool {
	if !l.s.storing() {
		return false
	}
	ctr := &l.s.ctr.store
	key, now := in.ID.Key(), time.Now()
	rec, ok, err := l.s.cfg.store.Get(key, now)
	switch {
	case err != nil:
		ctr.errors.Add(1)
		return false
	case !ok:
		return false
	case !rec.Done && rec.Boot == l.boot:
		// Started by this run and no longer running: it overran its
		// deadline and its timeout reply left the cache. As without a
		// store, it runs again.
		return false
	case !rec.Done && !l.s.cfg.outcomeUnknown:
		ctr.startedAgain.Add(1)
		l.emit(ServerEvent{Kind: ServerEventDuplicate, ID: in.ID, Message: "was running when the server stopped: running it again"})
		return false
	case !rec.Done:
		ctr.unknown.Add(1)
		rec = StoredOutcome{Boot: l.boot, Done: true, Kind: wire.KindError,
			Body: wire.EncodeErrorBody(wire.CodeOutcomeUnknown, outcomeUnknownText), Expires: now.Add(l.s.cfg.dedupeWindow)}
		if err := l.s.cfg.store.Put(key, rec); err != nil {
			ctr.errors.Add(1)
		}
		l.emit(ServerEvent{Kind: ServerEventDuplicate, ID: in.ID, Code: wire.CodeOutcomeUnknown, Message: outcomeUnknownText})
	default:
		ctr.dupStored.Add(1)
		l.emit(ServerEvent{Kind: ServerEventDuplicate, ID: in.ID, Message: "answered from the reply store"})
	}
	l.cachePut(key, rec.Kind, rec.Body)
	l.send(in.Envelope, true, rec.Kind, rec.Body)
	return true
}

// replyOf is the reply a handler's outcome makes.
func (s *Server) replyOf(o *handler.Outcome) (wire.Kind, [][]byte) {
	switch o.Ending {
	case handler.Replied:
		return wire.KindReply, o.Reply
	case handler.TimedOut:
		return wire.KindError, s.timeoutBody()
	}
	return wire.KindError, wire.EncodeErrorBody(o.Code, o.Message)
}

func (s *Server) timeoutBody() [][]byte {
	return wire.EncodeErrorBody(wire.CodeTimeout, fmt.Sprintf("handler overran its %v deadline", s.cfg.handlerTimeout))
}

// replyOverLimit says why a reply is over WithServerMaxReplySize, if it is.
func (s *Server) replyOverLimit(kind wire.Kind, body [][]byte) (string, bool) {
	limit := s.cfg.maxReply
	if kind != wire.KindReply || limit <= 0 {
		return "", false
	}
	if n := messageSize(body); n > limit {
		return fmt.Sprintf("reply of %d bytes is over the server's limit of %d bytes", n, limit), true
	}
	return "", false
}
