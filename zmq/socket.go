package zmq

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

// Socket is a libzmq socket with pebbe/zmq4's method set. On top of it:
// blocking calls park the goroutine instead of an OS thread, honour
// deadlines exactly and never return EINTR; multipart sends are atomic;
// Close is idempotent and safe to call from another goroutine while a call
// is blocked; the socket remembers its options and endpoints so Reset can
// rebuild it.
//
// Concurrency: like every libzmq socket, a Socket must be used by one
// goroutine at a time. The exceptions are Close, which may be called from
// any goroutine at any time (blocked calls then return an error matching
// net.ErrClosed), and Raw.
type Socket struct {
	ctx      *Context
	typ      Type
	internal bool // created by zmqguard itself (monitor sockets)

	// mu is held around every call into libzmq. Callers take turns by
	// contract; mu exists so that Close from another goroutine waits for an
	// in-flight libzmq call instead of freeing the socket under it.
	mu     sync.Mutex
	seam   seam
	closed atomic.Bool
	w      atomic.Pointer[waiter]

	// State of the current wait (one waiter at a time, by contract).
	want    State
	waitErr error
	checked bool  // ready has checked ZMQ_EVENTS once in this wait
	seen    State // what that check found (WaitUntil reports it)
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
	// parked is set while a goroutine waits on ZMQ_FD (see poke).
	parked atomic.Bool

	rcvtimeo time.Duration // exact; -1 blocks forever
	sndtimeo time.Duration

	// broken is set when a multipart send failed half-way; see
	// ErrPartialMessage.
	broken error
	// sendFault, when set (by tests), is consulted before each frame of a
	// multipart send: a fault-injection hook for failures libzmq cannot be
	// made to produce on demand.
	sendFault func(frame int) error

	replay    replayLog
	monitors  map[*Monitor]struct{}
	closeErr  error
	closeOnce sync.Once
}

func newSocket(c *Context, t Type) (*Socket, error) {
	raw, err := c.raw.NewSocket(zmq4.Type(t))
	if err != nil {
		return nil, wrapErr(err)
	}
	s := &Socket{ctx: c, typ: t, rcvtimeo: -1, sndtimeo: -1}
	s.adopt(raw)
	if err := s.SetLinger(c.linger); err != nil {
		s.seam.free()
		raw.Close()
		return nil, err
	}
	return s, nil
}

// adopt makes raw the socket's libzmq socket.
func (s *Socket) adopt(raw *zmq4.Socket) {
	// zmqguard closes sockets explicitly (Close, Context.Term); a
	// finalizer closing a socket on the runtime's finalizer goroutine can
	// block it in libzmq, so pebbe's is removed.
	runtime.SetFinalizer(raw, nil)
	s.seam = newSeam(raw, !s.ctx.seamFallback)
	s.inMessage, s.recvWaits = false, 0
	if s.readyFn == nil {
		s.readyFn = s.ready
		s.wakeFn = s.wake
	}
}

// Raw returns the underlying pebbe/zmq4 socket, for handing to code that
// has not migrated yet. Do not use it concurrently with the Socket, and do
// not close it: close the Socket. Reset replaces it.
func (s *Socket) Raw() *zmq4.Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seam.raw
}

// Type returns the socket's type without a call into libzmq.
func (s *Socket) Type() Type { return s.typ }

// Context returns the socket's context.
func (s *Socket) Context() (*Context, error) {
	if s.closed.Load() {
		return nil, ErrorSocketClosed
	}
	return s.ctx, nil
}

// String describes the socket, like pebbe/zmq4's.
func (s *Socket) String() string {
	if s.closed.Load() {
		return "Socket(CLOSED)"
	}
	return fmt.Sprintf("Socket(%v,%p)", s.typ, s)
}

// call runs f on the raw socket under the socket lock, retrying EINTR.
func (s *Socket) call(f func(raw *zmq4.Socket) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrorSocketClosed
	}
	raw := s.seam.raw
	err := s.ctx.retry(func() error { return f(raw) })
	s.poke()
	return err
}

// Close closes the socket. It is idempotent, safe to call from any
// goroutine, and never hangs: calls blocked on the socket return an error
// matching net.ErrClosed, monitors are stopped and their goroutines waited
// for, and unsent messages are kept for at most the socket's LINGER
// (DefaultLinger unless changed).
func (s *Socket) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeWaiter()
		s.mu.Lock()
		// A waiter created meanwhile (by a call that took mu before
		// closed was set) is closed after mu is released: its readiness
		// callback may be waiting for mu, and closing the waiter waits
		// for that callback. Once it has mu it sees closed and never
		// touches the freed socket.
		late := s.w.Swap(nil)
		s.unwatchLocked()
		mons := s.stopMonitorsLocked()
		s.closeErr = wrapErr(s.seam.raw.Close())
		s.seam.free()
		s.mu.Unlock()
		if late != nil {
			late.close()
		}
		for _, m := range mons {
			m.finish()
		}
		s.ctx.forget(s)
	})
	return s.closeErr
}

func (s *Socket) closeWaiter() {
	if w := s.w.Swap(nil); w != nil {
		w.close()
	}
}

