package reliable

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/internal/handler"
	"github.com/zmqguard/zmqguard/internal/list"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// readBatch bounds the requests read in one go before the loop looks at
// finished handlers and deadlines again.
const readBatch = 256

// serverCall is one execution of the handler.
type serverCall struct {
	in wire.Request // the loop's: a later attempt's joining rewrites in.ID
	// key is in.ID.Key(), fixed at start, for the handler's goroutine
	// (its ReplyStore records), which must not read in.ID.
	key      wire.RequestKey
	ctx      context.Context
	cancel   context.CancelFunc
	start    time.Time
	deadline time.Time // zero: none

	// Written by the handler goroutine before Server.finished, read by the
	// loop after it (the server's mutex orders them).
	out handler.Outcome

	// Owned by the loop.
	timedOut bool
	links    list.Links[serverCall] // on serverLoop.deadlines while listed

	boot uint64 // the serve loop's run, for the ReplyStore (server_store.go)
}

func callLinks(c *serverCall) *list.Links[serverCall] { return &c.links }

// serverLoop is the serve loop: the one goroutine that uses the socket.
// It reads requests while a handler slot is free, starts handlers, sends
// their replies when they finish, and answers timeouts at the deadline.
// When there is nothing to do it parks in the netpoller on the socket (or,
// with every slot busy, on a channel) until a request arrives, a handler
// finishes (it cancels the wait's context), the next deadline passes or
// the server stops. No timer polls.
type serverLoop struct {
	s    *Server
	ctx  context.Context
	sock *zmq.Socket
	max  int

	running  int  // handler goroutines not yet collected
	overrun  int  // of which past their deadline, already answered
	repBusy  bool // REP: a request was received and not yet answered
	shutdown bool // Shutdown seen
	fatal    error

	inflight  map[wire.RequestKey]*serverCall
	deadlines *list.List[serverCall] // running calls with a deadline, oldest first
	cache     *replyCache
	done      []*serverCall

	waitCtx    context.Context
	waitCancel context.CancelFunc
	timer      *time.Timer

	curve bool       // the socket speaks CURVE (frameWire)
	conns *connWatch // nil: connections are not watched
	boot  uint64     // names this run in the ReplyStore's records
}

func newServerLoop(s *Server, ctx context.Context) *serverLoop {
	return &serverLoop{
		s: s, ctx: ctx, sock: s.sock, max: s.cfg.concurrency,
		inflight:  make(map[wire.RequestKey]*serverCall),
		deadlines: list.New(callLinks),
		cache:     newReplyCache(s.cfg.dedupeWindow, s.cfg.cacheEntries, s.cfg.cacheBytes),
		boot:      randomID(),
	}
}

// run serves until the context ends (it returns the context's error),
// a graceful shutdown completes (nil) or the socket fails (its error).
func (l *serverLoop) run() error {
	l.conns = l.s.conns
	if mech, err := l.sock.GetMechanism(); err == nil && mech == zmq.CURVE {
		l.curve = true // set up after NewServer, by WithServerSocketSetup
	}
	defer func() {
		if l.waitCancel != nil {
			l.waitCancel()
		}
		if l.timer != nil {
			l.timer.Stop()
		}
	}()
	for {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		progressed := l.collect()
		progressed = l.expire(time.Now()) || progressed
		n, err := l.read()
		if err == nil {
			err = l.fatal
		}
		if err != nil {
			if l.ctx.Err() != nil {
				return l.ctx.Err()
			}
			return err
		}
		if l.shutdown && l.running == 0 {
			return nil
		}
		if n > 0 || progressed {
			continue
		}
		if err := l.sleep(); err != nil {
			if l.ctx.Err() != nil {
				return l.ctx.Err()
			}
			return err
		}
	}
}

// collect finishes the calls whose handlers returned.
func (l *serverLoop) collect() bool {
	calls, shutdown, _ := l.s.takeDone(l.done[:0], nil, l.shutdown)
	newShutdown := shutdown && !l.shutdown
	l.shutdown = shutdown
	l.finishAll(calls)
	l.connEvents()
	return len(calls) > 0 || newShutdown
}

