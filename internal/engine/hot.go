package engine

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

// The hot wait, on unless ZMQGUARD_HOTWAIT=0 in the environment (or
// SetHotWait(false)). A receive whose recent waits were short blocks in
// libzmq's own receive first, with its OS thread in poll(2), the way
// pebbe's blocking receive waits, and parks in the netpoller only if that
// runs out: the same system calls as pebbe's, and no timer of its own. A
// batch send (SendMsgs) whose recent waits for room were short waits so
// too, in libzmq's blocking send.
//
// Why: a goroutine parked in the netpoller is woken by whichever thread
// polls it, after every P went idle; a thread blocked in cgo keeps its P
// and is woken by the reply itself. On the project's 2-core VM a parked
// round trip cost about one more thread wake-up than pebbe's (4.4-4.9
// context switches against 2.8-3.5). An earlier hot wait in ppoll(2) with
// a timeout reached pebbe's count but not its speed: it made two more
// system calls per round trip and armed a kernel timer per wait
// (docs/BENCHMARKS.md, "The hot wait").
//
// Ending a blocking receive early: whoever must (a cancel, Close, another
// goroutine that needs the socket, the watchdog) sets the slot's stop flag
// and sends the blocked thread SIGURG, which Go's runtime already uses to
// preempt goroutines and ignores otherwise; libzmq's poll(2) returns EINTR,
// and the receive with it, with nothing consumed. A signal that lands just
// before the thread blocks is lost, so the sender repeats it until the
// wait is over (hotStop). The wait itself never sees EINTR as an error.
//
// While it waits hot, the socket has no netpoller registration: ZMQ_FD
// shares its eventfd with the registered duplicate, so every signal would
// also wake the thread blocked in epoll, to find no goroutine to run. It
// keeps an unregistered duplicate instead (unregister), so that parking
// again never needs a descriptor the process may not have left.
//
// The bounds that keep the no-hang promises:
//   - a hot wait lasts at most about hotMax: a watchdog goroutine, which
//     runs only while hot waits happen, ends longer ones, and ends a wait
//     a tick before its deadline; the receive then parks as usual;
//   - at most GOMAXPROCS goroutines of the process hot-wait at once (up
//     to 8; none with GOMAXPROCS=1, where a hot wait would hold the only
//     P); the others park at once, and 2000 waiting sockets still hold a
//     handful of threads. When every P is held so (client and server in
//     one process), sysmon retakes one for other goroutines: a timer
//     goroutine beside such a pair measured 0.1 ms late at p99, against
//     0.05 ms with one P kept free and 10 ms beside pebbe's pair, and the
//     round trip 12-17% faster than with one P kept free;
//   - only a socket whose recent waits were mostly short (shortWaits)
//     hot-waits, so an idle server never holds a slot;
//   - a blocked thread keeps its P, and goroutines queued on that P run
//     only once sysmon retakes it; when another socket of the process is
//     busy (hotAlone), the hot wait therefore yields before it blocks;
//   - a cancel, Close, or a call into the socket from another goroutine
//     (the leader/follower sends of the package documentation, see lock)
//     ends the hot wait at once.
const (
	hotMaxDefault      = time.Millisecond
	hotEligibleDefault = 200 * time.Microsecond
	maxHotSlots        = 8
	// unregisterEveryDefault: a socket leaves the netpoller for a hot
	// wait at most this often (see unregister).
	unregisterEveryDefault = 100 * time.Millisecond
	// hotWindowDefault: a socket that finished a wait this recently
	// counts as busy (see hotAlone).
	hotWindowDefault = 2 * time.Millisecond
	// hotTickMax is the watchdog's longest period.
	hotTickMax = time.Millisecond
	// hotIdleTicks: the watchdog returns after this many ticks without a
	// hot wait.
	hotIdleTicks = 20
)

// hotMax bounds one hot wait, hotWindow is the busy window of hotAlone,
// and a wait up to hotEligible counts as short (one a hot wait would have
// caught). Tests change them: a long bound tells a wake-up from the end
// of the budget, and a zero window spares a hot wait the yield to the
// test's own busy peer socket.
var (
	hotMax          = newAtomicDuration(hotMaxDefault) // read by the watchdog
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
	hotMax.Store(int64(pick(max, hotMaxDefault)))
	hotWindow = pick(window, hotWindowDefault)
	hotEligible = pick(eligible, hotEligibleDefault)
	unregisterEvery = pick(every, unregisterEveryDefault)
}

// hotTick is the watchdog's period.
func hotTick() time.Duration {
	return max(min(time.Duration(hotMax.Load())/2, hotTickMax), 50*time.Microsecond)
}

func newAtomicDuration(d time.Duration) *atomic.Int64 {
	var a atomic.Int64
	a.Store(int64(d))
	return &a
}

