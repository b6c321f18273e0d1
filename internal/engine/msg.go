package engine

import (
	"errors"

	zmq4 "github.com/pebbe/zmq4"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// ErrMsgClosed is returned by a Msg's methods after Close; Bytes panics
// with it.
var ErrMsgClosed = errors.New("zmq: message closed")

// DefaultCopyBelow is the frame size under which a receive into a Msg
// copies the frame into the Msg's own Go buffer (releasing libzmq's
// message at once) instead of keeping a view of libzmq's memory, and under
// which a send without a copy copies all the same. Measured on the
// project's 2-core machine: docs/BENCHMARKS.md, "Message memory".
const DefaultCopyBelow = 1024

// msgState is what a Msg holds.
type msgState uint8

const (
	msgEmpty  msgState = iota // nothing: the zero value, or after a send
	msgView                   // libzmq's message in rx (received, or Alloc)
	msgCopy                   // buf[:n], Go memory
	msgClosed                 // after Close
)

// Msg is one frame whose memory the application controls: libzmq's own
// message (received without a copy, or allocated for a send without a
// copy), or a copy in Go memory that the Msg reuses from frame to frame.
// The zero value is an empty Msg. A Msg is used by one goroutine at a
// time.
type Msg struct {
	rx      *crx // C memory, created on first use; nil after Close
	cleanup runtime.Cleanup
	buf     []byte // the copy's buffer (Go memory, reused)
	n       int
	state   msgState
	more    bool
}

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

// cmsg returns the Msg's libzmq message, creating it on first use. The
// runtime cleanup that releases it when the Msg is dropped unclosed is
// a safety net that reports a leak; Close is what releases it.
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

// drop forgets the frame; libzmq's message, if any, is released at once.
func (m *Msg) drop() {
	if m.rx != nil && m.rx.data != nil {
		rxReset(m.rx)
	}
	m.n, m.state, m.more = 0, msgEmpty, false
}

// Bytes returns the frame's bytes, valid until the Msg is received into,
// sent, changed or closed. It panics with ErrMsgClosed after Close.
func (m *Msg) Bytes() []byte {
	switch m.state {
	case msgView:
		return rxView(m.rx)
	case msgCopy:
		if m.buf == nil {
			return []byte{}
		}
		return m.buf[:m.n:m.n]
	case msgClosed:
		panic(ErrMsgClosed)
	}
	return nil
}

// Len returns the frame's size.
func (m *Msg) Len() int {
	switch m.state {
	case msgView:
		return int(m.rx.size)
	case msgCopy:
		return m.n
	}
	return 0
}

// More reports whether another frame of the same message follows this one.
func (m *Msg) More() bool { return m.more }

// SetMore sets whether another frame of the same message follows this one
// (SendMsgs sends it with SNDMORE).
func (m *Msg) SetMore(more bool) { m.more = more }

// IsView reports whether the frame is libzmq's memory (a view), not a
// copy in the Msg's Go buffer.
func (m *Msg) IsView() bool { return m.state == msgView }

// Closed reports whether Close was called.
func (m *Msg) Closed() bool { return m.state == msgClosed }

// SetBytes makes the frame a copy of b in the Msg's own buffer.
func (m *Msg) SetBytes(b []byte) error {
	if m.state == msgClosed {
		return ErrMsgClosed
	}
	m.drop()
	m.grow(len(b))
	m.n = copy(m.buf[:len(b)], b)
	m.state = msgCopy
	return nil
}

// grow makes the buffer hold at least n bytes.
func (m *Msg) grow(n int) {
	if cap(m.buf) >= n {
		m.buf = m.buf[:cap(m.buf)]
		return
	}
	c := 64
	for c < n {
		c *= 2
	}
	m.buf = make([]byte, c)
}

// Alloc makes the frame size bytes of libzmq's memory and returns them to
// be filled; a send hands them to libzmq without a copy.
func (m *Msg) Alloc(size int) ([]byte, error) {
	if m.state == msgClosed {
		return nil, ErrMsgClosed
	}
	if size < 0 {
		return nil, errs.Invalid
	}
	m.drop()
	rx := m.cmsg()
	if rxAlloc(rx, size) == nil && size > 0 {
		return nil, errs.Errno(12) // ENOMEM
	}
	m.state = msgView
	return rxView(rx), nil
}

// Close releases the frame's memory, and the Msg's C memory: views it gave
// out must no longer be used. A second Close returns ErrMsgClosed.
func (m *Msg) Close() error {
	if m.state == msgClosed {
		return ErrMsgClosed
	}
	if m.rx != nil {
		m.cleanup.Stop()
		rxFree(m.rx)
		m.rx = nil
	}
	m.buf, m.n, m.state, m.more = nil, 0, msgClosed, false
	return nil
}

// sent records that libzmq took (or copied) the frame.
func (m *Msg) sent() {
	if m.state == msgView {
		m.rx.data, m.rx.size = nil, 0
	}
	m.n, m.state, m.more = 0, msgEmpty, false
}

// fromBytes stores a frame received by the fallback seam.
func (m *Msg) fromBytes(b []byte, more bool) {
	m.drop()
	m.buf, m.n, m.state, m.more = b, len(b), msgCopy, more
}

// recvFrom receives one frame into the Msg over the direct seam.
func (m *Msg) recvFrom(s *seam, flags zmq4.Flag, k *sink) error {
	if m.state == msgClosed {
		return ErrMsgClosed
	}
	rx := m.cmsg()
	copyMax := k.copyBelow - 1
	buf := m.buf[:cap(m.buf)]
	copied, err := s.recvMsg(rx, flags, buf, copyMax)
	if err != nil {
		// libzmq empties the message on a failed receive.
		m.n, m.state, m.more = 0, msgEmpty, false
		return err
	}
	m.settle(copied, int(rx.size), k.copyBelow, nil)
	k.n, k.more = m.Len(), m.more
	return nil
}

// settle records a frame received into rx: copied out already (into the
// buffer, or into the arena when arena is set, at rx.off), or a view. A
// view of a frame under copyBelow bytes (it did not fit the buffer) is
// copied now into a grown buffer; libzmq's message then goes with the
// next receive.
func (m *Msg) settle(copied bool, size, copyBelow int, arena []byte) {
	m.more = m.rx.more != 0
	switch {
	case copied && arena != nil:
		m.grow(size)
		off := int(m.rx.off)
		m.n = copy(m.buf, arena[off:off+size])
		m.state = msgCopy
	case copied:
		m.n, m.state = size, msgCopy
	case size < copyBelow:
		m.grow(size)
		m.n = copy(m.buf, unsafe.Slice((*byte)(m.rx.data), size))
		m.state = msgCopy
	default:
		m.state = msgView
	}
}
