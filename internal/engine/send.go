package engine

import (
	"fmt"
	"reflect"

	zmq4 "github.com/pebbe/zmq4"
)

// SendFrame sends one frame, str when isStr and b otherwise, within lim.
func (s *Socket) SendFrame(lim *Limit, str string, b []byte, isStr bool, flags zmq4.Flag) error {
	for {
		err := s.sendLocked(str, b, isStr, flags|zmq4.DONTWAIT)
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

// sendLocked makes one send call into libzmq under the socket lock. cgo
// panics when a frame's bytes live in an allocation that also holds Go
// pointers (a byte array inside a struct with pointers); that becomes an
// invalid-message error, and the lock is released, so a caller that recovers
// (net/http does) is not left with a socket that hangs every later call.
func (s *Socket) sendLocked(str string, b []byte, isStr bool, flags zmq4.Flag) (err error) {
	s.lock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: frame refused by cgo: %v", errs.Invalid, r)
		}
		s.mu.Unlock()
	}()
	if s.closed.Load() {
		return errs.Closed
	}
	if s.broken != nil {
		return s.broken
	}
	if isStr {
		return s.seam.sendString(str, flags)
	}
	return s.seam.sendFrame(b, flags)
}

// frameCount validates parts and counts their frames. It reports whether a
// part needs formatting with fmt.
func frameCount(parts []any) (n int, needFmt bool, err error) {
	for i, p := range parts {
		switch t := p.(type) {
		case string, []byte:
			n++
		case []string:
			n += len(t)
		case [][]byte:
			n += len(t)
		case nil:
			return 0, false, fmt.Errorf("%w: part %d is nil", errs.Invalid, i)
		default:
			switch reflect.TypeOf(p).Kind() {
			case reflect.Func, reflect.Chan, reflect.UnsafePointer:
				return 0, false, fmt.Errorf("%w: part %d is a %T", errs.Invalid, i, p)
			}
			n++
			needFmt = true
		}
	}
	return n, needFmt, nil
}

// SendMessage sends a multipart message within lim, atomically as far as
// the application can see (see zmq.Socket.SendMessage for the parts it
// takes). It returns the number of bytes sent, or -1 on error.
func (s *Socket) SendMessage(lim *Limit, flags zmq4.Flag, parts []any) (int, error) {
	n, needFmt, err := frameCount(parts)
	if err != nil {
		return -1, err
	}
	if n == 0 {
		// pebbe/zmq4 sends nothing for an empty message; so do we, but say so.
		return -1, fmt.Errorf("%w: no frames", errs.Invalid)
	}
	if needFmt {
		parts = formatParts(parts)
	}
	from, hooked := 0, false // frames sent in one call; the fault hook was asked
	if size, ok := flatSize(parts, n); ok && s.directSeam() {
		sent, faulted, err := s.sendFlat(lim, flags, parts, n, size)
		switch {
		case err == nil:
			return size, nil
		case faulted && sent > 0:
			return -1, s.breakSends(sent, n, err)
		case sent == 0:
			return -1, err
		}
		// Cut after its first frame, its connection gone: the frame that
		// failed goes again below, as a frame-by-frame send would send it
		// (libzmq then drops the rest of the message).
		from, hooked = sent, true
	}
	total, frame := 0, 0
	eachFrame(parts, func(str string, b []byte, isStr bool) bool {
		if frame >= from {
			f := flags
			if frame < n-1 {
				f |= zmq4.SNDMORE
			}
			if s.sendFault != nil && !hooked {
				err = s.sendFault(frame)
			}
			if err == nil {
				// libzmq refuses only the first frame of a message for
				// HWM, so later frames never wait in practice; if they
				// do, they wait within the same limit.
				err = s.SendFrame(lim, str, b, isStr, f)
			}
			if err != nil {
				if frame > 0 {
					err = s.breakSends(frame, n, err)
				}
				return false
			}
		}
		frame++
		total += len(str) + len(b)
		return true
	})
	if err != nil {
		return -1, err
	}
	return total, nil
}

// eachFrame calls f with each frame of parts (checked by frameCount, and
// formatted) in order, until f returns false.
func eachFrame(parts []any, f func(str string, b []byte, isStr bool) bool) {
	for _, p := range parts {
		switch t := p.(type) {
		case string:
			if !f(t, nil, true) {
				return
			}
		case []byte:
			if !f("", t, false) {
				return
			}
		case []string:
			for _, str := range t {
				if !f(str, nil, true) {
					return
				}
			}
		case [][]byte:
			for _, b := range t {
				if !f("", b, false) {
					return
				}
			}
		}
	}
}

// flatSize returns the bytes of a message of n frames, and whether it is
// small enough to be sent in one call (sendFlat).
func flatSize(parts []any, n int) (size int, ok bool) {
	if n > flatFrames {
		return 0, false
	}
	eachFrame(parts, func(str string, b []byte, _ bool) bool {
		size += len(str) + len(b)
		return size <= flatMax
	})
	return size, size <= flatMax
}

// sendFlat sends a message of n frames and size bytes in one call into
// libzmq (seam.sendFlat), waiting within lim for room for its first frame
// as SendFrame does, and returns how many frames were sent. faulted
// reports that the fault hook (SetSendFault) failed the next one.
func (s *Socket) sendFlat(lim *Limit, flags zmq4.Flag, parts []any, n, size int) (sent int, faulted bool, err error) {
	upto, fault := n, error(nil)
	if s.sendFault != nil {
		for k := range n {
			if fault = s.sendFault(k); fault != nil {
				upto = k
				break
			}
		}
		if upto == 0 {
			return 0, true, fault
		}
	}
	for {
		sent, err := s.sendFlatLocked(flags|zmq4.DONTWAIT, parts, n, upto, size)
		s.Poke()
		if fault != nil && sent == upto {
			return sent, true, fault
		}
		if err == nil || sent > 0 {
			return sent, false, err
		}
		if isIntr(err) && s.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&zmq4.DONTWAIT != 0 || lim.Timeout == 0 {
			return 0, false, s.closedOr(errno(err))
		}
		if err := s.await(lim, zmq4.POLLOUT, "send"); err != nil {
			return 0, false, err
		}
	}
}

// sendFlatLocked copies the frames into the seam's scratch and sends the
// first upto of them, under the socket lock.
func (s *Socket) sendFlatLocked(flags zmq4.Flag, parts []any, n, upto, size int) (int, error) {
	s.lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, errs.Closed
	}
	if s.broken != nil {
		return 0, s.broken
	}
	sizes, data, err := s.seam.flatBuf(n, size)
	if err != nil {
		return 0, err
	}
	i, off := 0, 0
	eachFrame(parts, func(str string, b []byte, _ bool) bool {
		m := copy(data[off:], str) + copy(data[off:], b) // one of them is empty
		sizes[i] = uintptr(m)
		i, off = i+1, off+m
		return true
	})
	if s.flatCut > 0 {
		upto, s.flatCut = min(upto, s.flatCut), 0
	}
	return s.seam.sendFlat(n, upto, flags)
}

// breakSends marks the socket broken after frame of n frames failed.
func (s *Socket) breakSends(frame, n int, cause error) error {
	s.lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = errs.Partial(frame, n, cause)
	}
	return s.broken
}

func formatParts(parts []any) []any {
	out := make([]any, len(parts))
	for i, p := range parts {
		switch p.(type) {
		case string, []byte, []string, [][]byte:
			out[i] = p
		default:
			out[i] = fmt.Sprint(p)
		}
	}
	return out
}
