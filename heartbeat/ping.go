package heartbeat

import "time"

// The owner of a Tracker sends heartbeats, not the tracker: ZeroMQ sockets
// belong to one goroutine, so the tracker only says when and to whom. A
// typical owner loop:
//
//	for {
//		deadline, _ := tr.NextPing()
//		msg, err := receiveUntil(ctx, deadline) // zero deadline: no ping pending
//		if err == nil {
//			tr.Observe(peerOf(msg))
//			...
//		}
//		for _, p := range tr.PingsDue(due[:0]) {
//			if sendHeartbeat(p) == nil {
//				tr.Sent(p)
//			}
//		}
//	}
//
// Every other message sent to a peer is reported with Sent too, so that
// heartbeats go only over links that are otherwise idle.

// Sent records outbound traffic to peer: a heartbeat or any other message.
// A ping to peer is due again only after it has been idle for an Interval.
// Sent tracks an untracked peer first, as Track does. For a tracked peer it
// takes only a read lock and an atomic store. It is ignored after Close.
func (t *Tracker) Sent(peer string) {
	now := t.now()
	t.mu.RLock()
	if p := t.peers[peer]; p != nil && !t.closed {
		advance(&p.lastSent, now)
		t.mu.RUnlock()
		return
	}
	t.mu.RUnlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	p := t.get(peer, now)
	advance(&p.lastSent, now)
}

// OutboundIdle reports whether nothing has been sent to peer for at least an
// Interval (since tracking started if nothing was ever sent), which is when
// it needs a ping. It is false for a peer that is not tracked.
func (t *Tracker) OutboundIdle(peer string) bool {
	now := t.now()
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.peers[peer]
	return p != nil && now-p.lastSent.Load() >= t.interval
}

// PingsDue appends to dst every tracked peer whose outbound link has been
// idle for at least an Interval, earliest first, and returns the extended
// slice. Peers of every state are included, Dead ones too: the owner decides
// whom to ping, and forgets peers it has given up on. A peer stays due until
// Sent is called for it. After Close, PingsDue returns dst unchanged.
func (t *Tracker) PingsDue(dst []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return dst
	}
	now := t.now()
	due := t.scratch[:0]
	for {
		p, ok := t.ping.min()
		if !ok || p.due[pingSlot] > now {
			break
		}
		if next := p.lastSent.Load() + t.interval; next > now {
			t.ping.set(p, next) // Sent since it was scheduled
			continue
		}
		t.ping.remove(p)
		due = append(due, p)
		dst = append(dst, p.id)
	}
	for i, p := range due { // still due: back in, at their real deadlines
		t.ping.set(p, p.lastSent.Load()+t.interval)
		due[i] = nil
	}
	t.scratch = due[:0]
	return dst
}

// NextPing returns when the next ping falls due, which may be in the past if
// one is already due, and false if no peer is tracked or the tracker is
// closed. Owners use it as the deadline of their receive wait. The answer
// is never late: traffic only moves pings later, and a newly tracked peer's
// first ping is due an Interval after every ping already scheduled, so it
// stays a safe deadline (at worst an early wake-up) until PingsDue is
// called, except that a false answer must be asked again once a peer is
// tracked.
func (t *Tracker) NextPing() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return time.Time{}, false
	}
	for {
		p, ok := t.ping.min()
		if !ok {
			return time.Time{}, false
		}
		if next := p.lastSent.Load() + t.interval; next > p.due[pingSlot] {
			t.ping.set(p, next)
			continue
		}
		return t.at(p.due[pingSlot]), true
	}
}
