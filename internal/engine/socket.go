package engine

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

// Socket is the no-hang core of one libzmq socket: its seam, its waiter on
// ZMQ_FD, and the state of the one wait in progress. Package zmq embeds one
// in every zmq.Socket. The zero value is unusable; call Init.
//
// Concurrency: see the package documentation.
type Socket struct {
	// retryEINTR is the owning context's setting (see zmq.Context).
	retryEINTR *atomic.Bool
	direct     bool // use the direct seam (else pebbe/zmq4's calls)

	// mu is held around every call into libzmq. Callers take turns by
	// contract; mu exists so that Close from another goroutine waits for
	// an in-flight libzmq call instead of freeing the socket under it.
	mu     sync.Mutex
	seam   seam
	closed atomic.Bool
	w      atomic.Pointer[waiter]
	// spare, when >= 0, is a duplicate of ZMQ_FD that is not registered
	// with the netpoller: what a hot wait keeps in place of the waiter it
	// closed (hot.go), so that registering again needs no new descriptor.
	spare int

	// State of the current wait (one waiter at a time, by contract).
	want    zmq4.State
	waitErr error
	checked bool       // ready has checked ZMQ_EVENTS once in this wait
	seen    zmq4.State // what that check found (WaitUntil reports it)
	// armed, when on, replaces that check by the receive itself (see
	// armedRecv); recvWaits counts the last blocking receives in a row
	// that had to wait (up to armAfter), which is when the next one uses
	// it.
	armed     armedRecv
	recvWaits uint8
	inMessage bool // the last frame received had more to follow
	readyFn   func(uintptr) bool
	// The context.AfterFunc registration that wakes the waiter when the
	// context whose Done channel is watchDone ends (see watchLocked).
	watchDone <-chan struct{}
	watchStop func() bool
	wakeFn    func()
	// parked is set while a goroutine waits on ZMQ_FD (see Poke).
	parked atomic.Bool

	// The hot wait (hot.go): the socket's id for hotRecent, the slot of
	// the hot wait in progress and its sequence number (odd while one is
	// on), the goroutines waiting in lock, the socket's ZMQ_FD, and the
	// share of its recent receive waits that were short (noteWait), and
	// of its batch sends' waits for room (noteSendWait).
	id             uint64
	hot            atomic.Pointer[hotSlot]
	hotSeq         atomic.Uint64
	lockers        atomic.Int32
	hotZFD         int
	shortWaits     int32
	shortSendWaits int32
	// unregisteredAt is when a hot wait last took the socket out of the
	// netpoller (nanotime; see unregister).
	unregisteredAt int64
	onHot          func() // tests

	// alloc, when set, provides the memory of every frame received as a
	// []byte (SetAllocator); copyBelowN is the copy threshold of Msg
	// receives (0: DefaultCopyBelow), pinBelowN that of SendPinned (0:
	// DefaultPinBelow).
	alloc      func(int) []byte
	copyBelowN int
	pinBelowN  int
	// Scratch of the batched receives and sends, reused: the Msgs' C
	// halves (kept alive by the Msgs).
	rxs []uintptr

	// broken is set when a multipart send failed half-way; every later
	// send returns it until Reset.
	broken error
	// sendFault, when set (by tests), is consulted before each frame of a
	// multipart send: a fault-injection hook for failures libzmq cannot be
	// made to produce on demand.
	sendFault func(frame int) error
	// flatCut, when set (by tests), cuts the next message sent in one call
	// after that many frames, as a connection that ends half-way does.
	flatCut int
}

// Init makes raw the socket's libzmq socket. direct selects the direct
// seam (false: pebbe/zmq4's calls, for the fallback tests); retryEINTR is
// the owning context's EINTR setting.
func (s *Socket) Init(raw *zmq4.Socket, direct bool, retryEINTR *atomic.Bool) {
	s.retryEINTR, s.direct = retryEINTR, direct
	s.readyFn = s.ready
	s.wakeFn = s.wake
	s.id = socketIDs.Add(1)
	s.spare = -1
	s.adopt(raw)
}

// adopt makes raw the socket's libzmq socket.
func (s *Socket) adopt(raw *zmq4.Socket) {
	// zmqguard closes sockets explicitly (Close, Context.Term); a
	// finalizer closing a socket on the runtime's finalizer goroutine can
	// block it in libzmq, so pebbe's is removed.
	runtime.SetFinalizer(raw, nil)
	s.seam = newSeam(raw, s.direct)
	s.inMessage, s.recvWaits = false, 0
	s.hotFDLocked()
}

// Closed reports whether Close has begun.
func (s *Socket) Closed() bool { return s.closed.Load() }

