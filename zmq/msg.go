package zmq

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"unsafe"

	"github.com/zmqguard/zmqguard/internal/engine"
)

// Msg is one frame whose memory the application controls, for receiving
// and sending without a copy (docs/MIGRATION.md, "Which receive and send
// to use"):
//
//   - Socket.RecvMsg keeps libzmq's message and Bytes is a view of it: no
//     copy, no Go allocation. A frame under the socket's copy threshold
//     (SetCopyThreshold, DefaultCopyThreshold) is copied into the Msg's
//     own buffer instead, which the Msg reuses from frame to frame, and
//     libzmq's memory is released at once (a frame that libzmq keeps
//     inside the message struct the Msg owns, up to 32 bytes, stays
//     there: it holds no buffer of libzmq's).
//   - Alloc returns libzmq memory to fill; Socket.SendMsg then hands it
//     to libzmq without a copy. A received Msg is forwarded the same way.
//
// The zero value is an empty Msg, ready to receive into. The bytes Bytes
// returns stay valid until the Msg is received into again, sent, changed
// or closed: a Msg reused in a loop costs no allocation per frame. Close
// releases its memory; after Close, Bytes panics with ErrMsgClosed and the
// other methods (and receives and sends into it) return ErrMsgClosed, so a
// released Msg is never read by mistake. Calling Close twice returns
// ErrMsgClosed. A Msg dropped without Close is released by a runtime
// cleanup, which also reports the leak (OnMsgLeak); do not rely on it.
//
// A Msg's memory does not belong to any socket: it may outlive the
// socket it came from, and its context.
//
// A Msg must not be copied once used (pass a *Msg; go vet reports
// copies), and it is used by one goroutine at a time.
type Msg struct {
	m engine.Msg
}

// ErrMsgClosed is returned by a Msg's methods, and by receives and sends
// into it, after its Close; Msg.Bytes panics with it.
var ErrMsgClosed = engine.ErrMsgClosed

// DefaultCopyThreshold is the copy threshold of a new socket: a frame
// received into a Msg under this size is copied into the Msg's buffer
// rather than kept as a view of libzmq's memory. Measured on the
// project's machine (docs/BENCHMARKS.md, "Message memory"): copying costs
// nothing up to 1 KiB and loses from 4 KiB.
const DefaultCopyThreshold = engine.DefaultCopyBelow

// DefaultNoCopyThreshold is the no-copy threshold of a new socket:
// SendNoCopy copies a frame under this size rather than pinning it.
// Measured on the project's machine (docs/BENCHMARKS.md, "Message
// memory"): pinning and tracking cost more than the copy up to 4 KiB, and
// pay from 16 KiB (pyzmq's threshold is 64 KiB).
const DefaultNoCopyThreshold = engine.DefaultPinBelow

// Bytes returns the frame's bytes, valid until the Msg is received into,
// sent, changed or closed. It panics with ErrMsgClosed after Close.
func (m *Msg) Bytes() []byte { return m.m.Bytes() }

// Len returns the frame's size.
func (m *Msg) Len() int { return m.m.Len() }

// More reports whether another frame of the same message followed this
// one when it was received.
func (m *Msg) More() bool { return m.m.More() }

// SetMore sets whether another frame of the same message follows this
// one: SendMsgs sends it with SNDMORE.
func (m *Msg) SetMore(more bool) { m.m.SetMore(more) }

// IsView reports whether Bytes is a view of libzmq's memory (a frame
// received without a copy, or from Alloc), not the Msg's own memory (a
// copy, or a very small frame kept inside the Msg).
func (m *Msg) IsView() bool { return m.m.IsView() }

// SetBytes makes the frame a copy of b, in the Msg's own buffer (reused:
// no allocation once it is large enough).
func (m *Msg) SetBytes(b []byte) error { return m.m.SetBytes(b) }

// Alloc makes the frame size bytes of libzmq's memory and returns them
// for the application to fill; SendMsg then sends them without a copy.
func (m *Msg) Alloc(size int) ([]byte, error) { return m.m.Alloc(size) }