// hotSlot is one of the process's hot-wait slots.
type hotSlot struct {
	busy atomic.Bool
	c    *hotC // the C half: the blocked thread, the stop flag
	// start and until are when the holder took the slot (0 while free or
	// being taken) and when its wait must be over (nanotime; 0: no
	// deadline); expired is set by the watchdog when it ended the wait.
	start   atomic.Int64
	until   atomic.Int64
	expired atomic.Bool
}

var hotSlots [maxHotSlots]hotSlot

// The slots' C halves are made before any slot is taken: a watchdog that
// sees a slot busy reads its C half at once.
func init() {
	for i := range hotSlots {
		hotSlots[i].c = hotNewC()
	}
}

// hotProcs is GOMAXPROCS, read at start and by the watchdog at each tick
// (runtime.GOMAXPROCS takes the scheduler's lock: too dear per receive).
var hotProcs = func() *atomic.Int32 {
	var n atomic.Int32
	n.Store(int32(runtime.GOMAXPROCS(0)))
	return &n
}()

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

// hotAcquire takes a free slot for a wait that must be over by until, or
// returns nil.
func hotAcquire(until int64) *hotSlot {
	n := int(hotProcs.Load())
	if n < 2 {
		// Perhaps raised since (only a running watchdog refreshes it).
		n = runtime.GOMAXPROCS(0)
		hotProcs.Store(int32(n))
		if n < 2 {
			return nil
		}
	}
	for i := range min(n, maxHotSlots) {
		sl := &hotSlots[i]
		if sl.busy.Load() || !sl.busy.CompareAndSwap(false, true) {
			continue
		}
		sl.expired.Store(false)
		sl.until.Store(until)
		sl.start.Store(nanotime()) // last: the watchdog looks once it is set
		// After busy is set: a watchdog about to return sees it.
		hotWatch()
		return sl
	}
	return nil
}

// release frees the slot.
func (sl *hotSlot) release() {
	sl.start.Store(0)
	sl.busy.Store(false)
}

// stop ends the wait blocked under the slot, if any (see the top of the
// file).
func (sl *hotSlot) stop() {
	atomic.StoreInt32(hotStopFlag(sl.c), 1)
	if tid := atomic.LoadInt32(hotTid(sl.c)); tid != 0 {
		syscall.Tgkill(hotPid, int(tid), syscall.SIGURG)
	}
}

var hotPid = os.Getpid()

// The watchdog: one goroutine, started by the first hot wait and gone
// after hotIdleTicks without one, that ends hot waits past their bound.
var watchdogOn atomic.Bool

func hotWatch() {
	if !watchdogOn.Load() && watchdogOn.CompareAndSwap(false, true) {
		hotProcs.Store(int32(runtime.GOMAXPROCS(0)))
		go watchdog()
	}
}

func watchdog() {
	idle := 0
	for {
		tick := hotTick()
		time.Sleep(tick)
		hotProcs.Store(int32(runtime.GOMAXPROCS(0)))
		now := nanotime()
		busy := false
		for i := range hotSlots {
			sl := &hotSlots[i]
			if !sl.busy.Load() {
				continue
			}
			busy = true
			start := sl.start.Load()
			if start == 0 {
				continue // being taken
			}
			u := sl.until.Load()
			if now-start >= hotMax.Load() || (u != 0 && now+int64(tick) >= u) {
				sl.expired.Store(true)
				sl.stop()
			}
		}
		if busy {
			idle = 0
			continue
		}
		if idle++; idle < hotIdleTicks {
			continue
		}
		watchdogOn.Store(false)
		// A slot taken since the scan found the watchdog still on.
		if !hotAnyBusy() || !watchdogOn.CompareAndSwap(false, true) {
			return
		}
		idle = 0
	}
}

func hotAnyBusy() bool {
	for i := range hotSlots {
		if hotSlots[i].busy.Load() {
			return true
		}
	}
	return false
}

// hotEligibleNow reports whether a wait of the socket may be hot: most of
// its recent waits of that kind were short, by score (shortWaits for
// receives, shortSendWaits for batch sends).
func (s *Socket) hotEligibleNow(score int32) bool {
	return hotOn.Load() && score >= shortWaitsOne/2 && s.hotZFD >= 0
}

// shortWaitsOne is 1.0 in the short-wait scores' fixed point.
const shortWaitsOne = 1 << 10

// noteWait records how long a receive waited (0: it did not wait).
//
// The score is a moving share of short waits (over about the last 8), not
// an average of their durations: a parked wait takes longer than a hot
// one, so an average that one long wait had pushed over the bound could
// stay there on parked waits alone, and the socket would never wait hot
// again. A parked wait that a hot wait would have caught counts as short.
func (s *Socket) noteWait(d time.Duration) {
	scoreWait(&s.shortWaits, d)
	hotSeen(s.id)
}

