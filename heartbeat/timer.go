package heartbeat

import "time"

// runTimer is the timer goroutine: it sleeps until the earliest liveness
// deadline, turns silence into Suspect and Dead, and goes back to sleep.
func (t *Tracker) runTimer() {
	defer t.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return
		}
		now := t.now()
		next := t.expire(now)
		t.armed = next
		select { // kicks sent so far are covered by next
		case <-t.kick:
		default:
		}
		t.mu.Unlock()

		if next == never {
			timer.Stop()
		} else {
			timer.Reset(time.Duration(next - now))
		}
		select {
		case <-timer.C:
		case <-t.kick:
		case <-t.done:
			return
		}
	}
}

// expire checks every peer whose liveness deadline has passed and returns
// the next deadline. t.mu must be held for writing.
func (t *Tracker) expire(now int64) int64 {
	for {
		p, ok := t.live.min()
		if !ok {
			return never
		}
		if p.due[liveSlot] > now {
			return p.due[liveSlot]
		}
		if v := t.verdict(now - p.lastSeen.Load()); v.severity() > p.state.severity() {
			t.transition(p, v, now)
		}
		t.schedule(p) // moves p's deadline past now, or removes a Dead p
	}
}

// verdict is the state that silence alone calls for: Dead, Suspect, or
// Alive for "healthy".
func (t *Tracker) verdict(silence int64) State {
	switch {
	case silence > t.deadAfter:
		return Dead
	case t.useSusp && silence > t.suspect:
		return Suspect
	}
	return Alive
}

// schedule sets p's liveness deadline to the first instant at which its
// silence would call for a worse state, and wakes the timer goroutine if
// that is earlier than its alarm. t.mu must be held for writing.
func (t *Tracker) schedule(p *peer) {
	if p.state == Dead {
		t.live.remove(p)
		return
	}
	limit := t.deadAfter
	if t.useSusp && p.state.severity() == 0 {
		limit = t.suspect
	}
	due := p.lastSeen.Load() + limit + 1
	t.live.set(p, due)
	if due < t.armed {
		t.armed = due
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// transition moves p to state to, wakes its waiters and queues the event.
// t.mu must be held for writing.
func (t *Tracker) transition(p *peer, to State, now int64) {
	ev := Event{Peer: p.id, From: p.state, To: to, At: t.at(now)}
	p.state = to
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
	t.enqueue(ev)
}
