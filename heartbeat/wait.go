package heartbeat

import (
	"context"

	"github.com/zmqguard/zmqguard/internal/ctxerr"
)

// waiter is shared by the WaitForStateChange calls blocked on one untracked
// peer; ch is closed when the peer becomes tracked.
type waiter struct {
	ch chan struct{}
	n  int
}

// WaitForStateChange blocks until peer's state differs from from, and
// returns the new state. It returns at once if the state already differs.
// If ctx is done first, it returns the current state and ctx's error
// (which, for a deadline, also matches os.ErrDeadlineExceeded); if the
// tracker is closed first, the current state and ErrClosed. A peer that is
// not tracked is Unknown, so waiting on it from Unknown waits until it is
// heard from (or tracked and then goes Suspect or Dead).
//
// A state may change more than once before the caller runs again: it sees
// the latest state, not each step. Use Events or OnChange to see every step.
func (t *Tracker) WaitForStateChange(ctx context.Context, peer string, from State) (State, error) {
	for {
		t.mu.Lock()
		s, closed := Unknown, t.closed
		var ch chan struct{}
		var w *waiter
		if p := t.peers[peer]; p != nil {
			s = p.state
			if s == from && !closed {
				if p.changed == nil {
					p.changed = make(chan struct{})
				}
				ch = p.changed
			}
		} else if s == from && !closed {
			if w = t.waiting[peer]; w == nil {
				w = &waiter{ch: make(chan struct{})}
				t.waiting[peer] = w
			}
			w.n++
			ch = w.ch
		}
		t.mu.Unlock()

		switch {
		case s != from:
			return s, nil
		case closed:
			return s, ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.release(peer, w)
			return t.State(peer), ctxerr.Deadline(ctx.Err())
		case <-t.done:
			t.release(peer, w)
		}
	}
}

// release gives up a waiter on an untracked peer, deleting it when it was
// the last one.
func (t *Tracker) release(peer string, w *waiter) {
	if w == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting[peer] == w {
		if w.n--; w.n == 0 {
			delete(t.waiting, peer)
		}
	}
}
