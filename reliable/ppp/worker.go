package ppp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/handler"
	"github.com/zmqguard/zmqguard/internal/lifecycle"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Worker is a Paranoid Pirate worker (ZeroMQ RFC 6, zguide chapter 4): a
// DEALER connected to a queue's backend that announces itself with READY,
// serves each request with a reliable.Handler and sends the handler's
// reply with the request's envelope, unchanged (rfc 6).
//
// It heartbeats the queue every interval while it is idle and while its
// handler runs: the handler runs on a goroutine of its own, so the socket
// loop stays responsive and a slow handler never looks like a dead worker.
// The queue's liveness is tracked by a heartbeat.Tracker; when the queue
// has been silent for liveness intervals the worker closes its socket
// (LINGER 0), pauses by its backoff policy (1s doubling to 32s by default,
// restarting whenever the queue was heard from) and connects a new
// socket, which sends READY again. A reply finished after its connection
// was replaced is dropped, because the queue has already given that
// request up (see docs/PPP.md).
//
// Requests are served one at a time, in arrival order, each on a goroutine
// of its own, with the rules of reliable.Handler: a handler's error, a
// deadline it gave up at, a panic or a runtime.Goexit is sent back as an
// error reply (docs/PROTOCOL.md), which a protocol-aware client gets as a
// *reliable.RemoteError and a plain client that identifies as zmqguard as
// [wire.PlainErrorMarker, code, message]; any other plain client gets none
// (WorkerStats.Withheld; docs/PROTOCOL.md section 6).
//
// A Worker is safe for concurrent use; Run is called once.
type Worker struct {
	zctx     *zmq.Context
	endpoint string
	handler  reliable.Handler
	cfg      workerConfig
	tr       *heartbeat.Tracker
	ownTr    bool

	life *lifecycle.Once

	mu   sync.Mutex // guards the fields below and sends on sock
	sock *zmq.Socket
	gen  uint64 // connection number; replies carry the one they came on

	served, dropped, overloaded, malformed, reconnects, withheld atomic.Uint64
}

// WorkerStats counts what a Worker did. Read it with Worker.Stats.
type WorkerStats struct {
	Served     uint64 // requests handled and answered
	Dropped    uint64 // replies dropped because their connection was replaced
	Overloaded uint64 // requests refused because the backlog was full
	Malformed  uint64 // messages from the queue that were not PPP
	Reconnects uint64 // connections replaced after the queue went silent
	Withheld   uint64 // error replies not sent: a plain client that does not take them (wire.TakesPlainErrors)
}

// NewWorker returns a worker that will connect to the queue backend at
// endpoint and serve requests with h. It does nothing until Run. Invalid
// options, and a nil one, make it return a *zmq.OptionError.
func NewWorker(zctx *zmq.Context, endpoint string, h reliable.Handler, opts ...WorkerOption) (*Worker, error) {
	if zctx == nil || h == nil || endpoint == "" {
		return nil, errors.New("reliable: ppp.NewWorker: nil context, nil handler or empty endpoint")
	}
	cfg := defaultWorkerConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	w := &Worker{zctx: zctx, endpoint: endpoint, handler: h, cfg: cfg, tr: cfg.Tracker, life: lifecycle.New()}
	if w.tr == nil {
		tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: cfg.Interval, Liveness: cfg.Liveness}))
		if err != nil {
			return nil, fmt.Errorf("reliable: ppp.NewWorker: %w", err)
		}
		w.tr, w.ownTr = tr, true
	}
	return w, nil
}

// Tracker returns the tracker in which the worker tracks the queue, under
// the queue's endpoint.
func (w *Worker) Tracker() *heartbeat.Tracker { return w.tr }

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Served: w.served.Load(), Dropped: w.dropped.Load(), Overloaded: w.overloaded.Load(),
		Malformed: w.malformed.Load(), Reconnects: w.reconnects.Load(), Withheld: w.withheld.Load()}
}