// noteSendWait records how long a batch send waited for room.
func (s *Socket) noteSendWait(d time.Duration) { scoreWait(&s.shortSendWaits, d) }

// scoreWait moves score, a share of short waits, by a wait of d.
func scoreWait(score *int32, d time.Duration) {
	hit := int32(0)
	if d <= hotEligible {
		hit = shortWaitsOne
	}
	*score += (hit - *score) / 8
}

// sinceOrZero is the time since start, or 0 for a zero start (no wait).
func sinceOrZero(start time.Time) time.Duration {
	if start.IsZero() {
		return 0
	}
	return time.Since(start)
}

// The sockets that received lately, as (socket id, nanotime) pairs: when
// another socket is busy too (an in-process server, a second stream), a
// hot wait first yields its P (see hotCall).
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

// errHotSkip: the hot wait did not start.
var errHotSkip = errors.New("hot wait skipped")

// hotCall makes try, a receive or a batch send called with s.mu held, as
// a hot wait: try runs with DONTWAIT cleared, blocking in libzmq,
// interruptible (see the top of the file). got reports that try
// succeeded; false with a nil error means the caller waits the usual way:
// no slot was free, the wait ran out, or another goroutine needs the
// socket.
func (s *Socket) hotCall(lim *Limit, flags zmq4.Flag, try func(zmq4.Flag) error) (got bool, err error) {
	if lim.Ctx.Err() != nil || s.closed.Load() {
		return false, nil
	}
	var until int64
	if lim.Deadline.IsZero() && lim.Timeout >= 0 {
		// Fixed here as await would fix it, so that no wait stretches it.
		lim.Deadline = time.Now().Add(lim.Timeout)
	}
	if !lim.Deadline.IsZero() {
		until = int64(lim.Deadline.Sub(epoch)) // in nanotime's terms
	}
	if d, ok := lim.Ctx.Deadline(); ok {
		if u := int64(d.Sub(epoch)); until == 0 || u < until {
			until = u
		}
	}
	if until != 0 && until-nanotime() < 2*int64(hotTick()) {
		return false, nil // too close to its end: park, which is exact
	}
	sl := hotAcquire(until)
	if sl == nil {
		return false, nil
	}
	defer sl.release()
	s.unregister()
	s.watchCtx(lim)
	if f := s.onHot; f != nil {
		f()
	}
	if !hotAlone(s.id) {
		// Goroutines left runnable on this P (an in-process peer woken
		// by the netpoller, say) would wait for sysmon to retake the P
		// from the blocked thread, up to 10 ms when it sleeps deeply:
		// round trips of 15 ms were measured so. Run them first.
		runtime.Gosched()
	}
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return false, errs.Closed
		}
		atomic.StoreInt32(hotStopFlag(sl.c), 0)
		s.hot.Store(sl)
		s.hotSeq.Add(1) // odd: a hot wait is on
		// A cancel, Close or locker that came before the add above is
		// seen here; one that comes after stops the wait (hotStop).
		err := errHotSkip
		if s.lockers.Load() == 0 && lim.Ctx.Err() == nil && !sl.expired.Load() {
			s.seam.hot = sl.c
			err = try(flags &^ zmq4.DONTWAIT)
			s.seam.hot = nil
		}
		s.hotSeq.Add(1)
		s.hot.Store(nil)
		s.mu.Unlock()
		switch {
		case err == nil:
			return true, nil
		case err == errHotSkip || isAgain(err):
			// isAgain: libzmq's own RCVTIMEO, set through Raw.
			return false, nil
		case isIntr(err):
			if sl.expired.Load() || s.lockers.Load() != 0 {
				return false, nil
			}
			// A poke, a stale wake-up, a signal meant for someone else:
			// look again.
		default:
			return false, s.closedOr(errno(err))
		}
	}
}

// hotStop ends the hot wait in progress on this socket, if any, and
// returns once it is over.
func (s *Socket) hotStop() {
	seq := s.hotSeq.Load()
	if seq&1 == 0 {
		return
	}
	sl := s.hot.Load()
	for i := 0; sl != nil && s.hotSeq.Load() == seq; i++ {
		// Again and again: a signal that lands before the thread blocks
		// is lost (the watchdog ends the wait in the end regardless).
		if i%64 == 0 {
			sl.stop()
		}
		if i < 1000 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// lock takes s.mu, first ending a hot wait that holds it.
func (s *Socket) lock() {
	if s.mu.TryLock() {
		return
	}
	s.lockers.Add(1)
	s.hotStop()
	s.mu.Lock()
	s.lockers.Add(-1)
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

// OnHot calls f each time a receive or a batch send is about to wait hot
// (tests only). Install it before another goroutine uses the socket.
func (s *Socket) OnHot(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onHot = f
}

// Polled reports whether the socket is registered with the netpoller
// (tests only).
func (s *Socket) Polled() bool { return s.w.Load() != nil }
