package bstar

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/internal/lifecycle"
	"github.com/zmqguard/zmqguard/internal/option"
	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Pair is one server's side of a Binary Star pair: it publishes the
// server's state to the peer every heartbeat (a PUB socket bound on its
// state endpoint), follows the peer's state (a SUB socket connected to
// the peer's state endpoint), and runs the state machine of Step on both
// and on the client requests the server reports with Admit.
//
// The server it belongs to calls Admit for every client request and
// serves only those it admits. Run must be running for the peer's state
// to be heard and the server's own to be published.
//
// A Pair is safe for concurrent use; Run is called once.
type Pair struct {
	role   Role
	cfg    config
	pub    *zmq.Socket
	sub    *zmq.Socket
	local  string
	remote string
	life   *lifecycle.Once
	kick   chan struct{} // Run publishes at once: the state changed

	mu         sync.Mutex
	state      State
	peer       State     // last state heard from the peer; 0 before
	peerExpiry time.Time // the peer is silent from then on
	failed     error     // the fatal error that stopped the pair
	changed    chan struct{}

	admitted, refused, takeovers, heard, malformed atomic.Uint64
}

// Stats counts what a Pair did. Read it with Pair.Stats.
type Stats struct {
	State     State  // the server's state now
	Peer      State  // the last state heard from the peer; 0 if none yet
	Admitted  uint64 // client requests admitted
	Refused   uint64 // client requests refused
	Takeovers uint64 // passive -> active on a client request while the peer was silent
	Heard     uint64 // state messages received from the peer
	Malformed uint64 // messages from the peer that were not a state
}

// New returns the pair side of a server of the given role. It binds a
// PUB socket on local, where the peer subscribes to this server's state,
// and connects a SUB socket to the peer's state endpoint, peer. Use
// tcp://host:* for local to pick a free port, and read it back with
// Endpoint. Nothing is published until Run. Invalid options, and a nil
// one, make it return a *zmq.OptionError.
func New(zctx *zmq.Context, role Role, local, peer string, opts ...Option) (*Pair, error) {
	if zctx == nil || local == "" || peer == "" {
		return nil, errors.New("bstar: New: nil context or empty endpoint")
	}
	if role != Primary && role != Backup {
		return nil, fmt.Errorf("bstar: New: unknown role %d", int(role))
	}
	cfg := defaultConfig()
	if err := option.Apply(&cfg, opts); err != nil {
		return nil, err
	}
	p := &Pair{role: role, cfg: cfg, remote: peer, life: lifecycle.New(), kick: make(chan struct{}, 1),
		state: initial(role), changed: make(chan struct{})}
	var err error
	if p.pub, err = p.socket(zctx, zmq.PUB, func(s *zmq.Socket) error { return s.Bind(local) }); err != nil {
		return nil, fmt.Errorf("bstar: state endpoint %s: %w", local, err)
	}
	if p.local, err = p.pub.GetLastEndpoint(); err != nil {
		p.pub.Close()
		return nil, err
	}
	p.sub, err = p.socket(zctx, zmq.SUB, func(s *zmq.Socket) error {
		if err := s.SetSubscribe(""); err != nil {
			return err
		}
		return s.Connect(peer)
	})
	if err != nil {
		p.pub.Close()
		return nil, fmt.Errorf("bstar: peer %s: %w", peer, err)
	}
	return p, nil
}