// Close releases the frame's memory: the views Bytes gave out must no
// longer be used. It returns ErrMsgClosed when called again.
func (m *Msg) Close() error { return m.m.Close() }

// Tracker follows a send without a copy (SendNoCopy), as pyzmq's
// MessageTracker: the buffer belongs to libzmq, and must not change,
// until Done is closed.
type Tracker struct {
	t *engine.Tracker
}

// Done is closed once libzmq no longer uses the buffer: the frame was
// written out, delivered, or dropped (Close, Term, LINGER).
func (t *Tracker) Done() <-chan struct{} { return t.t.Done() }

// Wait blocks until Done is closed or ctx ends; then it returns ctx's
// error.
func (t *Tracker) Wait(ctx context.Context) error { return t.t.Wait(ctx) }

// TruncatedError reports a frame received by RecvInto that did not fit
// the buffer: the buffer holds its first len(buf) bytes. It matches
// ErrTruncated.
type TruncatedError struct {
	Size int // the frame's full size
	Len  int // the buffer's size
}

// ErrTruncated is matched by a *TruncatedError.
var ErrTruncated = errors.New("zmq: frame truncated")

// Error says how much was cut.
func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%v: %d-byte frame into a %d-byte buffer", ErrTruncated, e.Size, e.Len)
}

// Unwrap returns ErrTruncated.
func (e *TruncatedError) Unwrap() error { return ErrTruncated }

var leaks atomic.Uint64

// OnMsgLeak sets the function called, on the runtime's cleanup goroutine,
// each time a Msg that held memory is garbage-collected without Close
// (its memory is released then). nil restores the default, which logs the
// first leak with package log and counts the rest silently.
func OnMsgLeak(f func()) {
	if f == nil {
		f = logLeak
	}
	engine.MsgLeaked.Store(&f)
}

func logLeak() {
	if leaks.Add(1) == 1 {
		log.Print("zmqguard: a zmq.Msg was garbage-collected without Close; its memory was released late (later leaks are not logged)")
	}
}

func init() { OnMsgLeak(nil) }

// RecvMsg receives a frame into m: without a copy (Bytes is a view of
// libzmq's message) or, under the copy threshold, into m's own buffer.
// It releases what m held before. Without DONTWAIT it blocks for at most
// the receive timeout (SetRcvtimeo). On error m is empty.
func (s *Socket) RecvMsg(m *Msg, flags Flag) error {
	lim := s.recvLimit()
	return s.core.RecvMsg(&lim, &m.m, flags)
}

// RecvMsgs receives up to len(ms) frames in one call into libzmq: it
// blocks (for at most the receive timeout, unless DONTWAIT) for the first
// and takes those already queued after it, and returns how many it
// received. Each Msg is filled as by RecvMsg; More tells where each
// message ends. For small frames this amortises the call into libzmq over
// the whole batch. With more than one Msg it never waits hot (see the
// package documentation): a waiting batch parks at once.
func (s *Socket) RecvMsgs(ms []Msg, flags Flag) (int, error) {
	lim := s.recvLimit()
	return s.core.RecvMsgs(&lim, msgsOf(ms), flags)
}

// RecvInto receives a frame into buf and returns how many bytes of buf it
// filled and whether more frames of the same message follow. A frame
// larger than buf is truncated: buf holds its first len(buf) bytes and
// the error is a *TruncatedError with the frame's size (the frame is
// consumed all the same). Without DONTWAIT it blocks for at most the
// receive timeout.
func (s *Socket) RecvInto(buf []byte, flags Flag) (n int, more bool, err error) {
	lim := s.recvLimit()
	size, more, err := s.core.RecvInto(&lim, buf, flags)
	if err != nil {
		return 0, false, err
	}
	if size > len(buf) {
		return len(buf), more, &TruncatedError{Size: size, Len: len(buf)}
	}
	return size, more, nil
}

