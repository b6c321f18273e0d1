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
	total, frame := 0, 0
	send := func(str string, b []byte, isStr bool) error {
		f := flags
		if frame < n-1 {
			f |= zmq4.SNDMORE
		}
		var err error
		if s.sendFault != nil {
			err = s.sendFault(frame)
		}
		if err == nil {
			// libzmq refuses only the first frame of a message for HWM,
			// so later frames never wait in practice; if they do, they
			// wait within the same limit.
			err = s.SendFrame(lim, str, b, isStr, f)
		}
		if err != nil {
			if frame > 0 {
				err = s.breakSends(frame, n, err)
			}
			return err
		}
		frame++
		if isStr {
			total += len(str)
		} else {
			total += len(b)
		}
		return nil
	}
	for _, p := range parts {
		var err error
		switch t := p.(type) {
		case string:
			err = send(t, nil, true)
		case []byte:
			err = send("", t, false)
		case []string:
			for _, str := range t {
				if err = send(str, nil, true); err != nil {
					break
				}
			}
		case [][]byte:
			for _, b := range t {
				if err = send("", b, false); err != nil {
					break
				}
			}
		}
		if err != nil {
			return -1, err
		}
	}
	return total, nil
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
