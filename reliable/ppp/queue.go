package ppp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/lifecycle"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Queue is a Paranoid Pirate queue (ZeroMQ RFC 6, zguide chapter 4): a
// ROUTER frontend for clients and a ROUTER backend for workers. It hands
// each request to the least recently used ready worker, routes the reply
// back, heartbeats every worker it has sent nothing to for an interval, and
// forgets a worker that has been silent for liveness intervals.
//
// Workers get every request as [token, "", body...] (rfc 6): one opaque
// address frame, an ID frame naming the dispatch, in place of the
// client's envelope, which the queue keeps. So zguide's workers, which
// accept exactly [address, "", body], serve every client, and a late
// reply to an earlier dispatch is dropped instead of answering a request
// it does not belong to.
//
// Unlike zguide's queue, it remembers which request each worker holds:
// a heartbeat from a busy worker proves it alive but does not make it
// ready; only its reply (or READY) does. A request whose worker dies, or
// holds it past the request timeout (WithQueueRequestTimeout), is never
// lost silently: it is given to another worker (WithQueueRetries times)
// and then failed back with a wire.CodeWorkerLost or wire.CodeTimeout
// error reply; a worker that held a request too long is out of rotation
// until it replies or says READY. When the queue stops, requests it holds
// are failed back with wire.CodeShutdown. The behaviour is specified in
// docs/PPP.md.
//
// Clients may be REQ sockets (the zguide Lazy Pirate client), Plain or
// Correlated reliable.Clients: the queue routes on the envelope up to the
// first empty frame, and error replies follow docs/PROTOCOL.md (a plain
// client that does not identify as zmqguard gets none).
//
// A Queue is safe for concurrent use; Run is called once. It owns its
// sockets and closes them when Run returns or, if Run never ran, on
// Close.
type Queue struct {
	cfg      queueConfig
	frontend *zmq.Socket
	backend  *zmq.Socket
	feAddr   string
	beAddr   string
	tr       *heartbeat.Tracker
	ownTr    bool

	life *lifecycle.Once

	deadMu sync.Mutex
	dead   []string      // workers the tracker declared Dead
	deadCh chan struct{} // poked when dead grows

	ctr struct {
		requests, replies, retried, workerLost, overloaded, shutdown,
		expired, stale, malformed, unroutable, withheld, overdue, timedOut,
		merged, abandoned, disconnected, refused atomic.Uint64
		workers, idle, stuck atomic.Int64
	}
}

// NewQueue binds a queue's frontend (for clients) and backend (for
// workers) on zctx. Use tcp://host:* to pick free ports and read them back
// with Frontend and Backend. The queue does nothing until Run. Invalid
// options, and a nil one, make it return a *zmq.OptionError.
func NewQueue(zctx *zmq.Context, frontend, backend string, opts ...QueueOption) (*Queue, error) {
	if zctx == nil {
		return nil, errors.New("reliable: ppp.NewQueue: nil *zmq.Context")
	}
	cfg := defaultQueueConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, tr: cfg.tracker, life: lifecycle.New(), deadCh: make(chan struct{}, 1)}
	var err error
	if q.frontend, q.feAddr, err = q.bind(zctx, frontend, DefaultQueueShutdownLinger); err != nil {
		return nil, fmt.Errorf("reliable: ppp.NewQueue: frontend: %w", err)
	}
	if q.backend, q.beAddr, err = q.bind(zctx, backend, 0); err != nil {
		q.frontend.Close()
		return nil, fmt.Errorf("reliable: ppp.NewQueue: backend: %w", err)
	}
	if q.tr == nil {
		tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: cfg.interval, Liveness: cfg.liveness}))
		if err != nil {
			q.frontend.Close()
			q.backend.Close()
			return nil, fmt.Errorf("reliable: ppp.NewQueue: %w", err)
		}
		q.tr, q.ownTr = tr, true
	}
	return q, nil
}

func (q *Queue) bind(zctx *zmq.Context, endpoint string, linger time.Duration) (*zmq.Socket, string, error) {
	s, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		return nil, "", err
	}
	steps := []func() error{
		func() error { return s.SetLinger(linger) },
		func() error { return s.SetRouterMandatory(1) },
		func() error { return s.SetMaxmsgsize(q.cfg.maxMsg) },
	}
	if q.cfg.setup != nil {
		steps = append(steps, func() error { return q.cfg.setup(s) })
	}
	steps = append(steps, func() error { return s.Bind(endpoint) })
	for _, f := range steps {
		if err := f(); err != nil {
			s.Close()
			return nil, "", err
		}
	}
	addr, err := s.GetLastEndpoint()
	if err != nil {
		s.Close()
		return nil, "", err
	}
	return s, addr, nil
}

// Frontend returns the endpoint clients connect to.
func (q *Queue) Frontend() string { return q.feAddr }

// Backend returns the endpoint workers connect to.
func (q *Queue) Backend() string { return q.beAddr }

