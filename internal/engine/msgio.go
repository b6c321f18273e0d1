package engine

import (
	"errors"
	"time"
	"unsafe"

	zmq4 "github.com/pebbe/zmq4"
)

// errNoBatch says that the seam is pebbe's calls (no batches): the caller
// goes one frame at a time.
var errNoBatch = errors.New("engine: no batches over the fallback seam")

// SetAllocator makes alloc provide the memory of every frame the socket
// receives as a []byte (nil: a new slice per frame). alloc is called with
// the socket's lock held and must not use the socket; a slice shorter
// than the frame is not used.
func (s *Socket) SetAllocator(alloc func(size int) []byte) {
	s.lock()
	defer s.mu.Unlock()
	s.alloc = alloc
}

// SetCopyBelow sets the copy threshold of Msg receives (see
// DefaultCopyBelow); n <= 0 restores the default.
func (s *Socket) SetCopyBelow(n int) {
	s.lock()
	defer s.mu.Unlock()
	s.copyBelowN = n
}

// SetPinBelow sets the threshold under which SendPinned copies (see
// DefaultPinBelow); n <= 0 restores the default.
func (s *Socket) SetPinBelow(n int) {
	s.lock()
	defer s.mu.Unlock()
	s.pinBelowN = n
}

// PinBelow returns the threshold under which SendPinned copies.
func (s *Socket) PinBelow() int {
	s.lock()
	defer s.mu.Unlock()
	if s.pinBelowN <= 0 {
		return DefaultPinBelow
	}
	return s.pinBelowN
}

// CopyBelow returns the copy threshold.
func (s *Socket) CopyBelow() int {
	s.lock()
	defer s.mu.Unlock()
	return s.copyBelow()
}

func (s *Socket) copyBelow() int {
	if s.copyBelowN <= 0 {
		return DefaultCopyBelow
	}
	return s.copyBelowN
}

// RecvMsgs receives up to len(ms) frames into ms in one call into libzmq:
// it waits within lim for the first, then takes those already queued. It
// returns how many it received. Frames under the copy threshold are
// kept in their Msg's own memory (copied, or inline when libzmq holds
// them inside its message struct), larger ones are views.
func (s *Socket) RecvMsgs(lim *Limit, ms []Msg, flags zmq4.Flag) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	for i := range ms {
		if ms[i].closed {
			return 0, ErrMsgClosed
		}
	}
	// Waits as recv does, but a batch of more than one frame parks
	// instead of waiting hot: it is a stream, where the hot wait's thread
	// and its wake-ups cost more than its quicker wake saves (16 B
	// push-pull batches measured 0.04-0.08x of the C loop faster parked;
	// docs/BENCHMARKS.md, "Batch receives park").
	timed := flags&zmq4.DONTWAIT == 0 && lim.Timeout != 0 && !s.inMessage && hotOn.Load()
	hotOK := timed && len(ms) == 1 && s.hotEligibleNow(s.shortWaits)
	var start time.Time
	if hotOK && s.recvWaits >= armAfter {
		// Its last receives had to wait: wait hot at once (see recv).
		start = time.Now()
		if n, got, err := s.recvManyHot(lim, ms, flags, start); got || err != nil {
			return n, err
		}
		hotOK = false
	}
	for {
		n, err := s.recvManyLocked(ms, flags|zmq4.DONTWAIT)
		if err == errNoBatch {
			// The fallback seam has no batch: one frame, the usual way.
			if err := s.RecvMsg(lim, &ms[0], flags); err != nil {
				return 0, err
			}
			return 1, nil
		}
		s.Poke()
		if err == nil {
			if timed {
				s.countWait(!start.IsZero())
				s.noteWait(sinceOrZero(start))
			}
			s.inMessage = ms[n-1].More()
			return n, nil
		}
		if isIntr(err) && s.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&zmq4.DONTWAIT != 0 || lim.Timeout == 0 {
			return 0, s.closedOr(errno(err))
		}
		if timed && start.IsZero() {
			start = time.Now()
		}
		if hotOK {
			hotOK = false
			if n, got, err := s.recvManyHot(lim, ms, flags, start); got || err != nil {
				return n, err
			}
		}
		if err := s.await(lim, zmq4.POLLIN, "recv"); err != nil {
			return 0, err
		}
	}
}

