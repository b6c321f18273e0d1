package mdp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/heartbeat"
	"github.com/zmqguard/zmqguard/internal/lifecycle"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/reliable/bstar"
	"github.com/zmqguard/zmqguard/zmq"
)

// Broker is a Majordomo broker (ZeroMQ RFC 7, MDP/0.1, with RFC 8's
// management interface): one ROUTER socket that clients send requests for
// a service to and workers of each service register with. It gives each
// request to the least recently used ready worker of its service, routes
// the reply back, heartbeats its workers and forgets those silent for
// liveness intervals.
//
// Beyond the zguide's broker (docs/MAJORDOMO.md):
//
//   - A request whose worker dies is not lost silently: it is given to
//     another worker of the service (WithBrokerRetries times) and then
//     answered with a wire.CodeWorkerLost error reply. A late reply from
//     the dead worker is dropped, never forwarded.
//   - A request for a service that has no worker gets an answer: after
//     the service wait (WithServiceWait) it is answered with
//     wire.CodeNoService, instead of waiting forever. mmi.service answers
//     200 or 404, and other mmi.* services 501.
//   - Everything it holds is bounded (WithBrokerLimits); beyond a bound a
//     request is answered with wire.CodeOverloaded.
//   - With WithBinaryStar it is one server of a Binary Star pair.
//
// Error replies are MDP replies whose body is [wire.PlainErrorMarker,
// code, message] (docs/PROTOCOL.md section 6); the Client returns them as
// a *reliable.RemoteError.
//
// A Broker is safe for concurrent use; Run is called once. It owns its
// socket and closes it when Run returns or, if Run never ran, on Close.
type Broker struct {
	cfg   brokerConfig
	sock  *zmq.Socket
	addr  string
	tr    *heartbeat.Tracker
	ownTr bool
	life  *lifecycle.Once

	deadMu  sync.Mutex
	dead    []string // workers the tracker declared Dead
	hasDead atomic.Bool

	ctr struct {
		requests, replies, mmi, retried, workerLost, noService, overloaded, refused,
		shutdown, expired, disconnected, stale, malformed, unroutable atomic.Uint64
		workers, services, waiting, held atomic.Int64
	}
}

// NewBroker binds a broker's ROUTER socket on endpoint, on zctx. Use
// tcp://host:* to pick a free port and read it back with Endpoint. The
// broker does nothing until Run. Invalid options, and a nil one, make it
// return a *zmq.OptionError.
func NewBroker(zctx *zmq.Context, endpoint string, opts ...BrokerOption) (*Broker, error) {
	if zctx == nil {
		return nil, errors.New("mdp: NewBroker: nil *zmq.Context")
	}
	cfg := defaultBrokerConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, tr: cfg.tracker, life: lifecycle.New()}
	s, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return s.SetLinger(0) },
		func() error { return s.SetRouterMandatory(1) },
		func() error { return s.SetMaxmsgsize(cfg.maxMsg) },
	}
	if cfg.setup != nil {
		steps = append(steps, func() error { return cfg.setup(s) })
	}
	steps = append(steps, func() error { return s.Bind(endpoint) })
	for _, f := range steps {
		if err := f(); err != nil {
			s.Close()
			return nil, fmt.Errorf("mdp: NewBroker: %w", err)
		}
	}
	if b.addr, err = s.GetLastEndpoint(); err != nil {
		s.Close()
		return nil, err
	}
	b.sock = s
	if b.tr == nil {
		tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Interval: cfg.interval, Liveness: cfg.liveness}))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("mdp: NewBroker: %w", err)
		}
		b.tr, b.ownTr = tr, true
	}
	return b, nil
}

// Endpoint returns the endpoint the broker is bound to.
func (b *Broker) Endpoint() string { return b.addr }

// Tracker returns the tracker of the broker's workers.
func (b *Broker) Tracker() *heartbeat.Tracker { return b.tr }

// Stats returns the broker's counters.
func (b *Broker) Stats() BrokerStats {
	c := &b.ctr
	return BrokerStats{
		Requests: c.requests.Load(), Replies: c.replies.Load(), MMI: c.mmi.Load(), Retried: c.retried.Load(),
		WorkerLost: c.workerLost.Load(), NoService: c.noService.Load(), Overloaded: c.overloaded.Load(),
		Refused: c.refused.Load(), Shutdown: c.shutdown.Load(), Expired: c.expired.Load(),
		Disconnected: c.disconnected.Load(), Stale: c.stale.Load(), Malformed: c.malformed.Load(),
		Unroutable: c.unroutable.Load(), Workers: int(c.workers.Load()), Services: int(c.services.Load()),
		Waiting: int(c.waiting.Load()), HeldBytes: c.held.Load(),
	}
}

// Run serves clients and workers until ctx is done, Close is called or,
// with WithBinaryStar, the pair stops with a fatal error. Then it answers
// every request it holds with wire.CodeShutdown, sends DISCONNECT to
// every worker, lingers up to DefaultBrokerShutdownLinger to deliver
// them, closes its socket and returns ctx's error, ErrBrokerClosed after
// Close, or the pair's fatal error.
func (b *Broker) Run(ctx context.Context) error {
	runCtx, err := b.life.Start(ctx, ErrBrokerClosed, ErrRunning)
	if err != nil {
		return err
	}
	defer b.life.Stopped()
	loopCtx, detach := bstar.Attach(runCtx, b.cfg.pair)
	remove := b.tr.OnChange(func(ev heartbeat.Event) {
		if ev.To != heartbeat.Dead {
			return
		}
		b.deadMu.Lock()
		b.dead = append(b.dead, ev.Peer)
		b.deadMu.Unlock()
		b.hasDead.Store(true)
	})
	defer remove()

	l := newBrokerLoop(b, time.Now())
	err = l.run(loopCtx)
	l.shutdown()
	pairErr := detach()
	_ = b.sock.SetLinger(DefaultBrokerShutdownLinger)
	b.sock.Close()
	switch {
	case pairErr != nil:
		return pairErr
	case err != nil:
		return err
	}
	return b.life.Err(ctx, ErrBrokerClosed)
}

// Close stops Run and waits for it, or closes the socket (and the Binary
// Star pair) if Run never ran. It closes the broker's own tracker. Close
// is idempotent and returns nil.
func (b *Broker) Close() error {
	first, ran := b.life.Close()
	if !first {
		return nil
	}
	if !ran {
		b.sock.Close()
		if b.cfg.pair != nil {
			b.cfg.pair.Close()
		}
	}
	if b.ownTr {
		b.tr.Close()
	}
	return nil
}

// takeDead returns the workers the tracker declared Dead since the last
// call.
func (b *Broker) takeDead() []string {
	if !b.hasDead.Load() {
		return nil
	}
	b.deadMu.Lock()
	defer b.deadMu.Unlock()
	dead := b.dead
	b.dead = nil
	b.hasDead.Store(false)
	return dead
}

func (b *Broker) emit(ev BrokerEvent) {
	if b.cfg.observer != nil {
		b.observe(ev)
	}
	if b.cfg.hook != nil {
		ev.At = time.Now()
		b.cfg.hook(ev)
	}
}