// Run connects to the queue and serves requests until ctx is done or
// Close is called, reconnecting whenever the queue goes silent. Before it
// returns it closes its socket, cancels the handler's context and waits
// for the running handler, at most the shutdown grace
// (WithWorkerShutdownGrace). It returns ctx's error, or ErrWorkerClosed
// after Close, or the error that prevented a connection, in each case
// wrapped with ErrHandlerStuck if the handler outlived the grace.
func (w *Worker) Run(ctx context.Context) error {
	ctx, err := w.life.Start(ctx, ErrWorkerClosed, ErrWorkerRunning)
	if err != nil {
		return err
	}
	defer w.life.Stopped()
	// Cancelled when the loop ends, before the handler is awaited.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan job, w.cfg.Backlog)
	handlerDone := make(chan struct{})
	go func() {
		defer close(handlerDone)
		for j := range jobs {
			w.serve(ctx, j)
		}
	}()
	err = w.loop(ctx, jobs)
	cancel()
	close(jobs)
	grace := time.NewTimer(w.cfg.Grace)
	defer grace.Stop()
	select {
	case <-handlerDone:
	case <-grace.C:
		err = fmt.Errorf("%w (%w)", err, ErrHandlerStuck)
	}
	return err
}

// loop connects, serves and reconnects until ctx is done; it returns the
// error Run returns.
func (w *Worker) loop(ctx context.Context, jobs chan<- job) error {
	attempt := 0
	for {
		heard, err := w.session(ctx, jobs)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		w.reconnects.Add(1)
		w.emit(WorkerEvent{Kind: WorkerQueueLost})
		if heard {
			attempt = 0
		}
		delay := w.cfg.Backoff.Delay(attempt, w.cfg.Rand())
		w.emit(WorkerEvent{Kind: WorkerReconnectWait, Attempt: attempt, Delay: delay})
		attempt++
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	return w.life.Err(ctx, ErrWorkerClosed)
}

// Close stops Run and waits for it to return, which is bounded by the
// shutdown grace (see Run). It closes the worker's own tracker. Close is
// idempotent and returns nil.
func (w *Worker) Close() error {
	if first, _ := w.life.Close(); !first {
		return nil
	}
	if w.ownTr {
		w.tr.Close()
	}
	return nil
}

func (w *Worker) emit(ev WorkerEvent) {
	if w.cfg.Observer != nil {
		w.observe(ev)
	}
	if w.cfg.hook != nil {
		ev.Endpoint, ev.At = w.endpoint, time.Now()
		w.cfg.hook(ev)
	}
}

// job is a request for the handler, with the connection it came on.
type job struct {
	gen      uint64
	envelope [][]byte // the frames before the delimiter
	body     [][]byte
	trace    []byte // what a client's trace frame carries, if the queue passed one on
}

// session runs one connection: it returns when the queue is dead (nil
// error), ctx is done, or the socket cannot be set up. heard says whether
// the queue said anything.
func (w *Worker) session(ctx context.Context, jobs chan<- job) (heard bool, err error) {
	sock, err := w.zctx.NewSocket(zmq.DEALER)
	if err != nil {
		return false, err
	}
	if err := w.setupSocket(sock); err != nil {
		sock.Close()
		return false, err
	}
	peer := w.endpoint
	w.tr.Forget(peer) // a fresh clock: Dead from the last session is over
	w.tr.Track(peer)
	connCtx, lost := context.WithCancel(ctx)
	defer lost()
	remove := w.tr.OnChange(func(ev heartbeat.Event) {
		if ev.Peer == peer && ev.To == heartbeat.Dead {
			lost()
		}
	})
	defer remove()

	w.mu.Lock()
	w.sock = sock
	w.gen++
	gen := w.gen
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.sock = nil
		w.mu.Unlock()
		sock.Close()
	}()
	if err := w.sendControl(sock, ReadyByte); err != nil {
		return false, err
	}
	w.emit(WorkerEvent{Kind: WorkerConnected})

	var due []string
	for {
		deadline, ok := w.tr.NextPing()
		if !ok {
			deadline = time.Now().Add(w.cfg.Interval)
		}
		_, err := timeout.WaitUntil(connCtx, sock, deadline, zmq.POLLIN)
		if connCtx.Err() != nil || w.tr.State(peer) == heartbeat.Dead {
			return heard, nil
		}
		if err != nil && !isTimeout(err) {
			return heard, err
		}
		for {
			msg, err := sock.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				if !errors.Is(err, syscall.EAGAIN) {
					return heard, err
				}
				break
			}
			w.tr.Observe(peer)
			heard = true
			w.handle(sock, gen, msg, jobs)
		}
		for _, p := range w.tr.PingsDue(due[:0]) {
			if p == peer && w.sendControl(sock, HeartbeatByte) == nil {
				w.tr.Sent(peer)
			}
		}
	}
}