// Raw returns the current libzmq socket.
func (s *Socket) Raw() *zmq4.Socket {
	s.lock()
	defer s.mu.Unlock()
	return s.seam.raw
}

// Locked runs f on the libzmq socket under the socket's lock, or returns
// the closed error once Close has begun. f must not block.
func (s *Socket) Locked(f func(raw *zmq4.Socket) error) error {
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return errs.Closed
	}
	return f(s.seam.raw)
}

// Call is Locked retrying EINTR (unless the context says otherwise), and
// then wakes a parked receiver (see Poke). f's errors pass through as f
// returned them; EINTR is recognised in pebbe/zmq4's form too.
func (s *Socket) Call(f func(raw *zmq4.Socket) error) error {
	err := s.Locked(func(raw *zmq4.Socket) error {
		for {
			err := f(raw)
			if err == nil || !isIntr(rawErrno(err)) || !s.retryEINTR.Load() {
				return err
			}
		}
	})
	s.Poke()
	return err
}

// Close marks the socket closed, wakes every parked call (they return the
// closed error), then runs release on the libzmq socket under the lock
// (the caller stops monitors and closes the socket there) and frees the
// seam. Call it once.
func (s *Socket) Close(release func(raw *zmq4.Socket) error) error {
	s.closed.Store(true)
	s.hotStop()
	s.closeWaiter()
	s.lock()
	// A waiter created meanwhile (by a call that took mu before closed
	// was set) is closed after mu is released: its readiness callback may
	// be waiting for mu, and closing the waiter waits for that callback.
	// Once it has mu it sees closed and never touches the freed socket.
	late := s.w.Swap(nil)
	s.dropSpareLocked()
	s.unwatchLocked()
	err := release(s.seam.raw)
	s.seam.free()
	s.mu.Unlock()
	if late != nil {
		late.close()
	}
	return err
}

// ResetLocked replaces the libzmq socket with raw, inside Locked: it wakes
// parked calls (they look again, at the new socket), lets retire dispose
// of the old socket, and clears the broken state of a failed multipart
// send.
func (s *Socket) ResetLocked(raw *zmq4.Socket, retire func(old *zmq4.Socket)) {
	old := s.seam
	s.closeWaiter()
	s.dropSpareLocked() // a duplicate of the old socket's ZMQ_FD
	retire(old.raw)
	old.free()
	s.adopt(raw)
	s.broken = nil
}

func (s *Socket) closeWaiter() {
	if w := s.w.Swap(nil); w != nil {
		w.close()
	}
}

// dropSpareLocked closes the spare descriptor, if any. The caller holds
// s.mu.
func (s *Socket) dropSpareLocked() {
	if s.spare >= 0 {
		syscall.Close(s.spare)
		s.spare = -1
	}
}

// Limit is what bounds one blocking call.
type Limit struct {
	Ctx      context.Context
	Deadline time.Time     // absolute; zero means use Timeout
	Timeout  time.Duration // relative to the first wait; <0 forever, 0 never waits
}

// SetSendFault installs the multipart fault-injection hook (tests only):
// f is consulted before each frame of SendMessage, and a non-nil result
// fails that frame as if libzmq had refused it. nil removes it.
func (s *Socket) SetSendFault(f func(frame int) error) {
	s.lock()
	defer s.mu.Unlock()
	s.sendFault = f
}

// SetFlatCut makes the next multipart message sent in one call into
// libzmq stop after frames frames with EAGAIN, as when its connection
// ends half-way (tests only).
func (s *Socket) SetFlatCut(frames int) {
	s.lock()
	defer s.mu.Unlock()
	s.flatCut = frames
}

// OnPark calls f each time a blocking call is about to park (tests only).
// Install it before another goroutine uses the socket.
func (s *Socket) OnPark(f func()) {
	s.lock()
	defer s.mu.Unlock()
	next := s.readyFn
	s.readyFn = func(fd uintptr) bool {
		ok := next(fd)
		if !ok {
			f()
		}
		return ok
	}
}

// directSeam reports, without the lock, whether the socket was made for the
// direct seam (fixed at Init; the seam's handle is gone once closed).
func (s *Socket) directSeam() bool { return s.direct && directHandles }

// Direct reports whether the socket talks to libzmq through the direct
// seam rather than pebbe/zmq4's calls.
func (s *Socket) Direct() bool {
	s.lock()
	defer s.mu.Unlock()
	return s.seam.handle != nil
}

// Armed reports whether the next blocking receive tries inside an armed
// wait (its last ones had to wait).
func (s *Socket) Armed() bool { return s.recvWaits >= armAfter }
