package heartbeat

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/internal/option"
)

// never is the deadline of an empty heap.
const never = math.MaxInt64

// maxPending bounds the events waiting for the dispatcher goroutine (which
// runs the OnChange callbacks); beyond it the oldest is dropped and counted
// by Tracker.Dropped. Only callbacks that stay slower than the transition
// rate for a long time reach it.
const maxPending = 1 << 16

// Tracker tracks the liveness of many peers, keyed by a string peer id (a
// ROUTER identity, an endpoint, a worker name: the caller decides).
//
// Sources feed it: [Tracker.Observe] for every inbound message,
// [Tracker.Sent] for every outbound one, [Tracker.Track] to start the clock
// on a peer not heard from yet, [Tracker.MarkDead] when a source knows a
// peer is gone. The tracker turns silence into Suspect and Dead on its own
// timer, tells its owner when a peer needs a ping ([Tracker.PingsDue],
// [Tracker.NextPing]), and reports every transition as an [Event] on a
// channel ([Tracker.Events]) and to callbacks ([Tracker.OnChange]).
//
// A Tracker is safe for concurrent use by multiple goroutines. Its methods
// never block on event consumers. It owns two goroutines (the timer and the
// event dispatcher) that [Tracker.Close] stops.
type Tracker struct {
	policy    Policy
	interval  int64 // nanoseconds
	deadAfter int64
	suspect   int64 // suspect threshold, if useSuspect
	useSusp   bool
	epoch     time.Time
	buffer    int

	mu      sync.RWMutex
	closed  bool
	peers   map[string]*peer
	waiting map[string]*waiter // WaitForStateChange on untracked peers
	live    deadlines
	ping    deadlines
	armed   int64   // deadline the timer goroutine sleeps until
	scratch []*peer // reused by PingsDue

	// Event delivery, guarded by mu.
	pending      []queued
	seq          uint64      // number of the last queued event
	callbacks    []*callback // copy on write
	nextCB       uint64
	events       chan Event // created by the first Events call
	eventsFrom   uint64     // first event number for events
	eventsClosed bool

	dropped atomic.Uint64

	kick      chan struct{} // timer: a deadline moved earlier
	notify    chan struct{} // dispatcher: events are pending
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Sink is the part of a [Tracker] that liveness sources feed: a Paranoid
// Pirate heartbeat reader, a ZeroMQ socket monitor, a receive loop. Sources
// take a Sink so they can be tested without a Tracker.
type Sink interface {
	Track(peer string)
	Observe(peer string)
	Sent(peer string)
	MarkDead(peer string)
}

var _ Sink = (*Tracker)(nil)

// New returns a running Tracker configured by opts, or an error joining
// every invalid option, each a *zmq.OptionError (a nil option too). Call
// [Tracker.Close] to stop it.
func New(opts ...Option) (*Tracker, error) {
	c := config{policy: Policy{}.WithDefaults(), buffer: DefaultEventBuffer}
	if err := option.Apply(&c, opts); err != nil {
		return nil, err
	}
	t := &Tracker{
		policy:    c.policy,
		interval:  int64(c.policy.Interval),
		deadAfter: int64(c.policy.deadAfter()),
		epoch:     time.Now(),
		buffer:    c.buffer,
		peers:     make(map[string]*peer),
		waiting:   make(map[string]*waiter),
		live:      deadlines{slot: liveSlot},
		ping:      deadlines{slot: pingSlot},
		armed:     never,
		kick:      make(chan struct{}, 1),
		notify:    make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	s, ok := c.policy.suspectAfter()
	t.suspect, t.useSusp = int64(s), ok
	for _, f := range c.callbacks {
		t.addCallback(f)
	}
	t.wg.Add(2)
	go t.runTimer()
	go t.runDispatcher()
	return t, nil
}

// Policy returns the tracker's policy, with defaults filled in.
func (t *Tracker) Policy() Policy { return t.policy }

// State returns the peer's current state; Unknown if it is not tracked.
func (t *Tracker) State(peer string) State {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p := t.peers[peer]; p != nil {
		return p.state
	}
	return Unknown
}

// Snapshot returns the state of every tracked peer.
func (t *Tracker) Snapshot() map[string]State {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m := make(map[string]State, len(t.peers))
	for id, p := range t.peers {
		m[id] = p.state
	}
	return m
}

// Close stops the tracker's goroutines and waits for them, after delivering
// the events already queued to the callbacks and, without blocking, to the
// Events channel, which it then closes. Later calls to the feeding methods
// are ignored; State keeps answering with the last known states. Close is
// idempotent and always returns nil. It waits for a running OnChange
// callback to return, so a callback must not call Close.
func (t *Tracker) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		close(t.done)
		t.mu.Unlock()
		t.wg.Wait()
		t.mu.Lock()
		if t.events != nil {
			close(t.events)
		}
		t.eventsClosed = true
		t.mu.Unlock()
	})
	return nil
}

// now returns the time since the tracker's epoch, on the monotonic clock.
func (t *Tracker) now() int64 { return int64(time.Since(t.epoch)) }

// at converts a time since the epoch back to a time.Time.
func (t *Tracker) at(ns int64) time.Time { return t.epoch.Add(time.Duration(ns)) }