func (l *serverLoop) finishAll(calls []*serverCall) {
	for i, c := range calls {
		l.finish(c)
		calls[i] = nil
	}
	l.done = calls[:0]
}

// canRead reports whether the loop may take another request.
func (l *serverLoop) canRead() bool {
	if l.s.rep && l.repBusy {
		return false // REP must answer before it receives again
	}
	return l.running < l.max || l.shutdown
}

// read takes up to readBatch requests without blocking.
func (l *serverLoop) read() (int, error) {
	n := 0
	for n < readBatch && l.canRead() && l.fatal == nil {
		r, err := l.recvRequest()
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) {
				return n, nil
			}
			return n, err
		}
		n++
		l.admit(r)
	}
	return n, nil
}

// sleep parks until something may have happened: a request, a finished
// handler, the next deadline, Shutdown or the end of the context.
func (l *serverLoop) sleep() error {
	if l.waitCtx == nil || l.waitCtx.Err() != nil {
		if l.waitCancel != nil {
			l.waitCancel()
		}
		l.waitCtx, l.waitCancel = context.WithCancel(l.ctx)
	}
	calls, shutdown, registered := l.s.takeDone(l.done[:0], l.waitCancel, l.shutdown)
	if !registered {
		l.shutdown = shutdown
		l.finishAll(calls)
		return nil
	}
	defer l.s.unregister()
	var deadline time.Time
	if c := l.deadlines.Front(); c != nil {
		deadline = c.deadline
	}
	if l.canRead() {
		_, err := timeout.WaitUntil(l.waitCtx, l.sock, deadline, zmq.POLLIN)
		var te *zmq.TimeoutError
		if err != nil && !errors.As(err, &te) {
			return err
		}
		return nil
	}
	if deadline.IsZero() {
		<-l.waitCtx.Done()
		return nil
	}
	if l.timer == nil {
		l.timer = time.NewTimer(time.Until(deadline))
	} else {
		l.timer.Reset(time.Until(deadline))
	}
	select {
	case <-l.waitCtx.Done():
	case <-l.timer.C:
	}
	return nil
}

// handle answers or dispatches one request message.
func (l *serverLoop) handle(msg [][]byte) {
	ctr := &l.s.ctr
	ctr.requests.Add(1)
	var in wire.Request
	if l.s.rep {
		// REP strips the envelope and discards malformed requests itself.
		in = wire.Request{Body: msg}
		l.repBusy = true
	} else {
		var ok bool
		if in, ok = wire.ParseRouterMessage(msg); !ok {
			ctr.malformedDropped.Add(1)
			l.emit(ServerEvent{Kind: ServerEventMalformed, Message: in.Malformed})
			return
		}
	}
	if in.Malformed != "" {
		ctr.malformed.Add(1)
		l.emit(ServerEvent{Kind: ServerEventMalformed, ID: in.ID, Code: wire.CodeMalformed, Message: in.Malformed})
		l.send(in.Envelope, in.IDForm, wire.KindError, wire.EncodeErrorBody(wire.CodeMalformed, in.Malformed))
		return
	}
	if in.Correlated {
		key := in.ID.Key()
		if c := l.inflight[key]; c != nil {
			// Answer the newest attempt when the request finishes: the
			// client waits for that one (and may have reconnected).
			c.in.Envelope, c.in.ID = in.Envelope, in.ID
			ctr.dupInFlight.Add(1)
			ctr.superseded.Add(1)
			l.emit(ServerEvent{Kind: ServerEventDuplicate, ID: in.ID, Message: "joined to the running request"})
			return
		}
		if e, ok := l.cache.get(key, time.Now()); ok {
			ctr.dupCached.Add(1)
			l.cacheGauges()
			l.emit(ServerEvent{Kind: ServerEventDuplicate, ID: in.ID, Message: "answered from the reply cache"})
			l.send(in.Envelope, true, e.kind, e.body)
			return
		}
		if l.fromStore(in) {
			return
		}
	}
	if l.shutdown {
		ctr.refused.Add(1)
		l.emit(ServerEvent{Kind: ServerEventRefused, ID: in.ID, Code: wire.CodeShutdown})
		l.send(in.Envelope, in.IDForm, wire.KindError, wire.EncodeErrorBody(wire.CodeShutdown, "server is shutting down"))
		return
	}
	l.start(in)
}