// recvManyHot is RecvMsgs' hot wait; got reports frames in ms.
func (s *Socket) recvManyHot(lim *Limit, ms []Msg, flags zmq4.Flag, start time.Time) (n int, got bool, err error) {
	got, err = s.hotCall(lim, flags, func(f zmq4.Flag) error {
		var err error
		n, err = s.recvManyHeld(ms, f)
		return err
	})
	if got {
		s.countWait(true)
		s.noteWait(time.Since(start))
		s.inMessage = ms[n-1].More()
	}
	return n, got, err
}

func (s *Socket) recvManyLocked(ms []Msg, flags zmq4.Flag) (int, error) {
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, errs.Closed
	}
	return s.recvManyHeld(ms, flags)
}

// recvManyHeld is recvManyLocked with s.mu held.
func (s *Socket) recvManyHeld(ms []Msg, flags zmq4.Flag) (int, error) {
	if s.seam.handle == nil {
		return 0, errNoBatch
	}
	s.rxs = s.rxs[:0]
	for i := range ms {
		rx := ms[i].rx
		if rx == nil {
			rx = ms[i].cmsg()
		}
		s.rxs = append(s.rxs, uintptr(unsafe.Pointer(rx)))
	}
	return s.seam.recvMany(s.rxs, flags, s.copyBelow()-1)
}

// SendMsg sends m as one frame within lim, with SNDMORE when its More is
// set: libzmq's message (received, or from Alloc) without a copy, a copy
// from the Msg's buffer as zmq_send does. On success m is empty.
func (s *Socket) SendMsg(lim *Limit, m *Msg, flags zmq4.Flag) error {
	if m.closed {
		return ErrMsgClosed
	}
	rx := m.cmsg()
	return s.sendLoop(lim, flags, func(f zmq4.Flag) error {
		if s.seam.handle != nil {
			return s.seam.sendRx(rx, f)
		}
		if rx.more != 0 {
			f |= zmq4.SNDMORE
		}
		if err := s.seam.sendFrame(m.Bytes(), f); err != nil {
			return err
		}
		rxSetCopy(rx, nil)
		rx.copied, rx.more = inMsg, 0
		return nil
	})
}

