package zmq

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/internal/engine"
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

	// core is the no-hang engine: the libzmq socket, its lock and its
	// wait. Everything below that libzmq calls touch is guarded by the
	// core's lock (core.Locked, core.Call).
	core engine.Socket

	rcvtimeo time.Duration // exact; -1 blocks forever
	sndtimeo time.Duration

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
	s.core.Init(raw, !c.seamFallback, &c.retryEINTR)
	if err := s.SetLinger(c.linger); err != nil {
		s.core.Close(func(raw *zmq4.Socket) error { return raw.Close() })
		return nil, err
	}
	return s, nil
}

// Raw returns the underlying pebbe/zmq4 socket, for handing to code that
// has not migrated yet. Do not use it concurrently with the Socket, and do
// not close it: close the Socket. Reset replaces it.
func (s *Socket) Raw() *zmq4.Socket { return s.core.Raw() }

// Type returns the socket's type without a call into libzmq.
func (s *Socket) Type() Type { return s.typ }

// Context returns the socket's context.
func (s *Socket) Context() (*Context, error) {
	if s.core.Closed() {
		return nil, ErrorSocketClosed
	}
	return s.ctx, nil
}

// String describes the socket, like pebbe/zmq4's.
func (s *Socket) String() string {
	if s.core.Closed() {
		return "Socket(CLOSED)"
	}
	return fmt.Sprintf("Socket(%v,%p)", s.typ, s)
}

// call runs f on the raw socket under the socket lock, retrying EINTR, and
// converts its error.
func (s *Socket) call(f func(raw *zmq4.Socket) error) error {
	return wrapErr(s.core.Call(f))
}

// Close closes the socket. It is idempotent, safe to call from any
// goroutine, and never hangs: calls blocked on the socket return an error
// matching net.ErrClosed, monitors are stopped and their goroutines waited
// for, and unsent messages are kept for at most the socket's LINGER
// (DefaultLinger unless changed).
func (s *Socket) Close() error {
	s.closeOnce.Do(func() {
		var mons []*Monitor
		s.closeErr = s.core.Close(func(raw *zmq4.Socket) error {
			mons = s.stopMonitorsLocked(raw)
			return wrapErr(raw.Close())
		})
		for _, m := range mons {
			m.finish()
		}
		s.ctx.forget(s)
	})
	return s.closeErr
}

// Reset replaces the libzmq socket with a fresh one of the same type,
// with LINGER 0 on the old one so nothing it had queued is delivered later.
// The new socket gets the options set through this Socket and the same
// binds and connects, in the same order. Reset clears ErrPartialMessage and
// the state of a REQ socket stuck waiting for a reply. Monitors started
// with StartMonitor follow the new socket.
func (s *Socket) Reset() error {
	return wrapErr(s.core.Locked(func(old *zmq4.Socket) error {
		raw, err := s.ctx.raw.NewSocket(zmq4.Type(s.typ))
		if err != nil {
			return err
		}
		var mons []*Monitor
		s.core.ResetLocked(raw, func(old *zmq4.Socket) {
			mons = s.detachMonitorsLocked(old)
			old.SetLinger(0)
			old.Close()
		})
		// Monitors first, so that they see the new socket's connects.
		s.reattachMonitorsLocked(mons, raw)
		return s.replay.apply(raw, s.ctx.linger)
	}))
}

// Bind binds the socket to endpoint and remembers it for Reset. A
// wildcard endpoint (tcp://127.0.0.1:*) is remembered as the address it
// resolved to, so Reset binds the same port again. An error is an
// *EndpointError; a malformed endpoint is refused before libzmq sees it
// (ErrInvalidEndpoint).
func (s *Socket) Bind(endpoint string) error {
	if err := checkEndpoint(endpoint, true); err != nil {
		return endpointErr("bind", endpoint, err)
	}
	return endpointErr("bind", endpoint, s.call(func(raw *zmq4.Socket) error {
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
	}))
}

// Unbind stops accepting connections on endpoint. An error is an
// *EndpointError.
func (s *Socket) Unbind(endpoint string) error {
	return endpointErr("unbind", endpoint, s.call(func(raw *zmq4.Socket) error {
		s.replay.forgetEndpoint(endpointBind, endpoint)
		return raw.Unbind(endpoint)
	}))
}

// Connect connects the socket to endpoint and remembers it for Reset. An
// error is an *EndpointError; a malformed endpoint is refused before
// libzmq sees it (ErrInvalidEndpoint).
func (s *Socket) Connect(endpoint string) error {
	if err := checkEndpoint(endpoint, false); err != nil {
		return endpointErr("connect", endpoint, err)
	}
	return endpointErr("connect", endpoint, s.call(func(raw *zmq4.Socket) error {
		if err := raw.Connect(endpoint); err != nil {
			return err
		}
		s.replay.endpoint(endpointConnect, endpoint)
		return nil
	}))
}

// Disconnect disconnects the socket from endpoint. An error is an
// *EndpointError.
func (s *Socket) Disconnect(endpoint string) error {
	return endpointErr("disconnect", endpoint, s.call(func(raw *zmq4.Socket) error {
		s.replay.forgetEndpoint(endpointConnect, endpoint)
		return raw.Disconnect(endpoint)
	}))
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
	if s.core.Closed() {
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
	if s.core.Closed() {
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

func (s *Socket) recvLimit() engine.Limit {
	return engine.Limit{Ctx: context.Background(), Timeout: s.rcvtimeo}
}

func (s *Socket) sendLimit() engine.Limit {
	return engine.Limit{Ctx: context.Background(), Timeout: s.sndtimeo}
}