// start runs the handler for in in a new goroutine.
func (l *serverLoop) start(in wire.Request) {
	now := time.Now()
	c := &serverCall{in: in, key: in.ID.Key(), start: now, boot: l.boot}
	info := RequestInfo{ID: in.ID, Plain: !in.Correlated}
	if len(in.Envelope) > 0 {
		info.RoutingID = in.Envelope[0]
	}
	base := context.WithValue(l.ctx, requestInfoKey{}, info)
	base = l.extractTrace(base, in.Envelope)
	if t := l.s.cfg.handlerTimeout; t > 0 {
		c.deadline = now.Add(t)
		c.ctx, c.cancel = context.WithDeadline(base, c.deadline)
		// Every call gets the same timeout, so appending keeps the list
		// in deadline order.
		l.deadlines.PushBack(c)
	} else {
		c.ctx, c.cancel = context.WithCancel(base)
	}
	if in.Correlated {
		l.inflight[in.ID.Key()] = c
	}
	l.running++
	l.s.ctr.executed.Add(1)
	l.s.ctr.inFlight.Store(int64(l.running))
	go l.s.runHandler(c)
}

// runHandler calls the handler and hands the outcome to the loop, whether
// the handler returns, panics or exits its goroutine (handler.Run stores
// the outcome before a Goexit goes on, and this deferred call runs next).
func (s *Server) runHandler(c *serverCall) {
	defer s.finished(c)
	if s.storing() && c.in.Correlated {
		defer s.storeOutcome(c) // before the loop sends the reply
		s.storeStarted(c)
	}
	handler.Run(c.ctx, s.handler, c.in.Body, &c.out)
}

// finish sends a returned call's reply, or caches a late one.
func (l *serverLoop) finish(c *serverCall) {
	ctr := &l.s.ctr
	l.running--
	ctr.inFlight.Store(int64(l.running))
	c.cancel()
	l.deadlines.Remove(c)
	kind, body, ev := l.outcome(c)
	l.observeHandled(c, ev.Kind)
	kind, body = l.boundReply(c, kind, body)
	if c.timedOut {
		l.overrun--
		ctr.overrunning.Store(int64(l.overrun))
		ctr.late.Add(1)
		ev.Kind, ev.Code = ServerEventLateResult, ""
		l.emit(ev)
		// The client already has its timeout reply; a retry gets the
		// real result instead of the timeout, if the entry is still there.
		if c.in.Correlated && l.cache.contains(c.in.ID.Key()) {
			l.cachePut(c.in.ID.Key(), kind, body)
		}
		return
	}
	if ev.Kind != 0 {
		l.emit(ev)
	}
	if c.in.Correlated {
		delete(l.inflight, c.in.ID.Key())
		l.cachePut(c.in.ID.Key(), kind, body)
	}
	l.send(c.in.Envelope, c.in.IDForm, kind, body)
}

// outcome turns a returned call into a reply, counting panics and
// timeouts, and the event to report (Kind 0: none).
func (l *serverLoop) outcome(c *serverCall) (wire.Kind, [][]byte, ServerEvent) {
	o := &c.out
	ev := ServerEvent{ID: c.in.ID, Elapsed: time.Since(c.start), Code: o.Code, Err: o.Err}
	kind, body := l.s.replyOf(o)
	switch o.Ending {
	case handler.Replied:
		return kind, body, ev
	case handler.Panicked:
		l.s.ctr.panics.Add(1)
		ev.Kind, ev.Panic, ev.Stack, ev.Message = ServerEventPanic, o.Panic, o.Stack, fmt.Sprint(o.Panic)
	case handler.Exited:
		l.s.ctr.panics.Add(1)
		ev.Kind, ev.Message = ServerEventPanic, "handler exited its goroutine (runtime.Goexit)"
	case handler.TimedOut:
		// The handler gave up at its deadline (before the loop noticed
		// it, unless the call was already answered).
		if !c.timedOut {
			l.s.ctr.timeouts.Add(1)
		}
		ev.Kind, ev.Message = ServerEventTimeout, o.Err.Error()
	default: // handler.Failed
		ev.Kind, ev.Message = ServerEventHandlerError, o.Err.Error()
	}
	return kind, body, ev
}