// SendMsgs sends each Msg of ms as one frame, with SNDMORE when its More
// is set, in one call into libzmq: views without a copy, copies from the
// Msgs' buffers. It waits within lim when the socket
// cannot take the next message, and returns how many frames it sent; the
// sent Msgs are empty.
//
// A batch that must wait for room (the high-water mark reached) waits hot
// when the socket's recent such waits were short: a stream whose peer
// drains it steadily. Parked in the netpoller, the sender is woken by
// another thread once libzmq's I/O thread made room; blocked in libzmq it
// is woken by the I/O thread itself. A 16 B stream over tcp measured
// 0.92x of the C loop so against 0.77x parked while this VM was slow, and
// the same either way while it was quick (docs/BENCHMARKS.md, "Sixth
// session").
func (s *Socket) SendMsgs(lim *Limit, ms []Msg, flags zmq4.Flag) (int, error) {
	for i := range ms {
		if ms[i].closed {
			return 0, ErrMsgClosed
		}
	}
	sent := 0
	hotOK := flags&zmq4.DONTWAIT == 0 && lim.Timeout != 0 && s.hotEligibleNow(s.shortSendWaits)
	var waited time.Time // when this call began to wait for room
	defer func() {
		if !waited.IsZero() {
			s.noteSendWait(time.Since(waited))
		}
	}()
	for sent < len(ms) {
		n, cut, err := s.sendManyLocked(ms[sent:], flags|zmq4.DONTWAIT)
		if err == errNoBatch {
			// The fallback seam has no batch: one frame at a time.
			if err := s.SendMsg(lim, &ms[sent], flags); err != nil {
				return sent, err
			}
			sent++
			continue
		}
		s.Poke()
		sent += n
		if err == nil {
			continue
		}
		if cut {
			// A message cut in the middle: libzmq refuses only a
			// message's first frame for HWM, so this is a real failure.
			return sent, s.breakSends(sent, len(ms), errno(err))
		}
		if isIntr(err) && s.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&zmq4.DONTWAIT != 0 || lim.Timeout == 0 {
			return sent, s.closedOr(errno(err))
		}
		if waited.IsZero() {
			waited = time.Now()
		}
		if hotOK {
			hotOK = false
			n, cut, err := s.sendManyHot(lim, ms[sent:], flags)
			sent += n
			if cut {
				return sent, s.breakSends(sent, len(ms), errno(err))
			}
			if err != nil {
				return sent, err
			}
			continue
		}
		if err := s.await(lim, zmq4.POLLOUT, "send"); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// sendManyHot is SendMsgs' hot wait: it sends what it can of ms blocking
// in libzmq, and returns how many it sent. cut reports a failure after a
// frame sent with SNDMORE (err is its cause), as sendManyLocked does.
func (s *Socket) sendManyHot(lim *Limit, ms []Msg, flags zmq4.Flag) (sent int, cut bool, err error) {
	var cause error
	_, err = s.hotCall(lim, flags, func(f zmq4.Flag) error {
		n, c, err := s.sendManyHeld(ms[sent:], f)
		sent += n
		if err != nil && c {
			// Not to be tried again: a message cut in two.
			cause = err
			return errCut
		}
		return err
	})
	if cause != nil {
		return sent, true, cause
	}
	return sent, false, err
}

// errCut stops a hot send whose failure cut a message in two.
var errCut = errors.New("engine: message cut")

// sendManyLocked sends ms in one call into libzmq, and returns how many
// it sent. cut reports a failure after a frame sent with SNDMORE (a
// message cut in two).
func (s *Socket) sendManyLocked(ms []Msg, flags zmq4.Flag) (n int, cut bool, err error) {
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, false, errs.Closed
	}
	return s.sendManyHeld(ms, flags)
}

// sendManyHeld is sendManyLocked with s.mu held.
func (s *Socket) sendManyHeld(ms []Msg, flags zmq4.Flag) (n int, cut bool, err error) {
	if s.broken != nil {
		return 0, false, s.broken
	}
	if s.seam.handle == nil {
		return 0, false, errNoBatch
	}
	s.rxs = s.rxs[:0]
	for i := range ms {
		rx := ms[i].rx
		if rx == nil {
			rx = ms[i].cmsg()
		}
		s.rxs = append(s.rxs, uintptr(unsafe.Pointer(rx)))
	}
	return s.seam.sendMany(s.rxs, flags)
}

// sendLoop makes try (one send with the flags it is given, under the
// socket lock) until it succeeds, fails for good, or lim ends.
func (s *Socket) sendLoop(lim *Limit, flags zmq4.Flag, try func(zmq4.Flag) error) error {
	for {
		err := s.tryLocked(flags|zmq4.DONTWAIT, try)
		s.Poke()
		if err == nil {
			return nil
		}
		if isIntr(err) && s.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&zmq4.DONTWAIT != 0 || lim.Timeout == 0 {
			return s.closedOr(errno(err))
		}
		if err := s.await(lim, zmq4.POLLOUT, "send"); err != nil {
			return err
		}
	}
}

func (s *Socket) tryLocked(flags zmq4.Flag, try func(zmq4.Flag) error) error {
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return errs.Closed
	}
	if s.broken != nil {
		return s.broken
	}
	return try(flags)
}