func isTimeout(err error) bool {
	var te *zmq.TimeoutError
	return errors.As(err, &te)
}

func (w *Worker) setupSocket(s *zmq.Socket) error {
	if err := s.SetLinger(0); err != nil {
		return err
	}
	if w.cfg.Setup != nil {
		if err := w.cfg.Setup(s); err != nil {
			return err
		}
	}
	return s.Connect(w.endpoint)
}

// handle dispatches one message from the queue.
func (w *Worker) handle(sock *zmq.Socket, gen uint64, msg [][]byte, jobs chan<- job) {
	cmd, err := Parse(msg)
	if err != nil {
		w.malformed.Add(1)
		return
	}
	if cmd != CommandRequest {
		return // a heartbeat (or a stray READY): proof of life, already noted
	}
	env, body, ok := wire.SplitEnvelope(msg)
	if !ok {
		w.malformed.Add(1)
		return
	}
	trace, env := wire.CutTrace(env) // a client's trace, passed on by the queue
	select {
	case jobs <- job{gen: gen, envelope: env, body: body, trace: trace}:
	default:
		w.overloaded.Add(1)
		w.send(gen, errorReply(env, wire.CodeOverloaded, "worker backlog full"))
	}
}

// errorReply frames an error reply to a request with envelope env
// (docs/PROTOCOL.md): in ID form when the client sent an ID frame, else in
// the plain form, or nil for a plain client that does not take error
// replies (send counts it as withheld).
func errorReply(env [][]byte, code, message string) [][]byte {
	return wire.Reply(env, wire.EndsWithIDFrame(env), wire.KindError, wire.EncodeErrorBody(code, message))
}

// serve runs the handler for j and sends its reply. The handler runs on a
// goroutine of its own, so that one that calls runtime.Goexit ends only
// that goroutine: it is answered like a panic, and the next request is
// served.
func (w *Worker) serve(ctx context.Context, j job) {
	if ctx.Err() != nil {
		return // shutting down: the queue fails the request over
	}
	var out handler.Outcome
	start := time.Now()
	ctx = w.extractTrace(ctx, j.trace)
	done := make(chan struct{})
	go func() {
		defer close(done) // runs after handler.Run stored the outcome, even on Goexit
		handler.Run(ctx, w.handler, j.body, &out)
	}()
	<-done
	w.observeHandled(ctx, &out, start)
	var reply [][]byte
	if out.Ending == handler.Replied {
		// The envelope goes back as it came (rfc 6): a protocol-aware
		// client's ID frame is echoed with its kind unchanged.
		reply = wire.Reply(j.envelope, false, wire.KindReply, out.Reply)
	} else {
		reply = errorReply(j.envelope, out.Code, out.Message)
	}
	if w.send(j.gen, reply) {
		w.served.Add(1)
	}
}

// send sends a reply on connection gen; it reports false when that
// connection is gone or the send failed. A nil msg is an error reply
// withheld from a plain client (wire.Reply): counted, not sent.
func (w *Worker) send(gen uint64, msg [][]byte) bool {
	if msg == nil {
		w.withheld.Add(1)
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sock == nil || w.gen != gen {
		w.dropped.Add(1)
		return false
	}
	if _, err := w.sock.SendMessageDontwait(msg); err != nil {
		w.dropped.Add(1)
		return false
	}
	w.tr.Sent(w.endpoint)
	return true
}

// sendControl sends READY or HEARTBEAT on sock.
func (w *Worker) sendControl(sock *zmq.Socket, b byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := sock.SendMessageDontwait([]byte{b})
	return err
}
