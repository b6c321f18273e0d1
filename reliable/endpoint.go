package reliable

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/zmq"
)

// endpoint is one server address with its own socket (a DEALER in
// correlated mode, a REQ in plain mode), its connection state learnt from
// monitor events, and its health record.
type endpoint struct {
	addr string

	sock *zmq.Socket
	mon  *zmq.Monitor

	mu sync.Mutex
	up bool
	// life lasts while the endpoint is up: it ends, with cause
	// ErrPeerGone, when the endpoint goes down. A request sent while up
	// waits under it, so a disconnect wakes the wait with no goroutine
	// per request.
	life     context.Context
	endLife  context.CancelCauseFunc
	closing  context.Context // the client's: ends when it is closed
	ups      *signal         // the client's: fired when an endpoint comes up
	failures int             // consecutive failed attempts
	lastUsed time.Time

	sendMu sync.Mutex // serialises sends on sock (they never block)
	// readTok is held by the one request that reads sock for everyone
	// (correlated mode); it holds one token when nobody reads.
	readTok chan struct{}

	monDone chan struct{}
	relink  *relink // correlated mode: reconnects what libzmq gave up on
	// quitting is set when the endpoint closes its socket itself; a socket
	// closed without it was closed under the client (socketLost).
	quitting atomic.Bool
	obs      observe.Observer // the client's, if any

	drain // attempts in flight, and the removal from a resolved set
}

// openEndpoint creates and connects the endpoint's socket and starts
// watching its connection state.
func openEndpoint(zctx *zmq.Context, cfg *clientConfig, addr string, typ zmq.Type, closing context.Context, ups *signal) (*endpoint, error) {
	ep := &endpoint{addr: addr, readTok: make(chan struct{}, 1), closing: closing, ups: ups, obs: cfg.observer}
	ep.idle = make(chan struct{}, 1)
	ep.readTok <- struct{}{}
	if typ == zmq.DEALER {
		ep.relink = &relink{delay: relinkDelay(cfg.reconnect)}
	}
	if err := ep.open(zctx, cfg, typ, nil); err != nil {
		return nil, err
	}
	return ep, nil
}

// open gives the endpoint a new socket, keeping its health record. The
// previous socket, if any, must be closed. rid, when not nil, is the
// socket's routing id.
func (ep *endpoint) open(zctx *zmq.Context, cfg *clientConfig, typ zmq.Type, rid []byte) error {
	s, err := zctx.NewSocket(typ)
	if err != nil {
		return err
	}
	if err := configureClientSocket(s, cfg, rid); err != nil {
		s.Close()
		return err
	}
	// The monitor starts before the endpoint takes the socket: a socket
	// kept without one (Context.Term closed it under us, say) would never
	// report that it is gone, and later requests would wait for its peer.
	var mon *zmq.Monitor
	if ep.monitored() {
		events := zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED
		if ep.relink != nil {
			events |= relinkEvents
		}
		if ep.obs != nil {
			events |= observe.MonitorEvents
		}
		if mon, err = s.StartMonitor(events); err != nil {
			s.Close()
			return err
		}
	}
	ep.quitting.Store(false)
	ep.mu.Lock()
	ep.sock, ep.mon, ep.monDone = s, mon, nil
	ep.up = false
	ep.mu.Unlock()
	addr := ep.addr
	// inproc has no handshake and reports no events: it is up as soon as
	// it is connected (a send to an unbound inproc endpoint still fails
	// fast with EAGAIN thanks to IMMEDIATE).
	if mon == nil {
		ep.setUp(true)
	} else {
		ep.monDone = make(chan struct{})
		go ep.watch(mon, ep.monDone)
	}
	if err := s.Connect(addr); err != nil {
		ep.close()
		return err
	}
	return nil
}

// monitored reports whether the endpoint learns its state from monitor
// events: inproc reports none.
func (ep *endpoint) monitored() bool { return !strings.HasPrefix(ep.addr, "inproc://") }

