package heartbeat

import "sync/atomic"

// peer is the tracker's record of one peer. Timestamps are nanoseconds since
// the tracker's epoch.
type peer struct {
	id string

	// lastSeen is the last inbound traffic, or the start of tracking if
	// there was none; lastSent is the last outbound traffic, or the start of
	// tracking. Both are atomic because the fast paths of Observe and Sent
	// store them under the read lock; they only move forward.
	lastSeen atomic.Int64
	lastSent atomic.Int64

	// Guarded by Tracker.mu.
	state   State
	changed chan struct{} // closed on the next transition; nil if nobody waits
	idx     [numSlots]int // position in each deadline heap, -1 if absent
	due     [numSlots]int64
}

func newPeer(id string, now int64) *peer {
	p := &peer{id: id, idx: [numSlots]int{-1, -1}}
	p.lastSeen.Store(now)
	p.lastSent.Store(now)
	return p
}

// advance stores now into ts unless ts already holds a later time, so that
// concurrent callers cannot move a timestamp backwards.
func advance(ts *atomic.Int64, now int64) {
	for {
		old := ts.Load()
		if old >= now || ts.CompareAndSwap(old, now) {
			return
		}
	}
}
