package engine

import (
	"time"

	zmq4 "github.com/pebbe/zmq4"
)

// armAfter is how many blocking receives in a row must have had to wait
// before the next one arms its wait first. One is not enough: in a stream,
// the receive after a wait usually finds the next message queued, and
// arming a wait costs more than the receive it saves.
const armAfter = 2

// RecvFrame receives one frame within lim: try without blocking first and
// park on ZMQ_FD only when nothing is queued. When the last blocking
// receives had to wait (a REQ socket right after its send, a server between
// requests), it arms the wait first and tries inside it instead: one call
// into libzmq before parking instead of two (each costs system calls).
func (s *Socket) RecvFrame(lim *Limit, flags zmq4.Flag) ([]byte, bool, error) {
	k := sink{kind: sinkBytes, alloc: s.alloc}
	if err := s.recv(lim, flags, &k); err != nil {
		return nil, false, err
	}
	return k.b, k.more, nil
}

// RecvInto receives one frame within lim into buf, and returns the
// frame's size and whether more frames of its message follow. A size
// larger than len(buf) means the frame was truncated to len(buf) bytes.
func (s *Socket) RecvInto(lim *Limit, buf []byte, flags zmq4.Flag) (int, bool, error) {
	k := sink{kind: sinkInto, into: buf}
	if err := s.recv(lim, flags, &k); err != nil {
		return 0, false, err
	}
	return k.n, k.more, nil
}

// RecvMsg receives one frame within lim into m: a view of libzmq's
// message, or, under the socket's copy threshold, a copy in m's buffer.
func (s *Socket) RecvMsg(lim *Limit, m *Msg, flags zmq4.Flag) error {
	if m.closed {
		return ErrMsgClosed
	}
	k := sink{kind: sinkMsg, msg: m, copyBelow: s.copyBelow()}
	return s.recv(lim, flags, &k)
}

// recv receives one frame into k (see RecvFrame). With the hot wait on
// (hot.go), a receive on a socket whose recent waits were short blocks in
// libzmq first, then parks.
func (s *Socket) recv(lim *Limit, flags zmq4.Flag, k *sink) error {
	// Only a message's first frame can have to wait: the rest are queued
	// with it.
	blocking := flags&zmq4.DONTWAIT == 0 && lim.Timeout != 0 && !s.inMessage
	timed := blocking && hotOn.Load() // track waits for the hot wait
	hotOK := timed && s.hotEligibleNow(s.shortWaits)
	waited := false
	var start time.Time
	if hotOK && s.recvWaits >= armAfter {
		// Its last receives had to wait: wait hot at once, with no look
		// first (the blocking receive looks).
		start = time.Now()
		if got, err := s.recvHot(lim, flags, k, start); got || err != nil {
			return err
		}
		// No slot, out of time, or another goroutine needs the socket:
		// the usual way.
		hotOK = false
	}
	if blocking && s.recvWaits >= armAfter && !hotOK {
		if timed {
			start = time.Now()
		}
		got, err := s.awaitRecv(lim, flags, k)
		if got {
			// Received on the first try, without parking: the next
			// receive tries the usual way first again.
			s.recvWaits, s.inMessage = 0, k.more
			if timed {
				s.noteWait(0)
			}
			return nil
		}
		if err != nil && !errs.IsTimeout(err) {
			return err
		}
		// Woken, or out of time (perhaps before the try): the usual way
		// tries once more before it gives up.
		waited = true
	}
	for {
		s.lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return errs.Closed
		}
		err := s.seam.recvTo(k, flags|zmq4.DONTWAIT)
		s.mu.Unlock()
		s.Poke()
		if err == nil {
			if blocking {
				s.countWait(waited)
			}
			if timed {
				s.noteWait(sinceOrZero(start)) // start is set once it waited
			}
			s.inMessage = k.more
			return nil
		}
		if isIntr(err) && s.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&zmq4.DONTWAIT != 0 || lim.Timeout == 0 {
			return s.closedOr(errno(err))
		}
		if timed && start.IsZero() {
			start = time.Now()
		}
		waited = true
		if hotOK {
			// A stream that ran dry: wait hot now, once.
			hotOK = false
			if got, err := s.recvHot(lim, flags, k, start); got || err != nil {
				return err
			}
		}
		if err := s.await(lim, zmq4.POLLIN, "recv"); err != nil {
			return err
		}
	}
}

// recvHot is recv's hot wait; got reports a frame in k.
func (s *Socket) recvHot(lim *Limit, flags zmq4.Flag, k *sink, start time.Time) (got bool, err error) {
	got, err = s.hotCall(lim, flags, func(f zmq4.Flag) error { return s.seam.recvTo(k, f) })
	if got {
		s.countWait(true)
		s.noteWait(time.Since(start))
		s.inMessage = k.more
	}
	return got, err
}

// countWait records whether a blocking receive had to wait.
func (s *Socket) countWait(waited bool) {
	switch {
	case !waited:
		s.recvWaits = 0
	case s.recvWaits < armAfter:
		s.recvWaits++
	}
}

// RecvMessage receives all frames of one message within lim. libzmq
// delivers messages atomically: once the first frame is here, so are the
// rest.
func (s *Socket) RecvMessage(lim *Limit, flags zmq4.Flag) ([][]byte, error) {
	// The direct seam takes the message whole, up to restSlots frames
	// after the first, in the call that receives its first frame.
	k := sink{kind: sinkBytes, alloc: s.alloc, whole: s.directSeam()}
	if err := s.recv(lim, flags, &k); err != nil {
		return nil, err
	}
	msg := k.frames
	if msg == nil {
		msg = [][]byte{k.b}
	}
	if !k.more {
		return msg, nil
	}
	// The rest is queued already: one call into libzmq per restSlots
	// frames (the fallback seam goes frame by frame).
	if s.directSeam() {
		s.lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return nil, errs.Closed
		}
		msg, err := s.seam.recvRest(msg, s.alloc)
		s.mu.Unlock()
		s.Poke()
		if err != nil {
			return nil, s.closedOr(errno(err))
		}
		s.inMessage = false
		return msg, nil
	}
	for more := true; more; {
		var b []byte
		var err error
		b, more, err = s.RecvFrame(lim, flags&^zmq4.DONTWAIT)
		if err != nil {
			return nil, err
		}
		msg = append(msg, b)
	}
	return msg, nil
}

// RecvRaw receives through f, a pebbe/zmq4 receive called with DONTWAIT
// added to flags, waiting within lim like RecvFrame (the metadata receives
// use it). f's errors pass through as f returned them.
func (s *Socket) RecvRaw(lim *Limit, flags zmq4.Flag, f func(raw *zmq4.Socket, flags zmq4.Flag) error) error {
	for {
		err := s.Call(func(raw *zmq4.Socket) error { return f(raw, flags|zmq4.DONTWAIT) })
		if err == nil || !isAgain(rawErrno(err)) || flags&zmq4.DONTWAIT != 0 || lim.Timeout == 0 {
			return err
		}
		if err := s.await(lim, zmq4.POLLIN, "recv"); err != nil {
			return err
		}
	}
}

// Strings converts a received message to strings, for the string receives
// of packages zmq and timeout; on error it returns an empty message, as
// pebbe/zmq4 does.
func Strings(msg [][]byte, err error) ([]string, error) {
	if err != nil {
		return []string{}, err
	}
	out := make([]string, len(msg))
	for i, b := range msg {
		out[i] = string(b)
	}
	return out, nil
}
