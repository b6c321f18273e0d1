package heartbeat

import (
	"fmt"
	"time"
)

// Event reports that a peer's state changed. Events about one tracker are
// delivered in the order the changes happened, which is also the order of
// their At times.
type Event struct {
	// Peer is the peer's id.
	Peer string
	// From is the state before the change, To the state after it. A
	// tracker that runs late (a suspended process, a huge backlog) may jump
	// over states, from Alive straight to Dead for example.
	From, To State
	// At is when the tracker made the change.
	At time.Time
}

// String formats e as "peer: from -> to".
func (e Event) String() string {
	return fmt.Sprintf("%s: %v -> %v", e.Peer, e.From, e.To)
}

// queued is an event waiting for the dispatcher, numbered in order.
type queued struct {
	ev  Event
	seq uint64
}

// callback is a registered OnChange function; it gets the events numbered
// from on.
type callback struct {
	id   uint64
	from uint64
	f    func(Event)
}

// Events returns the channel on which the tracker delivers every Event. The
// channel is created by the first call, with the capacity set by
// WithEventBuffer, and receives the events that happen after it; all calls
// return the same channel, so for fan-out use OnChange. The tracker never
// blocks on it: when the channel is full, the oldest event in it is dropped
// to make room, and Dropped counts it. The channel is closed by Close after
// the last event.
func (t *Tracker) Events() <-chan Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.events == nil {
		t.events = make(chan Event, t.buffer)
		t.eventsFrom = t.seq + 1
		if t.eventsClosed {
			close(t.events)
		}
	}
	return t.events
}

// OnChange registers f to be called with every Event that happens after
// this call, and returns a function that unregisters it (f may still see
// events already being delivered). All callbacks run one after the other on
// the tracker's single dispatcher goroutine, in event order, outside any
// lock, so they may call the tracker's methods, except Close. A slow
// callback delays the later callbacks and the Events channel but never the
// tracker itself; if callbacks fall more than 65536 events behind, the
// oldest pending events are dropped and counted by Dropped. OnChange with a
// nil f, or after Close, registers nothing.
func (t *Tracker) OnChange(f func(Event)) (remove func()) {
	if f == nil {
		return func() {}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return func() {}
	}
	id := t.addCallback(f)
	return func() { t.removeCallback(id) }
}

// Dropped returns how many events were discarded: pushed out of a full
// Events channel, or left behind by callbacks that fell too far behind.
func (t *Tracker) Dropped() uint64 { return t.dropped.Load() }

// addCallback registers f; t.mu must be held for writing, or t not yet
// shared.
func (t *Tracker) addCallback(f func(Event)) uint64 {
	t.nextCB++
	cbs := make([]*callback, len(t.callbacks), len(t.callbacks)+1)
	copy(cbs, t.callbacks)
	t.callbacks = append(cbs, &callback{id: t.nextCB, from: t.seq + 1, f: f})
	return t.nextCB
}

func (t *Tracker) removeCallback(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cbs := make([]*callback, 0, len(t.callbacks))
	for _, cb := range t.callbacks {
		if cb.id != id {
			cbs = append(cbs, cb)
		}
	}
	t.callbacks = cbs
}

// enqueue queues ev for the dispatcher. t.mu must be held for writing.
func (t *Tracker) enqueue(ev Event) {
	if len(t.pending) >= maxPending {
		t.pending[0] = queued{}
		t.pending = t.pending[1:]
		t.dropped.Add(1)
	}
	t.seq++
	t.pending = append(t.pending, queued{ev: ev, seq: t.seq})
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// runDispatcher is the dispatcher goroutine: it hands queued events to the
// callbacks and the Events channel, in order, outside the lock. On Close it
// delivers what is queued and returns.
func (t *Tracker) runDispatcher() {
	defer t.wg.Done()
	var batch []queued
	for {
		stopping := false
		select {
		case <-t.notify:
		case <-t.done:
			stopping = true
		}
		t.mu.Lock()
		batch, t.pending = t.pending, batch[:0]
		cbs, ch, chFrom := t.callbacks, t.events, t.eventsFrom
		t.mu.Unlock()
		for _, q := range batch {
			for _, cb := range cbs {
				if q.seq >= cb.from {
					cb.f(q.ev)
				}
			}
			if ch != nil && q.seq >= chFrom {
				t.deliver(ch, q.ev)
			}
		}
		clear(batch)
		if stopping {
			return
		}
	}
}

// deliver puts ev on ch without blocking, dropping the oldest buffered event
// if ch is full. Only the dispatcher sends on ch, so one drop makes room.
func (t *Tracker) deliver(ch chan Event, ev Event) {
	for {
		select {
		case ch <- ev:
			return
		default:
		}
		select {
		case <-ch:
			t.dropped.Add(1)
		default:
		}
	}
}