// Reset replaces the libzmq socket with a fresh one of the same type,
// with LINGER 0 on the old one so nothing it had queued is delivered later.
// The new socket gets the options set through this Socket and the same
// binds and connects, in the same order. Reset clears ErrPartialMessage and
// the state of a REQ socket stuck waiting for a reply. Monitors started
// with StartMonitor follow the new socket.
func (s *Socket) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrorSocketClosed
	}
	raw, err := s.ctx.raw.NewSocket(zmq4.Type(s.typ))
	if err != nil {
		return wrapErr(err)
	}
	old := s.seam
	s.closeWaiterLocked()
	mons := s.detachMonitorsLocked()
	old.raw.SetLinger(0)
	old.raw.Close()
	old.free()
	s.adopt(raw)
	s.broken = nil
	// Monitors first, so that they see the new socket's connects.
	s.reattachMonitorsLocked(mons)
	return s.replay.apply(raw, s.ctx.linger)
}

func (s *Socket) closeWaiterLocked() {
	if w := s.w.Swap(nil); w != nil {
		w.close()
	}
}

// Bind binds the socket to endpoint and remembers it for Reset. A
// wildcard endpoint (tcp://127.0.0.1:*) is remembered as the address it
// resolved to, so Reset binds the same port again.
func (s *Socket) Bind(endpoint string) error {
	return s.call(func(raw *zmq4.Socket) error {
		if err := raw.Bind(endpoint); err != nil {
			return err
		}
		remembered := endpoint
		if strings.ContainsAny(endpoint, "*!") {
			if last, err := raw.GetLastEndpoint(); err == nil {
				remembered = last
			}
		}
		s.replay.endpoint(endpointBind, remembered)
		return nil
	})
}

// Unbind stops accepting connections on endpoint.
func (s *Socket) Unbind(endpoint string) error {
	return s.call(func(raw *zmq4.Socket) error {
		s.replay.forgetEndpoint(endpointBind, endpoint)
		return raw.Unbind(endpoint)
	})
}

// Connect connects the socket to endpoint and remembers it for Reset.
func (s *Socket) Connect(endpoint string) error {
	return s.call(func(raw *zmq4.Socket) error {
		if err := raw.Connect(endpoint); err != nil {
			return err
		}
		s.replay.endpoint(endpointConnect, endpoint)
		return nil
	})
}

// Disconnect disconnects the socket from endpoint.
func (s *Socket) Disconnect(endpoint string) error {
	return s.call(func(raw *zmq4.Socket) error {
		s.replay.forgetEndpoint(endpointConnect, endpoint)
		return raw.Disconnect(endpoint)
	})
}

// SetRcvtimeo sets the receive timeout of the blocking receive methods,
// exactly (pebbe/zmq4 truncates to whole milliseconds, so 500µs becomes
// non-blocking). -1 blocks forever, 0 never blocks.
func (s *Socket) SetRcvtimeo(timeout time.Duration) error {
	return s.call(func(raw *zmq4.Socket) error {
		if err := raw.SetRcvtimeo(ceilMillis(timeout)); err != nil {
			return err
		}
		s.rcvtimeo = normTimeout(timeout)
		s.replay.option("Rcvtimeo", func(r *zmq4.Socket) error { return r.SetRcvtimeo(ceilMillis(timeout)) })
		return nil
	})
}

// GetRcvtimeo returns the receive timeout set by SetRcvtimeo (-1: forever).
func (s *Socket) GetRcvtimeo() (time.Duration, error) {
	if s.closed.Load() {
		return 0, ErrorSocketClosed
	}
	return s.rcvtimeo, nil
}

// SetSndtimeo sets the send timeout of the blocking send methods, exactly.
// -1 blocks forever, 0 never blocks.
func (s *Socket) SetSndtimeo(timeout time.Duration) error {
	return s.call(func(raw *zmq4.Socket) error {
		if err := raw.SetSndtimeo(ceilMillis(timeout)); err != nil {
			return err
		}
		s.sndtimeo = normTimeout(timeout)
		s.replay.option("Sndtimeo", func(r *zmq4.Socket) error { return r.SetSndtimeo(ceilMillis(timeout)) })
		return nil
	})
}

// GetSndtimeo returns the send timeout set by SetSndtimeo (-1: forever).
func (s *Socket) GetSndtimeo() (time.Duration, error) {
	if s.closed.Load() {
		return 0, ErrorSocketClosed
	}
	return s.sndtimeo, nil
}

func normTimeout(d time.Duration) time.Duration {
	if d < 0 {
		return -1
	}
	return d
}

// ceilMillis rounds a positive duration up to whole milliseconds, the unit
// of libzmq's options, so that no timeout is truncated toward zero.
func ceilMillis(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}

// limit is what bounds one blocking call.
type limit struct {
	ctx      context.Context
	deadline time.Time     // absolute; zero means use timeout
	timeout  time.Duration // relative to the first wait; <0 forever
}

func (s *Socket) recvLimit() limit {
	return limit{ctx: context.Background(), timeout: s.rcvtimeo}
}

func (s *Socket) sendLimit() limit {
	return limit{ctx: context.Background(), timeout: s.sndtimeo}
}
