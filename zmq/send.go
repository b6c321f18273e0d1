package zmq

import (
	"context"
	"fmt"
	"reflect"
)

// sendOne sends one frame (string or []byte) within lim.
func (s *Socket) sendOne(lim *limit, str string, b []byte, isStr bool, flags Flag) error {
	for {
		err := s.sendLocked(str, b, isStr, flags|DONTWAIT)
		s.poke()
		if err == nil {
			return nil
		}
		if isIntr(err) && s.ctx.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&DONTWAIT != 0 || lim.timeout == 0 {
			return s.closedOr(err)
		}
		if err := s.await(lim, POLLOUT, "send"); err != nil {
			return err
		}
	}
}

// sendLocked makes one send call into libzmq under the socket lock. cgo
// panics when a frame's bytes live in an allocation that also holds Go
// pointers (a byte array inside a struct with pointers); that becomes an
// ErrInvalidMessage, and the lock is released, so a caller that recovers
// (net/http does) is not left with a socket that hangs every later call.
func (s *Socket) sendLocked(str string, b []byte, isStr bool, flags Flag) (err error) {
	s.mu.Lock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: frame refused by cgo: %v", ErrInvalidMessage, r)
		}
		s.mu.Unlock()
	}()
	if s.closed.Load() {
		return ErrorSocketClosed
	}
	if s.broken != nil {
		return s.broken
	}
	if isStr {
		return s.seam.sendString(str, flags)
	}
	return s.seam.sendFrame(b, flags)
}

// Send sends a frame from a string. Without DONTWAIT it blocks for at most
// the send timeout (SetSndtimeo). It returns the number of bytes sent.
func (s *Socket) Send(data string, flags Flag) (int, error) {
	lim := s.sendLimit()
	if err := s.sendOne(&lim, data, nil, true, flags); err != nil {
		return -1, err
	}
	return len(data), nil
}

// SendBytes sends a frame. Without DONTWAIT it blocks for at most the send
// timeout (SetSndtimeo). It returns the number of bytes sent.
func (s *Socket) SendBytes(data []byte, flags Flag) (int, error) {
	lim := s.sendLimit()
	if err := s.sendOne(&lim, "", data, false, flags); err != nil {
		return -1, err
	}
	return len(data), nil
}

// SendContext is SendBytesContext for a string.
func (s *Socket) SendContext(ctx context.Context, data string, flags Flag) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, &TimeoutError{Op: "send", Cause: err}
	}
	lim := ctxLimit(ctx, s.ctxTimeout(ctx, s.sndtimeo))
	if err := s.sendOne(&lim, data, nil, true, flags); err != nil {
		return -1, err
	}
	return len(data), nil
}

// SendBytesContext sends a frame, bounded by ctx: a done ctx returns at
// once without touching libzmq; cancelling ctx wakes the call at once. The
// send timeout (SetSndtimeo) applies only when ctx has no deadline.
func (s *Socket) SendBytesContext(ctx context.Context, data []byte, flags Flag) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, &TimeoutError{Op: "send", Cause: err}
	}
	lim := ctxLimit(ctx, s.ctxTimeout(ctx, s.sndtimeo))
	if err := s.sendOne(&lim, "", data, false, flags); err != nil {
		return -1, err
	}
	return len(data), nil
}

// SendMessage sends a multipart message, atomically as far as the
// application can see. Each part is a string, a []byte, a []string or a
// [][]byte (each element a frame), or any other non-nil value, sent as
// fmt.Sprint would print it. All parts are checked before the first frame
// is sent; a message that cannot be sent at all (timeout, HWM) leaves
// nothing behind. If a later frame fails, the socket reports
// ErrPartialMessage and refuses further sends until Reset. It returns the
// number of bytes sent, or -1 on error.
func (s *Socket) SendMessage(parts ...interface{}) (int, error) {
	lim := s.sendLimit()
	return s.sendMessage(&lim, 0, parts)
}

// SendMessageDontwait is SendMessage with DONTWAIT: it fails with EAGAIN,
// sending nothing, when the message cannot be queued at once.
func (s *Socket) SendMessageDontwait(parts ...interface{}) (int, error) {
	lim := s.sendLimit()
	return s.sendMessage(&lim, DONTWAIT, parts)
}

// SendMessageContext is SendMessage bounded by ctx, like SendBytesContext.
func (s *Socket) SendMessageContext(ctx context.Context, parts ...interface{}) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, &TimeoutError{Op: "send", Cause: err}
	}
	lim := ctxLimit(ctx, s.ctxTimeout(ctx, s.sndtimeo))
	return s.sendMessage(&lim, 0, parts)
}

// frameCount validates parts and counts their frames. It reports whether a
// part needs formatting with fmt.
func frameCount(parts []interface{}) (n int, needFmt bool, err error) {
	for i, p := range parts {
		switch t := p.(type) {
		case string, []byte:
			n++
		case []string:
			n += len(t)
		case [][]byte:
			n += len(t)
		case nil:
			return 0, false, fmt.Errorf("%w: part %d is nil", ErrInvalidMessage, i)
		default:
			switch reflect.TypeOf(p).Kind() {
			case reflect.Func, reflect.Chan, reflect.UnsafePointer:
				return 0, false, fmt.Errorf("%w: part %d is a %T", ErrInvalidMessage, i, p)
			}
			n++
			needFmt = true
		}
	}
	return n, needFmt, nil
}

func (s *Socket) sendMessage(lim *limit, flags Flag, parts []interface{}) (int, error) {
	n, needFmt, err := frameCount(parts)
	if err != nil {
		return -1, err
	}
	if n == 0 {
		// pebbe/zmq4 sends nothing for an empty message; so do we, but say so.
		return -1, fmt.Errorf("%w: no frames", ErrInvalidMessage)
	}
	if needFmt {
		parts = formatParts(parts)
	}
	total, frame := 0, 0
	send := func(str string, b []byte, isStr bool) error {
		f := flags
		if frame < n-1 {
			f |= SNDMORE
		}
		var err error
		if s.sendFault != nil {
			err = s.sendFault(frame)
		}
		if err == nil {
			// libzmq refuses only the first frame of a message for HWM,
			// so later frames never wait in practice; if they do, they
			// wait within the same limit.
			err = s.sendOne(lim, str, b, isStr, f)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = &PartialMessageError{Sent: frame, Frames: n, Err: cause}
	}
	return s.broken
}

// PartialMessageError reports a multipart send that failed after Sent of
// its Frames frames were queued. It matches ErrPartialMessage and wraps the
// cause.
type PartialMessageError struct {
	Sent, Frames int
	Err          error
}

// Error says which frame of how many failed, and why.
func (e *PartialMessageError) Error() string {
	return fmt.Sprintf("%v (%d of %d frames queued: %v)", ErrPartialMessage, e.Sent, e.Frames, e.Err)
}

// Unwrap returns ErrPartialMessage and the cause.
func (e *PartialMessageError) Unwrap() []error { return []error{ErrPartialMessage, e.Err} }

func formatParts(parts []interface{}) []interface{} {
	out := make([]interface{}, len(parts))
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