func configureClientSocket(s *zmq.Socket, cfg *clientConfig, rid []byte) error {
	// LINGER 0: a request abandoned by a timeout is dropped at close, never
	// delivered later. IMMEDIATE: nothing is queued for a peer that is not
	// connected, so a request is not delivered after a reconnect either.
	// The routing id goes first: the caller's setup may replace it.
	var steps []func() error
	if rid != nil {
		steps = append(steps, func() error { return s.SetIdentity(string(rid)) })
	}
	steps = append(steps,
		func() error { return s.SetLinger(0) },
		func() error { return s.SetImmediate(true) },
		func() error { return s.SetReconnectIvl(cfg.reconnect) },
		func() error { return s.SetSndhwm(cfg.hwm) },
		func() error { return s.SetRcvhwm(cfg.hwm) },
		func() error { return s.SetMaxmsgsize(frameLimit(cfg.maxReply)) },
	)
	if cfg.setup != nil {
		steps = append(steps, func() error { return cfg.setup(s) })
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// watch folds monitor events into the up/down state.
func (ep *endpoint) watch(mon *zmq.Monitor, done chan struct{}) {
	defer close(done)
	defer ep.socketLost()
	for ev := range mon.Events() {
		ep.relinkOn(ev)
		ep.observeMonitor(ev)
		switch ev.Event {
		case zmq.EVENT_HANDSHAKE_SUCCEEDED:
			ep.setUp(true)
		case zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED:
			ep.setUp(false)
		}
	}
}

func (ep *endpoint) setUp(up bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.up == up {
		return
	}
	ep.up = up
	ep.observeUp(up)
	if up {
		ep.life, ep.endLife = context.WithCancelCause(ep.closing)
		ep.ups.fire()
	} else {
		ep.endLife(ErrPeerGone)
	}
}

// look returns the life of the endpoint's connection (nil while it is
// down) and its health: consecutive failures and when it was last used.
// One lock for what a balancer reads of each endpoint per attempt.
func (ep *endpoint) look() (life context.Context, failures int, lastUsed time.Time) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if !ep.up {
		return nil, 0, time.Time{}
	}
	return ep.life, ep.failures, ep.lastUsed
}

func (ep *endpoint) recordResult(ok bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.lastUsed = time.Now()
	if ok {
		ep.failures = 0
	} else {
		ep.failures++
	}
}

// shutdown closes the socket for good (which stops its monitor) and waits
// for the watcher. Requests still holding the endpoint get net.ErrClosed
// from the socket, never a nil one.
func (ep *endpoint) shutdown() {
	ep.quitting.Store(true)
	ep.relinkStop()
	ep.sock.Close()
	if ep.monDone != nil {
		<-ep.monDone
	}
	ep.setUp(false)
}

// close is shutdown for a socket that will be replaced: the next attempt
// opens a new one (plain mode, by the request holding the turn).
func (ep *endpoint) close() {
	if ep.sock == nil {
		return
	}
	ep.shutdown()
	ep.sock = nil
}

// pickUp chooses the endpoint for an attempt among those that are up, and
// returns it with the life of its connection (nil when none is up): the
// one with the fewest consecutive failures, then the least recently
// used, avoiding avoid (the endpoint of the previous attempt) while
// another is up.
func pickUp(eps []*endpoint, avoid *endpoint) (*endpoint, context.Context) {
	var best *endpoint
	var bLife context.Context
	var bFail int
	var bUsed time.Time
	for _, ep := range eps {
		life, fail, used := ep.look()
		if life == nil {
			continue
		}
		better := best == nil ||
			(best == avoid && ep != avoid) ||
			((best == avoid) == (ep == avoid) && (fail < bFail || fail == bFail && used.Before(bUsed)))
		if better {
			best, bLife, bFail, bUsed = ep, life, fail, used
		}
	}
	return best, bLife
}

// signal wakes every waiter each time it fires: next returns a channel
// closed at the next fire. The zero signal is ready to use.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