// SendMsg sends m as one frame (with SNDMORE in flags when more frames of
// the message follow): libzmq's memory (from Alloc, or a received Msg)
// without a copy, the Msg's own buffer with one. On success m is empty and
// reusable. Without DONTWAIT it blocks for at most the send timeout.
func (s *Socket) SendMsg(m *Msg, flags Flag) error {
	lim := s.sendLimit()
	return s.core.SendMsg(&lim, &m.m, flags)
}

// SendMsgs sends each Msg of ms as one frame, with SNDMORE when its More
// is set, in as few calls into libzmq as it can: views without a copy,
// Go-memory frames through one scratch buffer per call. Without DONTWAIT
// it blocks (for at most the send timeout) while the socket cannot take
// the next message; when its recent such waits were short (a stream its
// peer drains steadily) it waits hot (see the package documentation). It
// returns how many frames it sent; those Msgs are empty. A failure after
// a frame with More set breaks the socket, as in SendMessage
// (ErrPartialMessage).
func (s *Socket) SendMsgs(ms []Msg, flags Flag) (int, error) {
	lim := s.sendLimit()
	return s.core.SendMsgs(&lim, msgsOf(ms), flags)
}

// SendNoCopy sends b as one frame without copying it, as pyzmq's
// send(copy=False, track=True): b stays pinned, and must not change, until
// the returned Tracker is done, which libzmq signals from its own thread
// without running Go code there. A frame under the no-copy threshold is
// copied instead (the copy is cheaper than the tracking) and its Tracker is
// done at once: see SetNoCopyThreshold. Without DONTWAIT it blocks for at
// most the send timeout.
func (s *Socket) SendNoCopy(b []byte, flags Flag) (*Tracker, error) {
	lim := s.sendLimit()
	t, err := s.core.SendPinned(&lim, b, flags)
	if err != nil {
		return nil, err
	}
	return &Tracker{t}, nil
}

// SetRecvAllocator makes alloc provide the memory of every frame this
// socket receives as a []byte (Recv, RecvBytes, RecvMessage,
// RecvMessageBytes, and package timeout's receives): a pool, an arena, or
// buffers with room for in-place bookkeeping. alloc is called with the
// frame's size, with the socket's lock held, and must not use the socket;
// a slice with less capacity than the frame is not used (the frame gets a
// new one). nil restores the default, a new slice per frame. The setting
// survives Reset.
func (s *Socket) SetRecvAllocator(alloc func(size int) []byte) error {
	if s.core.Closed() {
		return ErrorSocketClosed
	}
	s.core.SetAllocator(alloc)
	return nil
}

// SetCopyThreshold sets the socket's copy threshold (DefaultCopyThreshold
// until set; n <= 0 restores it): frames received into a Msg under n bytes
// are copied into its buffer, larger ones are views of libzmq's memory.
func (s *Socket) SetCopyThreshold(n int) error {
	if s.core.Closed() {
		return ErrorSocketClosed
	}
	s.core.SetCopyBelow(n)
	return nil
}

// GetCopyThreshold returns the socket's copy threshold.
func (s *Socket) GetCopyThreshold() (int, error) {
	if s.core.Closed() {
		return 0, ErrorSocketClosed
	}
	return s.core.CopyBelow(), nil
}

// msgsOf views ms as the engine's Msgs: a Msg is exactly an engine.Msg.
func msgsOf(ms []Msg) []engine.Msg {
	if len(ms) == 0 {
		return nil
	}
	return unsafe.Slice((*engine.Msg)(unsafe.Pointer(unsafe.SliceData(ms))), len(ms))
}

// SetNoCopyThreshold sets the socket's no-copy threshold
// (DefaultNoCopyThreshold until set; n <= 0 restores it): SendNoCopy
// copies frames under n bytes.
func (s *Socket) SetNoCopyThreshold(n int) error {
	if s.core.Closed() {
		return ErrorSocketClosed
	}
	s.core.SetPinBelow(n)
	return nil
}

// GetNoCopyThreshold returns the socket's no-copy threshold.
func (s *Socket) GetNoCopyThreshold() (int, error) {
	if s.core.Closed() {
		return 0, ErrorSocketClosed
	}
	return s.core.PinBelow(), nil
}