// Tracker returns the tracker of the queue's workers.
func (q *Queue) Tracker() *heartbeat.Tracker { return q.tr }

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	c := &q.ctr
	return QueueStats{
		Requests: c.requests.Load(), Replies: c.replies.Load(), Retried: c.retried.Load(),
		WorkerLost: c.workerLost.Load(), TimedOut: c.timedOut.Load(), Overloaded: c.overloaded.Load(), Refused: c.refused.Load(), Shutdown: c.shutdown.Load(),
		Expired: c.expired.Load(), Stale: c.stale.Load(), Malformed: c.malformed.Load(),
		Unroutable: c.unroutable.Load(), Withheld: c.withheld.Load(), Overdue: c.overdue.Load(),
		Merged: c.merged.Load(), Abandoned: c.abandoned.Load(), Disconnected: c.disconnected.Load(),
		Workers: int(c.workers.Load()), Idle: int(c.idle.Load()), Stuck: int(c.stuck.Load()),
	}
}

// Run routes requests until ctx is done, Close is called or, with
// WithQueueBinaryStar, the pair stops with a fatal error; then it fails
// back the requests it holds with wire.CodeShutdown, closes its sockets
// and returns ctx's error, ErrQueueClosed after Close, or the pair's
// fatal error.
func (q *Queue) Run(runCtx context.Context) error {
	ctx, err := q.life.Start(runCtx, ErrQueueClosed, ErrQueueRunning)
	if err != nil {
		return err
	}
	defer q.life.Stopped()
	ctx, detach := bstar.Attach(ctx, q.cfg.pair)

	remove := q.tr.OnChange(func(ev heartbeat.Event) {
		if ev.To != heartbeat.Dead {
			return
		}
		q.deadMu.Lock()
		q.dead = append(q.dead, ev.Peer)
		q.deadMu.Unlock()
		select {
		case q.deadCh <- struct{}{}:
		default:
		}
	})
	defer remove()

	feIn, beIn := make(chan [][]byte), make(chan [][]byte)
	var readers sync.WaitGroup
	readers.Add(2)
	go q.read(ctx, &readers, q.frontend, feIn)
	go q.read(ctx, &readers, q.backend, beIn)

	// Disconnects on the backend make the loop probe its busy workers
	// (queueLoop.probe). Without a monitor (the socket setup started one
	// of its own), a dead worker's request is rescued when a heartbeat to
	// it is refused, or when its heartbeats are missed.
	var disconnects <-chan zmq.MonitorEvent
	if mon, err := q.backend.StartMonitor(zmq.EVENT_DISCONNECTED); err == nil {
		defer mon.Close()
		disconnects = mon.Events()
	}

	l := &queueLoop{q: q, self: rand.Uint64(), workers: make(map[string]*qWorker), held: make(map[string]*qJob)}
	timer := time.NewTimer(q.cfg.interval)
	defer timer.Stop()
	var due []string
loop:
	for {
		select {
		case msg := <-beIn:
			l.fromWorker(msg)
		case msg := <-feIn:
			l.fromClient(msg)
		case <-q.deadCh:
			l.reap()
		case _, ok := <-disconnects:
			if !ok {
				disconnects = nil
				break
			}
			l.probeSoon(time.Now())
		case <-timer.C:
		case <-ctx.Done():
			break loop
		}
		now := time.Now()
		l.expire(now)
		l.probe(now)
		due = q.tr.PingsDue(due[:0])
		for _, id := range due {
			if w := l.workers[id]; w != nil { // not one of ours: a shared tracker
				l.heartbeat(w)
			}
		}
		l.dispatch()
		next := q.cfg.interval
		for _, f := range []func() (time.Time, bool){q.tr.NextPing, l.nextDeadline, l.nextProbe} {
			if at, ok := f(); ok {
				next = min(next, max(time.Until(at), 0))
			}
		}
		timer.Reset(next)
	}
	l.shutdown()
	readers.Wait()
	pairErr := detach()
	for id := range l.workers {
		q.tr.Forget(id)
	}
	q.frontend.Close()
	q.backend.Close()
	if pairErr != nil {
		return pairErr
	}
	return q.life.Err(runCtx, ErrQueueClosed)
}

// Close stops Run and waits for it, or closes the sockets if Run never
// ran. It closes the queue's own tracker. Close is idempotent and returns
// nil.
func (q *Queue) Close() error {
	first, ran := q.life.Close()
	if !first {
		return nil
	}
	if !ran {
		q.frontend.Close()
		q.backend.Close()
	}
	if q.ownTr {
		q.tr.Close()
	}
	return nil
}

// read receives messages from s for the loop until ctx is done.
func (q *Queue) read(ctx context.Context, wg *sync.WaitGroup, s *zmq.Socket, out chan<- [][]byte) {
	defer wg.Done()
	for {
		msg, err := timeout.RecvMessageBytes(ctx, s)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, zmq.ErrorSocketClosed) {
				return
			}
			continue // e.g. a message over ZMQ_MAXMSGSIZE dropped the peer
		}
		select {
		case out <- msg:
		case <-ctx.Done():
			return
		}
	}
}

func (q *Queue) emit(kind QueueEventKind, worker string) {
	if q.cfg.observer != nil {
		q.observe(kind, worker)
	}
	if q.cfg.hook != nil {
		q.cfg.hook(QueueEvent{Kind: kind, Worker: worker, At: time.Now()})
	}
}
