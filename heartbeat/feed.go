package heartbeat

// Track starts tracking peer, if it is not tracked yet, without having heard
// from it: the peer is Unknown, and if nothing arrives it goes Suspect and
// Dead on the same schedule as a peer that fell silent at this moment. Use
// it when connecting to a peer that must answer (a Paranoid Pirate worker
// tracking its queue). Track has no effect on a tracked peer or after
// Close.
func (t *Tracker) Track(peer string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.get(peer, t.now())
}

// Observe records inbound traffic from peer. Any inbound message is proof of
// life, heartbeat or not; call Observe where messages are received, before
// they are queued for a possibly busy handler. Observe makes the peer Alive,
// tracking it first if needed. For a peer already Alive it takes only a read
// lock and an atomic store, so calling it for every message is cheap. It is
// ignored after Close.
func (t *Tracker) Observe(peer string) {
	now := t.now()
	t.mu.RLock()
	if p := t.peers[peer]; p != nil && p.state == Alive && !t.closed {
		advance(&p.lastSeen, now)
		t.mu.RUnlock()
		return
	}
	t.mu.RUnlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	now = t.now() // under the lock, so that events are in time order
	p := t.get(peer, now)
	advance(&p.lastSeen, now)
	if p.state != Alive {
		t.transition(p, Alive, now)
		t.schedule(p)
	}
}

// MarkDead records that a source knows peer is gone (a ZeroMQ monitor
// reported the connection closed, a native ZMTP heartbeat timed out, the
// peer said goodbye). A tracked peer becomes Dead at once and stays Dead
// until it is heard from again. MarkDead has no effect on a peer that is not
// tracked, or after Close.
func (t *Tracker) MarkDead(peer string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[peer]
	if p == nil || t.closed || p.state == Dead {
		return
	}
	t.transition(p, Dead, t.now())
	t.schedule(p)
}

// Forget stops tracking peer and frees what the tracker kept for it. If the
// peer was not Unknown, an event to Unknown reports the change. A later
// Observe, Sent or Track starts afresh. Owners tracking peers that come and
// go (ROUTER identities) must Forget them, typically once they are Dead.
func (t *Tracker) Forget(peer string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[peer]
	if p == nil || t.closed {
		return
	}
	t.live.remove(p)
	t.ping.remove(p)
	delete(t.peers, peer)
	if p.state != Unknown {
		t.transition(p, Unknown, t.now())
	}
	if p.changed != nil { // waiters re-check the now untracked peer
		close(p.changed)
		p.changed = nil
	}
}

// get returns the tracked peer with id, tracking it from now if needed.
// t.mu must be held for writing.
func (t *Tracker) get(id string, now int64) *peer {
	if p := t.peers[id]; p != nil {
		return p
	}
	p := newPeer(id, now)
	t.peers[id] = p
	t.schedule(p)
	t.ping.set(p, now+t.interval)
	if w := t.waiting[id]; w != nil {
		close(w.ch)
		delete(t.waiting, id)
	}
	return p
}