func (p *Pair) socket(zctx *zmq.Context, typ zmq.Type, attach func(*zmq.Socket) error) (*zmq.Socket, error) {
	s, err := zctx.NewSocket(typ)
	if err != nil {
		return nil, err
	}
	steps := []func() error{
		func() error { return s.SetLinger(0) },
		func() error { return s.SetReconnectIvl(p.cfg.interval / 4) },
	}
	if p.cfg.setup != nil {
		steps = append(steps, func() error { return p.cfg.setup(s) })
	}
	for _, f := range append(steps, func() error { return attach(s) }) {
		if err := f(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Role returns the server's role.
func (p *Pair) Role() Role { return p.role }

// Endpoint returns the endpoint the server's state is published on (the
// one its peer connects to).
func (p *Pair) Endpoint() string { return p.local }

// Peer returns the peer's state endpoint.
func (p *Pair) Peer() string { return p.remote }

// State returns the server's state.
func (p *Pair) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Stats returns the pair's counters and states.
func (p *Pair) Stats() Stats {
	p.mu.Lock()
	st := Stats{State: p.state, Peer: p.peer}
	p.mu.Unlock()
	st.Admitted, st.Refused, st.Takeovers = p.admitted.Load(), p.refused.Load(), p.takeovers.Load()
	st.Heard, st.Malformed = p.heard.Load(), p.malformed.Load()
	return st
}

// Admit runs the state machine on a client request and reports whether
// the server may serve it: in the primary and active states it may; in
// the backup state it may not; in the passive state it may only if the
// peer has been silent for the peer expiry, and then the server becomes
// active (the split-brain rule: the backup takes over only when a client
// asks while the primary is silent). A server must not serve a request
// Admit refused; it may tell the client so (wire.CodePassive), since the
// client should go to the peer. After a fatal error Admit refuses
// everything. Admit is quick and never blocks on the network.
func (p *Pair) Admit() bool {
	p.mu.Lock()
	if p.failed != nil {
		p.mu.Unlock()
		p.refused.Add(1)
		return false
	}
	silent := p.state == StatePassive && !time.Now().Before(p.peerExpiry)
	next, ok, _ := Step(p.role, p.state, ClientRequest, silent)
	ev := p.transitionLocked(next, ClientRequest, nil)
	p.mu.Unlock()
	if ok {
		p.admitted.Add(1)
	} else {
		p.refused.Add(1)
	}
	if ev != nil {
		p.takeovers.Add(1)
		p.emit(*ev)
	}
	return ok
}

// WaitFor waits until the server is in state s, ctx ends (its error) or
// the pair stops with a fatal error (that error).
func (p *Pair) WaitFor(ctx context.Context, s State) error {
	for {
		p.mu.Lock()
		state, ch, failed := p.state, p.changed, p.failed
		p.mu.Unlock()
		switch {
		case state == s:
			return nil
		case failed != nil:
			return failed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// transitionLocked moves to next (p.mu held) and returns the event to
// report, or nil when nothing changed.
func (p *Pair) transitionLocked(next State, in Input, fatal error) *Event {
	if next == p.state && fatal == nil {
		return nil
	}
	ev := &Event{From: p.state, To: next, Input: in, Err: fatal, At: time.Now()}
	p.state = next
	if fatal != nil {
		p.failed = fatal
	}
	close(p.changed)
	p.changed = make(chan struct{})
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return ev
}

func (p *Pair) emit(ev Event) {
	if p.cfg.hook != nil {
		p.cfg.hook(ev)
	}
}

// Run publishes the server's state every heartbeat (and at once when it
// changes) and follows the peer's, until ctx is done, Close is called, or
// the state machine meets a fatal input. It then closes its sockets and
// returns ctx's error, ErrClosed after Close, or the fatal error
// (ErrDualActive, ErrDualPassive or ErrSameRole), after which Admit
// refuses every request: the zguide aborts the server there, and so
// should the server that owns the pair.
func (p *Pair) Run(ctx context.Context) error {
	runCtx, err := p.life.Start(ctx, ErrClosed, ErrRunning)
	if err != nil {
		return err
	}
	defer p.life.Stopped()
	runCtx, cancel := context.WithCancel(runCtx)
	heard := make(chan State)
	var reader sync.WaitGroup
	reader.Go(func() { p.read(runCtx, heard) })
	defer func() {
		cancel()
		reader.Wait()
		p.pub.Close()
		p.sub.Close()
	}()
	ticker := time.NewTicker(p.cfg.interval)
	defer ticker.Stop()
	p.publish()
	for {
		select {
		case s := <-heard:
			if err := p.fromPeer(s); err != nil {
				return err
			}
		case <-ticker.C:
			p.publish()
		case <-p.kick:
			// The state changed: tell the peer now, not at the next tick.
			p.publish()
		case <-runCtx.Done():
			return p.life.Err(ctx, ErrClosed)
		}
	}
}

// Close stops Run and waits for it, or closes the sockets if Run never
// ran. It is idempotent and returns nil.
func (p *Pair) Close() error {
	if first, ran := p.life.Close(); first && !ran {
		p.pub.Close()
		p.sub.Close()
	}
	return nil
}

// publish sends the server's state to the peer: one frame, the state's
// number in ASCII, as the zguide's bstar does. A full queue (a peer that
// does not read) drops it; the next heartbeat sends it again.
func (p *Pair) publish() {
	_, _ = p.pub.SendMessageDontwait(strconv.Itoa(int(p.State())))
}

// read receives the peer's state messages until ctx ends.
func (p *Pair) read(ctx context.Context, out chan<- State) {
	for {
		msg, err := timeout.RecvMessageBytes(ctx, p.sub)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, zmq.ErrorSocketClosed) {
				return
			}
			continue
		}
		s, ok := parseState(msg)
		if !ok {
			p.malformed.Add(1)
			continue
		}
		select {
		case out <- s:
		case <-ctx.Done():
			return
		}
	}
}

// parseState decodes a state message: one frame, "1" to "4".
func parseState(msg [][]byte) (State, bool) {
	if len(msg) != 1 || len(msg[0]) != 1 {
		return 0, false
	}
	s := State(msg[0][0] - '0')
	_, ok := stateNames[s]
	return s, ok
}

// fromPeer runs the state machine on a state heard from the peer and
// renews the peer's expiry. It returns the fatal error, if any.
func (p *Pair) fromPeer(s State) error {
	p.heard.Add(1)
	p.mu.Lock()
	p.peer = s
	p.peerExpiry = time.Now().Add(p.cfg.expiry())
	next, _, fatal := Step(p.role, p.state, Input(s), false)
	ev := p.transitionLocked(next, Input(s), fatal)
	p.mu.Unlock()
	if ev != nil {
		p.emit(*ev)
	}
	return fatal
}