func (l *serverLoop) timeoutBody() [][]byte { return l.s.timeoutBody() }

// expire answers the calls whose deadline has passed with CodeTimeout.
// Their handlers keep their slots until they return.
func (l *serverLoop) expire(now time.Time) bool {
	fired := false
	for c := l.deadlines.Front(); c != nil && !now.Before(c.deadline); c = l.deadlines.Front() {
		fired = true
		l.deadlines.Remove(c)
		c.timedOut = true
		l.overrun++
		l.s.ctr.overrunning.Store(int64(l.overrun))
		l.s.ctr.timeouts.Add(1)
		body := l.timeoutBody()
		l.emit(ServerEvent{Kind: ServerEventTimeout, ID: c.in.ID, Code: wire.CodeTimeout, Elapsed: now.Sub(c.start)})
		if c.in.Correlated {
			delete(l.inflight, c.in.ID.Key())
			l.cachePut(c.in.ID.Key(), wire.KindError, body)
		}
		l.send(c.in.Envelope, c.in.IDForm, wire.KindError, body)
	}
	return fired
}

// send sends a reply without blocking. libzmq refuses it only when the
// peer is gone or its queue is full (ROUTER_MANDATORY); that is counted,
// and the client's retry will be answered from the cache.
func (l *serverLoop) send(env [][]byte, idForm bool, kind wire.Kind, body [][]byte) {
	if l.s.rep {
		l.repBusy = false
	}
	frames := wire.Reply(env, idForm, kind, body)
	if frames == nil {
		// An error reply to a plain client that speaks only the zguide
		// protocol, which would take it for its answer: it gets none.
		l.s.ctr.withheld.Add(1)
		return
	}
	// Count first, so that a client holding its reply never sees Stats
	// lagging behind; a refused reply is taken back out.
	code := ""
	if kind == wire.KindError && len(body) > 0 {
		code = string(body[0])
	}
	if !l.replyFits(env, frames) {
		return
	}
	l.s.ctr.reply(code, 1)
	_, err := l.sock.SendMessageDontwait(frames)
	l.observeSent(frames, err)
	if err != nil {
		l.s.ctr.reply(code, -1)
		l.replyUnsent(env, frames)
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EHOSTUNREACH) {
			l.s.ctr.repliesDropped.Add(1)
			l.emit(ServerEvent{Kind: ServerEventReplyDropped, ID: idOf(env, idForm), Err: err})
			return
		}
		l.fatal = err
	}
}

// idOf returns the request id in an envelope, if it ends with one.
func idOf(env [][]byte, idForm bool) wire.RequestID {
	if !idForm || len(env) == 0 {
		return wire.RequestID{}
	}
	id, _, _ := wire.ParseIDFrame(env[len(env)-1])
	return id
}

func (l *serverLoop) cachePut(key wire.RequestKey, kind wire.Kind, body [][]byte) {
	if n := l.cache.put(key, kind, body, time.Now()); n > 0 {
		l.s.ctr.evictions.Add(uint64(n))
		l.emit(ServerEvent{Kind: ServerEventEviction, Count: n})
	}
	l.cacheGauges()
}

func (l *serverLoop) cacheGauges() {
	l.s.ctr.cacheEntries.Store(int64(l.cache.len()))
	l.s.ctr.cacheBytes.Store(l.cache.size())
}

// emit reports ev to the hook, if any. A panicking hook is ignored.
func (l *serverLoop) emit(ev ServerEvent) {
	if o := l.s.cfg.observer; o != nil {
		o.Observe(context.Background(), serverEvent(ev))
	}
	hook := l.s.cfg.hook
	if hook == nil {
		return
	}
	defer func() { _ = recover() }()
	hook(ev)
}
