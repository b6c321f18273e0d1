package zmq

import (
	"time"

	"github.com/zmqguard/zmqguard/internal/engine"
)

// Test hooks. This file is compiled only with the tests; it reaches into
// unexported fields so that tests can inject faults and observe states
// that libzmq cannot be made to produce on demand.

// SetSendFault installs f as the socket's multipart fault-injection hook:
// it is consulted before each frame of SendMessage and a non-nil result
// fails that frame as if libzmq had refused it. nil removes the hook.
func SetSendFault(s *Socket, f func(frame int) error) { s.core.SetSendFault(f) }

// SetFlatCut makes the next multipart message s sends in one call into
// libzmq stop after frames frames, as when its connection ends half-way.
func SetFlatCut(s *Socket, frames int) { s.core.SetFlatCut(frames) }

// OnPark calls f each time a blocking call on s is about to park in the
// netpoller (the readiness check found the socket not ready). Tests use it
// to know that a call is blocked instead of sleeping. The hook survives
// Reset. Install it before the socket is used by another goroutine.
func OnPark(s *Socket, f func()) { s.core.OnPark(f) }

// WithSeamFallback makes the context's sockets use pebbe/zmq4's calls
// instead of the direct seam, so the fallback path stays tested.
func WithSeamFallback() ContextOption {
	return func(c *Context) error { c.seamFallback = true; return nil }
}

// UsesDirectSeam reports whether s talks to libzmq through the direct seam.
func UsesDirectSeam(s *Socket) bool { return s.core.Direct() }

// RecvArmed reports whether s's next blocking receive tries inside an
// armed wait (its last ones had to wait).
func RecvArmed(s *Socket) bool { return s.core.Armed() }

// AuthAdmits reports whether a admits a NULL peer from addr on a socket of
// the ZAP domain.
func AuthAdmits(a *Authenticator, domain, addr string) bool {
	ok, _ := a.admits(domain, addr, "NULL", nil)
	return ok
}

// SetHotWait turns the engine's hot wait on or off for the process. With
// testing on, one hot wait lasts up to an hour (so that only a wake-up
// ends it), long recent waits (a loaded machine) do not prevent it, it
// does not yield to the test's own busy peer socket first, and every hot
// wait leaves the netpoller; off restores the defaults.
func SetHotWait(on, testing bool) {
	engine.SetHotWait(on)
	if testing {
		engine.SetHotTuning(time.Hour, 0, time.Hour, 0)
	} else {
		engine.SetHotTuning(-1, -1, -1, -1)
	}
}

// HotWait reports whether the hot wait is on.
func HotWait() bool { return engine.HotWait() }

// OnHotWait calls f each time a receive or a batch send on s is about to
// wait hot.
func OnHotWait(s *Socket, f func()) { s.core.OnHot(f) }

// Registered reports whether s is registered with the netpoller.
func Registered(s *Socket) bool { return s.core.Polled() }

// SetHotTuning sets the hot wait's bound, busy window, short-wait bound
// and the least time between two unregistrations (negative: the default).
func SetHotTuning(max, window, eligible, every time.Duration) {
	engine.SetHotTuning(max, window, eligible, every)
}

// MsgBufCap returns the capacity of m's own copy buffer.
func MsgBufCap(m *Msg) int { return m.m.BufCap() }
