package engine

import (
	"context"
	"os"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/ctxerr"
)

// aLongTimeAgo is a deadline in the past, used to wake a parked waiter.
var aLongTimeAgo = time.Unix(1, 0)

// WaitUntil blocks until the socket is ready for any of events (POLLIN,
// POLLOUT), lim ends, or the socket is closed, and returns the events that
// are ready. A socket that is ready when lim's deadline has already passed
// still reports its events. After it returns, operate with DONTWAIT:
// readiness is a hint (a REP socket can report POLLIN for a request it
// then discards as malformed).
func (s *Socket) WaitUntil(lim *Limit, events zmq4.State) (zmq4.State, error) {
	for {
		// ready reads ZMQ_EVENTS once the netpoller is armed and, if the
		// socket is ready already, ends the wait at once without parking:
		// one read of ZMQ_EVENTS per look, not two.
		s.seen = 0
		err := s.await(lim, events, "wait")
		if ev := s.seen & events; ev != 0 {
			return ev, nil
		}
		if err != nil {
			if errs.IsTimeout(err) && lim.Ctx.Err() == nil {
				// The deadline passed, perhaps before any look: look once.
				if ev, lerr := s.lookEvents(); lerr == nil && ev&events != 0 {
					return ev & events, nil
				}
			}
			return 0, err
		}
		// Woken by an edge on ZMQ_FD or by a poke: look again.
	}
}

// lookEvents reads ZMQ_EVENTS.
func (s *Socket) lookEvents() (zmq4.State, error) {
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, errs.Closed
	}
	ev, err := s.eventsLocked()
	return ev, errno(err)
}

// eventsLocked reads ZMQ_EVENTS, retrying EINTR. The caller holds s.mu.
func (s *Socket) eventsLocked() (zmq4.State, error) {
	for {
		ev, err := s.seam.events()
		if err != nil && isIntr(err) {
			continue
		}
		return ev, err
	}
}

// ready is the netpoller callback: it reports whether the wait is over.
// Its first call runs after the netpoller reset its readiness flag, so an
// edge on ZMQ_FD arriving after that check wakes the waiter. Once woken,
// it ends the wait without reading ZMQ_EVENTS again: the caller retries
// its operation, which processes libzmq's commands just the same, so a
// wake costs one call into libzmq instead of two.
func (s *Socket) ready(uintptr) bool {
	if s.checked {
		return true
	}
	s.checked = true
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		s.waitErr = errs.Closed
		return true
	}
	if s.armed.on {
		return s.armed.try(s)
	}
	ev, err := s.eventsLocked()
	if err != nil {
		s.waitErr = errno(err)
		return true
	}
	s.seen = ev
	return ev&s.want != 0
}

// waiterLocked returns the socket's waiter, creating it on first use.
// The caller holds s.mu.
func (s *Socket) waiterLocked() (*waiter, error) {
	if w := s.w.Load(); w != nil {
		return w, nil
	}
	var w *waiter
	var err error
	if s.spare >= 0 {
		// Left by a hot wait: no new descriptor needed.
		w, err = adoptWaiter(s.spare)
		s.spare = -1
	} else {
		fd, ferr := s.seam.fd()
		if ferr != nil {
			return nil, errno(ferr)
		}
		w, err = newWaiter(fd)
	}
	if err != nil {
		return nil, err
	}
	s.w.Store(w)
	return w, nil
}

// await parks until the socket may be ready for want, or the limit ends.
// A nil return means "try again", not "ready". On first use it fixes the
// limit's deadline, so that retries never stretch it.
func (s *Socket) await(lim *Limit, want zmq4.State, op string) error {
	if lim.Ctx.Err() != nil {
		return s.expired(lim, op)
	}
	if lim.Deadline.IsZero() && lim.Timeout >= 0 {
		lim.Deadline = time.Now().Add(lim.Timeout)
	}
	deadline := lim.Deadline
	if d, ok := lim.Ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return s.expired(lim, op)
	}

	s.lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return errs.Closed
	}
	w, err := s.waiterLocked()
	if err == nil {
		s.watchLocked(lim.Ctx)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.want = want
	s.waitErr = nil
	s.checked = false
	if err := w.setDeadline(deadline); err != nil {
		return s.closedOr(err)
	}
	// A cancellation that fired before setDeadline was overwritten by it.
	if lim.Ctx.Err() != nil {
		return s.expired(lim, op)
	}
	s.parked.Store(true)
	err = w.wait(s.readyFn)
	s.parked.Store(false)
	switch {
	case isDeadline(err) && lim.Ctx.Err() == nil &&
		(deadline.IsZero() || time.Now().Before(deadline)):
		// Neither the deadline nor the context: a poke. Look again.
		return nil
	case isDeadline(err):
		return s.expired(lim, op)
	case err != nil:
		return s.closedOr(err)
	}
	return s.waitErr
}

// Poke wakes a goroutine parked on ZMQ_FD after another goroutine called
// into libzmq on the same socket. libzmq processes pending commands inside
// any call (a send, a getsockopt), and may thereby consume the ZMQ_FD
// signal meant for the waiter: the edge is then gone although the socket
// became ready. So whoever touches libzmq while a waiter is parked makes it
// look again. With one goroutine per socket nothing is ever parked here
// and this costs one atomic load.
func (s *Socket) Poke() {
	if !s.parked.Load() {
		return
	}
	if w := s.w.Load(); w != nil {
		w.setDeadline(aLongTimeAgo)
	}
}

func isDeadline(err error) bool {
	return err != nil && os.IsTimeout(err)
}

func (s *Socket) closedOr(err error) error {
	if s.closed.Load() {
		return errs.Closed
	}
	return err
}

// expired is the error of a call whose limit ended. When the limit's
// context caused it, it returns only once ctx.Err() says so (see
// package ctxerr).
func (s *Socket) expired(lim *Limit, op string) error {
	if s.closed.Load() {
		return errs.Closed
	}
	return timeoutErr(op, ctxerr.Ended(lim.Ctx))
}

// watchLocked makes cancelling ctx wake the socket's waiter. The
// registration outlives the call, keyed by ctx's Done channel, so a ctx
// used for many calls registers once instead of allocating a
// context.AfterFunc (four allocations) per wait. A registration left from
// an earlier ctx may still fire during a later wait: await treats that like
// a poke and looks again. Called with s.mu held.
func (s *Socket) watchLocked(ctx context.Context) {
	done := ctx.Done()
	if done == nil || done == s.watchDone {
		return
	}
	s.unwatchLocked()
	s.watchDone = done
	s.watchStop = context.AfterFunc(ctx, s.wakeFn)
}

// unwatchLocked drops the registration, so that a long-lived ctx does not
// keep a closed socket reachable. Called with s.mu held.
func (s *Socket) unwatchLocked() {
	if s.watchStop != nil {
		s.watchStop()
		s.watchStop, s.watchDone = nil, nil
	}
}

// wake ends the current wait, if any, as its deadline would.
func (s *Socket) wake() {
	s.hotStop()
	if w := s.w.Load(); w != nil {
		w.setDeadline(aLongTimeAgo)
	}
}
