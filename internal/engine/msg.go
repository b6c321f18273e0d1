package engine

import (
	"errors"
	"runtime"
	"sync/atomic"

	zmq4 "github.com/pebbe/zmq4"
)

// ErrMsgClosed is returned by a Msg's methods after Close; Bytes panics
// with it.
var ErrMsgClosed = errors.New("zmq: message closed")

// DefaultCopyBelow is the frame size under which a receive into a Msg
// copies the frame into the Msg's own buffer (releasing libzmq's message
// at once) instead of keeping a view of libzmq's message. Measured on the
// project's 2-core machine (docs/BENCHMARKS.md, "Message memory"): the
// copy costs no throughput up to 1 KiB and loses from 4 KiB.
const DefaultCopyBelow = 2048

// DefaultPinBelow is the frame size under which a send without a copy
// (SendPinned) copies all the same: pinning, tracking and the completion
// from libzmq's thread cost more than the copy up to 4 KiB over tcp and
// inproc, and pay from 16 KiB (docs/BENCHMARKS.md, "Message memory").
const DefaultPinBelow = 16384

// Msg is one frame whose memory the application controls: libzmq's own
// message (received without a copy, or allocated for a send without a
// copy), or a copy in a buffer of the Msg's own, reused from frame to
// frame. Both live in C memory that the Msg owns (rx), which also says
// which of the two the Msg holds, so that a batch of Msgs crosses into
// libzmq in one call with no bookkeeping per frame on the Go side. The
// zero value is an empty Msg. A Msg is used by one goroutine at a time.
type Msg struct {
	_       noCopy
	rx      *crx // created on first use; nil after Close
	cleanup runtime.Cleanup
	closed  bool
}

// noCopy makes go vet's copylocks check report a copied Msg: two copies
// would share, and both release, one C half.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// MsgLeaked, when set, is called (on the runtime's cleanup goroutine)
// when a Msg that had C memory became unreachable without Close; that
// memory is released all the same. Package zmq sets it.
var MsgLeaked atomic.Pointer[func()]

func leaked(rx *crx) {
	rxFree(rx)
	if f := MsgLeaked.Load(); f != nil {
		(*f)()
	}
}

// cmsg returns the Msg's C half, creating it on first use. The runtime
// cleanup that releases it when the Msg is dropped unclosed is a safety
// net that reports a leak; Close is what releases it.
func (m *Msg) cmsg() *crx {
	if m.rx == nil {
		m.rx = rxNew()
		if m.rx == nil {
			panic("zmq: out of C memory for a message")
		}
		m.cleanup = runtime.AddCleanup(m, leaked, m.rx)
	}
	return m.rx
}

// Bytes returns the frame's bytes, valid until the Msg is received into,
// sent, changed or closed. It panics with ErrMsgClosed after Close.
func (m *Msg) Bytes() []byte {
	if m.rx == nil {
		if m.closed {
			panic(ErrMsgClosed)
		}
		return nil
	}
	if m.rx.copied == inMsg && m.rx.data == nil {
		return nil
	}
	return rxView(m.rx)
}

// Len returns the frame's size.
func (m *Msg) Len() int {
	if m.rx == nil {
		return 0
	}
	return int(m.rx.size)
}

// More reports whether another frame of the same message follows this one.
func (m *Msg) More() bool { return m.rx != nil && m.rx.more != 0 }

// SetMore sets whether another frame of the same message follows this one
// (a send adds SNDMORE).
func (m *Msg) SetMore(more bool) {
	if m.closed {
		return
	}
	v := 0
	if more {
		v = 1
	}
	m.cmsg().more = cint(v)
}

// IsView reports whether the frame is libzmq's message (a view), not in
// the Msg's own memory (its buffer, or inline in its message struct).
func (m *Msg) IsView() bool { return m.rx != nil && m.rx.copied == inMsg && m.rx.data != nil }

// BufCap returns the capacity of the Msg's own copy buffer (tests only).
func (m *Msg) BufCap() int {
	if m.rx == nil {
		return 0
	}
	return int(m.rx.cap)
}

// SetBytes makes the frame a copy of b: in the Msg's own buffer under
// DefaultCopyBelow bytes, else in a libzmq message (copied in C, as
// zmq_send would), which a send then hands over without a second copy.
func (m *Msg) SetBytes(b []byte) error {
	if m.closed {
		return ErrMsgClosed
	}
	rx := m.cmsg()
	ok := false
	if len(b) < DefaultCopyBelow {
		ok = rxSetCopy(rx, b)
	} else {
		ok = rxCopyMsg(rx, b)
	}
	if !ok {
		return errs.Errno(12) // ENOMEM
	}
	return nil
}

// Alloc makes the frame size bytes of libzmq's memory and returns them to
// be filled; a send hands them to libzmq without a copy.
func (m *Msg) Alloc(size int) ([]byte, error) {
	if m.closed {
		return nil, ErrMsgClosed
	}
	if size < 0 {
		return nil, errs.Invalid
	}
	rx := m.cmsg()
	if rxAlloc(rx, size) == nil && size > 0 {
		return nil, errs.Errno(12) // ENOMEM
	}
	return rxView(rx), nil
}

// Close releases the frame's memory, and the Msg's C memory: views it gave
// out must no longer be used. A second Close returns ErrMsgClosed.
func (m *Msg) Close() error {
	if m.closed {
		return ErrMsgClosed
	}
	if m.rx != nil {
		m.cleanup.Stop()
		rxFree(m.rx)
		m.rx = nil
	}
	m.closed = true
	return nil
}

// recvFrom receives one frame into the Msg.
func (m *Msg) recvFrom(s *seam, flags zmq4.Flag, k *sink) error {
	if m.closed {
		return ErrMsgClosed
	}
	rx := m.cmsg()
	if s.rx == nil {
		// The fallback seam: pebbe's calls, then a copy.
		data, err := s.raw.RecvBytes(flags)
		if err != nil {
			rxSetCopy(rx, nil)
			rx.copied, rx.more = inMsg, 0
			return rawErrno(err)
		}
		more, err := s.raw.GetRcvmore()
		if err != nil {
			return rawErrno(err)
		}
		if !rxSetCopy(rx, data) {
			return errs.Errno(12)
		}
		m.SetMore(more)
		k.n, k.more = len(data), more
		return nil
	}
	if err := s.recvMsg(rx, flags, k.copyBelow-1); err != nil {
		return err
	}
	k.n, k.more = int(rx.size), rx.more != 0
	return nil
}
