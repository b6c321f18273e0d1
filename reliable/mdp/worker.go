package mdp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/handler"
	"github.com/zmqguard/zmqguard/internal/lifecycle"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Worker is a Majordomo worker (ZeroMQ RFC 7, MDP/0.1) for one service:
// for each broker it is given, a DEALER that registers with READY, serves
// each request with a reliable.Handler and sends the handler's reply back
// with the client address it came with.
//
// With several brokers (the two servers of a Binary Star pair) the worker
// registers with every one of them at once: only the active server gives
// it work, and the passive one has it ready the moment it takes over
// (docs/BINARY-STAR.md).
//
// Each connection heartbeats its broker every interval, while idle and
// while the handler runs: the handler runs on a goroutine of its own, so
// a slow handler never looks like a dead worker. When a broker has been
// silent for liveness intervals the worker closes that socket (LINGER 0),
// pauses by its backoff policy and registers again on a new one; when a
// broker sends DISCONNECT (it restarted, or forgot the worker) the worker
// registers again at once. A reply finished after its connection was
// replaced is dropped: that broker has already given the request up.
//
// Requests are served one at a time, in arrival order, with the rules of
// reliable.Handler (except that a handler failing once Run is stopping is
// not answered: the broker gives its request to another worker): a handler's error, a deadline it gave up at, a panic
// or a runtime.Goexit is sent as an error reply, an MDP reply whose body
// is [wire.PlainErrorMarker, code, message], which the Client returns as
// a *reliable.RemoteError.
//
// A Worker is safe for concurrent use; Run is called once.
type Worker struct {
	zctx    *zmq.Context
	brokers []string
	service string
	handler reliable.Handler
	cfg     workerConfig
	tr      *heartbeat.Tracker
	ownTr   bool
	life    *lifecycle.Once

	mu    sync.Mutex // guards conns and sends on their sockets
	conns []wconn    // by broker index

	served, dropped, overloaded, malformed, reconnects, disconnects atomic.Uint64
}

// wconn is a worker's current connection to one broker.
type wconn struct {
	sock *zmq.Socket // nil between connections
	gen  uint64      // connection number; replies carry the one they came on
}

// wjob is a request for the handler, with the connection it came on.
type wjob struct {
	broker int
	gen    uint64
	client []byte
	body   [][]byte
}

// NewWorker returns a worker for service that will register with each of
// brokers and serve requests with h. It does nothing until Run. A service
// name must be 1 to MaxServiceName bytes and must not start with
// MMIPrefix (ErrServiceName). Invalid options, and a nil one, make it
// return a *zmq.OptionError.
func NewWorker(zctx *zmq.Context, brokers []string, service string, h reliable.Handler, opts ...WorkerOption) (*Worker, error) {
	if zctx == nil || h == nil || len(brokers) == 0 || slicesContainEmpty(brokers) {
		return nil, errors.New("mdp: NewWorker: nil context, nil handler or no broker endpoint")
	}
	if len(service) == 0 || len(service) > MaxServiceName || strings.HasPrefix(service, MMIPrefix) {
		return nil, fmt.Errorf("mdp: NewWorker: %q: %w", service, ErrServiceName)
	}
	cfg := defaultWorkerConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	w := &Worker{zctx: zctx, brokers: append([]string(nil), brokers...), service: service, handler: h,
		cfg: cfg, tr: cfg.Tracker, life: lifecycle.New(), conns: make([]wconn, len(brokers))}
	if w.tr == nil {
		tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: cfg.Interval, Liveness: cfg.Liveness}))
		if err != nil {
			return nil, fmt.Errorf("mdp: NewWorker: %w", err)
		}
		w.tr, w.ownTr = tr, true
	}
	return w, nil
}

func slicesContainEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

// Service returns the service the worker serves.
func (w *Worker) Service() string { return w.service }

// Tracker returns the tracker in which the worker tracks its brokers,
// under their endpoints.
func (w *Worker) Tracker() *heartbeat.Tracker { return w.tr }

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Served: w.served.Load(), Dropped: w.dropped.Load(), Overloaded: w.overloaded.Load(),
		Malformed: w.malformed.Load(), Reconnects: w.reconnects.Load(), Disconnects: w.disconnects.Load()}
}

