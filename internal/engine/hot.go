package engine

import (
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// The hot wait, on unless ZMQGUARD_HOTWAIT=0 in the environment (or
// SetHotWait(false)). A receive whose recent waits were short, on a socket
// that is the only busy one in the process, waits a little inside C first,
// with its OS thread blocked in ppoll(2) on ZMQ_FD, before it parks in the
// netpoller: the way pebbe's blocking receive waits, but bounded and
// rationed.
//
// Why: a goroutine parked in the netpoller is woken by whichever thread
// polls it, after every P went idle; a thread blocked in cgo keeps its P
// and is woken by the reply itself. On the project's 2-core VM a parked
// round trip cost about one more thread wake-up than pebbe's (4.4-4.9
// context switches against 2.8-3.5), and the hot wait brings it to
// pebbe's count (docs/BENCHMARKS.md, "The hot wait").
//
// While it waits hot, the socket has no netpoller registration: ZMQ_FD
// shares its eventfd with the registered duplicate, so every signal would
// also wake the thread blocked in epoll, to find no goroutine to run. It
// keeps an unregistered duplicate instead (unregister), so that parking
// again never needs a descriptor the process may not have left.
//
// The bounds that keep the no-hang promises:
//   - a hot wait lasts at most hotMax, then the receive parks as usual;
//   - only GOMAXPROCS-1 goroutines of the process hot-wait at once (none
//     with GOMAXPROCS=1), so at least one P always runs goroutines; the
//     others park at once, and 2000 waiting sockets still hold a handful
//     of threads;
//   - only a socket whose recent waits were mostly short (shortWaits)
//     hot-waits, so an idle server never holds a slot, and
//     only while no other socket of the process received lately
//     (hotAlone): with an in-process peer busy, sysmon hands the held P to
//     a new spinning thread, which measured slower;
//   - cancel, Close and a poke from another goroutine write the slot's
//     eventfd, which ends the hot wait at once.
const (
	hotMaxDefault      = 200 * time.Microsecond
	hotEligibleDefault = hotMaxDefault
	maxHotSlots        = 8
	// unregisterEveryDefault: a socket leaves the netpoller for a hot
	// wait at most this often (see unregister).
	unregisterEveryDefault = 100 * time.Millisecond
	// hotWindowDefault: a socket that finished a wait this recently
	// counts as busy (see hotAlone).
	hotWindowDefault = 2 * time.Millisecond
)

// hotMax bounds one hot wait, hotWindow is the busy window of hotAlone,
// and a wait up to hotEligible counts as short (one a hot wait would have
// caught). Tests change them: a long bound tells a wake-up from the end
// of the budget, and a zero window lets a test's own peer socket be busy.
var (
	hotMax          = hotMaxDefault
	hotWindow       = hotWindowDefault
	hotEligible     = hotEligibleDefault
	unregisterEvery = unregisterEveryDefault
)

// SetHotTuning sets hotMax, hotWindow, hotEligible and unregisterEvery
// (tests only: a loaded test machine's waits are long; negative values
// restore the defaults). Call it while no receive waits.
func SetHotTuning(max, window, eligible, every time.Duration) {
	pick := func(v, def time.Duration) time.Duration {
		if v < 0 {
			return def
		}
		return v
	}
	hotMax = pick(max, hotMaxDefault)
	hotWindow = pick(window, hotWindowDefault)
	hotEligible = pick(eligible, hotEligibleDefault)
	unregisterEvery = pick(every, unregisterEveryDefault)
}

// hotSlot is one of the process's hot-wait slots: its eventfd, created by
// the first hot wait that takes the slot (so a process holds only the
// eventfds of the slots it used, GOMAXPROCS-1 at most).
type hotSlot struct {
	busy atomic.Bool
	made bool // efd was created (by the slot's holder)
	efd  int
}

var hotSlots [maxHotSlots]hotSlot

// hotOn turns the hot wait on for the process.
var hotOn = func() *atomic.Bool {
	var b atomic.Bool
	switch os.Getenv("ZMQGUARD_HOTWAIT") {
	case "0", "off", "false":
	default:
		b.Store(true)
	}
	return &b
}()

// SetHotWait turns the hot wait on or off for the whole process (the
// environment's ZMQGUARD_HOTWAIT sets it at start).
func SetHotWait(on bool) { hotOn.Store(on) }

// HotWait reports whether the hot wait is on.
func HotWait() bool { return hotOn.Load() }

// hotAcquire takes a free slot, or returns nil.
func hotAcquire() *hotSlot {
	n := min(runtime.GOMAXPROCS(0)-1, maxHotSlots)
	for i := range max(n, 0) {
		sl := &hotSlots[i]
		if sl.busy.Load() || !sl.busy.CompareAndSwap(false, true) {
			continue
		}
		if !sl.made {
			fd, err := hotNew()
			if err != nil {
				sl.busy.Store(false)
				return nil
			}
			sl.efd, sl.made = fd, true
		}
		return sl
	}
	return nil
}

// hotEligibleNow reports whether most of this socket's recent waits were
// short, and no other socket of the process is busy.
func (s *Socket) hotEligibleNow() bool {
	return hotOn.Load() && s.shortWaits >= shortWaitsOne/2 && s.hotZFD >= 0 && hotAlone(s.id)
}

// shortWaitsOne is 1.0 in shortWaits' fixed point.
const shortWaitsOne = 1 << 10

// noteWait records how long a receive waited (0: it did not wait).
//
// The score is a moving share of short waits (over about the last 8), not
// an average of their durations: a parked wait takes longer than a hot
// one, so an average that one long wait had pushed over the bound could
// stay there on parked waits alone, and the socket would never wait hot
// again. A parked wait that a hot wait would have caught counts as short.
func (s *Socket) noteWait(d time.Duration) {
	hit := int32(0)
	if d <= hotEligible {
		hit = shortWaitsOne
	}
	s.shortWaits += (hit - s.shortWaits) / 8
	hotSeen(s.id)
}

// sinceOrZero is the time since start, or 0 for a zero start (no wait).
func sinceOrZero(start time.Time) time.Duration {
	if start.IsZero() {
		return 0
	}
	return time.Since(start)
}

// The sockets that received lately, as (socket id, nanotime) pairs. A hot
// wait pays when the process is otherwise idle: then the runtime puts
// sysmon into its deep sleep at every wait, which the hot wait prevents.
// When another socket is busy too (an in-process server, a second
// stream), some P is busy anyway, and a thread held in ppoll only gets
// its P handed to a new spinning thread by sysmon: slower on 2 cores.
var hotRecent [4]struct {
	id   atomic.Uint64
	when atomic.Int64
}

var socketIDs atomic.Uint64

// hotSeen records that socket id finished a receive now.
func hotSeen(id uint64) {
	now := nanotime()
	oldest := 0
	for i := range hotRecent {
		e := &hotRecent[i]
		if e.id.Load() == id {
			e.when.Store(now)
			return
		}
		if e.when.Load() < hotRecent[oldest].when.Load() {
			oldest = i
		}
	}
	hotRecent[oldest].id.Store(id)
	hotRecent[oldest].when.Store(now)
}

// hotAlone reports whether no socket but id received within hotWindow.
func hotAlone(id uint64) bool {
	now := nanotime()
	for i := range hotRecent {
		e := &hotRecent[i]
		if e.id.Load() != id && now-e.when.Load() < int64(hotWindow) {
			return false
		}
	}
	return true
}

var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// hotWait waits inside C for up to hotMax (and never past lim's deadline)
// for the socket to signal. It reports whether the caller should try its
// receive again (a signal, a poke, a wake-up); false means the hot wait
// did not happen or ran out, and the caller parks as usual.
func (s *Socket) hotWait(lim *Limit, start time.Time) bool {
	if lim.Ctx.Err() != nil || s.closed.Load() {
		return false
	}
	if lim.Deadline.IsZero() && lim.Timeout >= 0 {
		// Fixed here as await would fix it, so that no wait stretches it.
		lim.Deadline = start.Add(lim.Timeout)
	}
	budget := hotMax - time.Since(start)
	if !lim.Deadline.IsZero() {
		budget = min(budget, time.Until(lim.Deadline))
	}
	if d, ok := lim.Ctx.Deadline(); ok {
		budget = min(budget, time.Until(d))
	}
	if budget <= 0 {
		return false
	}
	sl := hotAcquire()
	if sl == nil {
		return false
	}
	defer sl.busy.Store(false)
	s.unregister()
	s.watchCtx(lim)
	s.hot.Store(sl)
	s.parked.Store(true)
	// A cancel, Close or poke that came before the store above is seen
	// here; one that comes after writes the slot's eventfd.
	if f := s.onHot; f != nil {
		f()
	}
	var r int
	if !s.closed.Load() && lim.Ctx.Err() == nil {
		r = hotWait(s.hotZFD, sl.efd, int64(budget))
	}
	s.parked.Store(false)
	s.hot.Store(nil)
	return r != 0
}

// unregister takes the socket out of the netpoller for a hot wait (see
// the top of the file): it swaps the waiter for a spare duplicate of
// ZMQ_FD, which the wait that parks next registers again. The descriptor
// count stays the same throughout, so a full descriptor table (an attack
// on the server, say) cannot make that wait fail; when no duplicate can be
// made now, the registration stays. It happens at most once per
// unregisterEvery: each registration allocates (an os.File), and a socket
// whose hot waits now and then run out would otherwise allocate one per
// message.
func (s *Socket) unregister() {
	if s.w.Load() == nil {
		return
	}
	now := nanotime()
	if s.unregisteredAt != 0 && now-s.unregisteredAt < int64(unregisterEvery) {
		return
	}
	s.mu.Lock()
	w := s.w.Load()
	if w == nil || s.closed.Load() {
		s.mu.Unlock()
		return
	}
	fd, err := dupFD(s.hotZFD)
	if err != nil {
		s.mu.Unlock()
		return
	}
	s.spare = fd
	s.w.Store(nil)
	s.unregisteredAt = now
	s.mu.Unlock()
	// Closed outside s.mu: nobody is parked on it (one waiter at a time).
	w.close()
}

// watchCtx registers lim's context for wake-ups (see watchLocked).
func (s *Socket) watchCtx(lim *Limit) {
	if lim.Ctx.Done() == nil {
		return
	}
	s.mu.Lock()
	if !s.closed.Load() {
		s.watchLocked(lim.Ctx)
	}
	s.mu.Unlock()
}

// hotPoke ends a hot wait in progress on this socket, if any.
func (s *Socket) hotPoke() {
	if sl := s.hot.Load(); sl != nil {
		hotPoke(sl.efd)
	}
}

// hotFD caches the socket's ZMQ_FD for hot waits (-1: none). The caller
// holds s.mu.
func (s *Socket) hotFDLocked() {
	s.hotZFD = -1
	if s.seam.handle == nil {
		return
	}
	if fd, err := s.seam.fd(); err == nil {
		s.hotZFD = fd
	}
}

// OnHot calls f each time a receive is about to wait hot (tests only).
// Install it before another goroutine uses the socket.
func (s *Socket) OnHot(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onHot = f
}

// Polled reports whether the socket is registered with the netpoller
// (tests only).
func (s *Socket) Polled() bool { return s.w.Load() != nil }