// Run registers with the brokers and serves requests until ctx is done or
// Close is called, registering again with each broker that goes silent or
// sends DISCONNECT. Before it returns it sends each broker DISCONNECT (so
// that a request it holds goes to another worker at once), closes its
// sockets (lingering up to DefaultWorkerDisconnectLinger), cancels the
// handler's context and waits for the running handler, at most the
// shutdown grace (WithWorkerShutdownGrace). It returns ctx's error, or
// ErrWorkerClosed after Close, or the error that prevented a connection,
// in each case wrapped with ErrHandlerStuck if the handler outlived the
// grace.
func (w *Worker) Run(ctx context.Context) error {
	runCtx, err := w.life.Start(ctx, ErrWorkerClosed, ErrRunning)
	if err != nil {
		return err
	}
	defer w.life.Stopped()
	runCtx, cancel := context.WithCancel(runCtx)
	defer cancel()

	jobs := make(chan wjob, w.cfg.Backlog)
	handlerDone := make(chan struct{})
	go func() {
		defer close(handlerDone)
		for j := range jobs {
			w.serve(runCtx, j)
		}
	}()
	errs := make([]error, len(w.brokers))
	var links sync.WaitGroup
	for i := range w.brokers {
		links.Go(func() {
			if errs[i] = w.follow(runCtx, i, jobs); errs[i] != nil {
				cancel() // a socket that cannot be set up: stop all
			}
		})
	}
	links.Wait()
	cancel()
	close(jobs)
	err = errors.Join(errs...)
	if err == nil {
		err = w.life.Err(ctx, ErrWorkerClosed)
	}
	grace := time.NewTimer(w.cfg.Grace)
	defer grace.Stop()
	select {
	case <-handlerDone:
	case <-grace.C:
		err = fmt.Errorf("%w (%w)", err, ErrHandlerStuck)
	}
	return err
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
		ev.At = time.Now()
		w.cfg.hook(ev)
	}
}

// follow keeps the worker registered with broker i until ctx ends (nil)
// or a socket cannot be set up (that error).
func (w *Worker) follow(ctx context.Context, i int, jobs chan<- wjob) error {
	endpoint := w.brokers[i]
	attempt := 0
	for {
		heard, disconnected, err := w.session(ctx, i, jobs)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mdp: worker: broker %s: %w", endpoint, err)
		}
		if heard {
			attempt = 0
		}
		if disconnected {
			w.disconnects.Add(1)
			w.emit(WorkerEvent{Kind: WorkerDisconnected, Broker: endpoint})
			if heard {
				continue // RFC 7: reconnect at once
			}
		} else {
			w.reconnects.Add(1)
			w.emit(WorkerEvent{Kind: WorkerBrokerLost, Broker: endpoint})
		}
		delay := w.cfg.Backoff.Delay(attempt, w.cfg.Rand())
		w.emit(WorkerEvent{Kind: WorkerReconnectWait, Broker: endpoint, Attempt: attempt, Delay: delay})
		attempt++
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// session runs one connection to broker i: it returns when the broker is
// dead or sends DISCONNECT (disconnected), when ctx ends, or with the
// error that prevented the socket's set-up. heard says whether the broker
// said anything but DISCONNECT.
func (w *Worker) session(ctx context.Context, i int, jobs chan<- wjob) (heard, disconnected bool, err error) {
	peer := w.brokers[i]
	sock, err := w.zctx.NewSocket(zmq.DEALER)
	if err != nil {
		return false, false, err
	}
	if err := w.connect(sock, peer); err != nil {
		sock.Close()
		return false, false, err
	}
	w.tr.Forget(peer) // a fresh clock: Dead from the last session is over
	w.tr.Track(peer)
	linkCtx, lost := context.WithCancel(ctx)
	defer lost()
	remove := w.tr.OnChange(func(ev heartbeat.Event) {
		if ev.Peer == peer && ev.To == heartbeat.Dead {
			lost()
		}
	})
	defer remove()

	w.mu.Lock()
	w.conns[i].sock = sock
	w.conns[i].gen++
	gen := w.conns[i].gen
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.conns[i].sock = nil
		w.mu.Unlock()
		if ctx.Err() != nil {
			// Run is stopping: tell the broker, so that it gives a request
			// this worker holds to another worker now, instead of after
			// the worker's expiry.
			_, _ = sock.SendMessageDontwait(WorkerMessage{Command: CommandDisconnect}.Frames())
			_ = sock.SetLinger(DefaultWorkerDisconnectLinger)
		}
		sock.Close()
	}()
	// A READY that cannot be queued is not fatal: the broker will not
	// know the worker, answer its first HEARTBEAT with DISCONNECT, and the
	// worker registers again.
	if w.sendOn(i, gen, WorkerMessage{Command: CommandReady, Service: w.service}.Frames()) == nil {
		w.tr.Sent(peer)
	}
	w.emit(WorkerEvent{Kind: WorkerConnected, Broker: peer})

	// The heartbeat: the link is looked at every quarter interval, and a
	// HEARTBEAT goes out once nothing was sent for an interval (replies
	// count). The tracker is shared by the worker's links, so its
	// NextPing may be another link's.
	tick := w.cfg.Interval / 4
	hb := WorkerMessage{Command: CommandHeartbeat}.Frames()
	for {
		_, err := timeout.WaitUntil(linkCtx, sock, time.Now().Add(tick), zmq.POLLIN)
		if linkCtx.Err() != nil || w.tr.State(peer) == heartbeat.Dead {
			return heard, false, nil
		}
		var te *zmq.TimeoutError
		if err != nil && !errors.As(err, &te) {
			return heard, false, err
		}
		for {
			msg, err := sock.RecvMessageBytes(zmq.DONTWAIT)
			if errors.Is(err, syscall.EAGAIN) {
				break
			}
			if err != nil {
				return heard, false, err
			}
			m, err := ParseWorkerMessage(msg)
			if err != nil {
				w.malformed.Add(1)
				continue
			}
			if m.Command == CommandDisconnect {
				return heard, true, nil
			}
			w.tr.Observe(peer)
			heard = true
			if m.Command == CommandRequest {
				w.take(wjob{broker: i, gen: gen, client: m.Client, body: m.Body}, jobs)
			}
		}
		if w.tr.OutboundIdle(peer) && w.sendOn(i, gen, hb) == nil {
			w.tr.Sent(peer)
		}
	}
}

func (w *Worker) connect(s *zmq.Socket, endpoint string) error {
	if err := s.SetLinger(0); err != nil {
		return err
	}
	if w.cfg.Setup != nil {
		if err := w.cfg.Setup(s); err != nil {
			return err
		}
	}
	return s.Connect(endpoint)
}

// take queues a request for the handler, or refuses it when the backlog
// is full.
func (w *Worker) take(j wjob, jobs chan<- wjob) {
	select {
	case jobs <- j:
	default:
		w.overloaded.Add(1)
		w.reply(j, wire.Reply(nil, false, wire.KindError, wire.EncodeErrorBody(wire.CodeOverloaded, "worker backlog full")))
	}
}

// serve runs the handler for j and sends its reply. The handler runs on a
// goroutine of its own, so that one that calls runtime.Goexit ends only
// that goroutine: it is answered like a panic, and the next request is
// served.
func (w *Worker) serve(ctx context.Context, j wjob) {
	if ctx.Err() != nil {
		return // shutting down: the broker fails the request back
	}
	var out handler.Outcome
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done) // runs after handler.Run stored the outcome, even on Goexit
		handler.Run(ctx, w.handler, j.body, &out)
	}()
	<-done
	if o := w.cfg.Observer; o != nil {
		handler.Report(ctx, o, observe.Worker, w.brokers[j.broker], &out, time.Since(start))
	}
	if out.Ending != handler.Replied && ctx.Err() != nil {
		// Run is stopping, and the handler gave up with its context: no
		// answer. The DISCONNECT each connection sends as it closes makes
		// the broker give the request to another worker.
		w.dropped.Add(1)
		return
	}
	body := wire.Reply(nil, false, wire.KindReply, out.Reply)
	if out.Ending != handler.Replied {
		body = wire.Reply(nil, false, wire.KindError, wire.EncodeErrorBody(out.Code, out.Message))
	}
	if w.reply(j, body) {
		w.served.Add(1)
	}
}

// reply sends a REPLY for j on the connection j came on; it reports false
// when that connection is gone or the send failed.
func (w *Worker) reply(j wjob, body [][]byte) bool {
	if w.sendOn(j.broker, j.gen, WorkerMessage{Command: CommandReply, Client: j.client, Body: body}.Frames()) != nil {
		w.dropped.Add(1)
		return false
	}
	w.tr.Sent(w.brokers[j.broker])
	return true
}

// errConnectionGone: the connection a reply belongs to was replaced.
var errConnectionGone = errors.New("mdp: connection replaced")

// sendOn sends msg on connection gen to broker i.
func (w *Worker) sendOn(i int, gen uint64, msg [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.conns[i]
	if c.sock == nil || c.gen != gen {
		return errConnectionGone
	}
	_, err := c.sock.SendMessageDontwait(msg)
	return err
}
