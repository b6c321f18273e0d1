package zmq

import (
	"context"
	"time"
)

// armAfter is how many blocking receives in a row must have had to wait
// before the next one arms its wait first. One is not enough: in a stream,
// the receive after a wait usually finds the next message queued, and
// arming a wait costs more than the receive it saves.
const armAfter = 2

// recvFrame receives one frame within lim: try without blocking first and
// park on ZMQ_FD only when nothing is queued. When the last blocking
// receives had to wait (a REQ socket right after its send, a server between
// requests), it arms the wait first and tries inside it instead: one call
// into libzmq before parking instead of two (each costs system calls).
func (s *Socket) recvFrame(lim *limit, flags Flag) ([]byte, bool, error) {
	// Only a message's first frame can have to wait: the rest are queued
	// with it.
	blocking := flags&DONTWAIT == 0 && lim.timeout != 0 && !s.inMessage
	waited := false
	if blocking && s.recvWaits >= armAfter {
		b, more, got, err := s.awaitRecv(lim, flags)
		if got {
			// Received on the first try, without parking: the next
			// receive tries the usual way first again.
			s.recvWaits, s.inMessage = 0, more
			return b, more, nil
		}
		if _, timedOut := err.(*TimeoutError); err != nil && !timedOut {
			return nil, false, err
		}
		// Woken, or out of time (perhaps before the try): the usual way
		// tries once more before it gives up.
		waited = true
	}
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return nil, false, ErrorSocketClosed
		}
		b, more, err := s.seam.recvFrame(flags | DONTWAIT)
		s.mu.Unlock()
		s.poke()
		if err == nil {
			if blocking {
				s.countWait(waited)
			}
			s.inMessage = more
			return b, more, nil
		}
		if isIntr(err) && s.ctx.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&DONTWAIT != 0 || lim.timeout == 0 {
			return nil, false, s.closedOr(err)
		}
		waited = true
		if err := s.await(lim, POLLIN, "recv"); err != nil {
			return nil, false, err
		}
	}
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

// recvMessage receives all frames of one message. libzmq delivers messages
// atomically: once the first frame is here, so are the rest.
func (s *Socket) recvMessage(lim *limit, flags Flag) ([][]byte, error) {
	first, more, err := s.recvFrame(lim, flags)
	if err != nil {
		return nil, err
	}
	if !more {
		return [][]byte{first}, nil
	}
	msg := make([][]byte, 1, 4)
	msg[0] = first
	for more {
		var b []byte
		b, more, err = s.recvFrame(lim, flags&^DONTWAIT)
		if err != nil {
			return nil, err
		}
		msg = append(msg, b)
	}
	return msg, nil
}

func ctxLimit(ctx context.Context, timeout time.Duration) limit {
	return limit{ctx: ctx, timeout: timeout}
}

// Recv receives a frame as a string. Without DONTWAIT it blocks for at most
// the receive timeout (SetRcvtimeo), then returns a *TimeoutError.
func (s *Socket) Recv(flags Flag) (string, error) {
	b, err := s.RecvBytes(flags)
	return string(b), err
}

// RecvBytes receives a frame. Without DONTWAIT it blocks for at most the
// receive timeout (SetRcvtimeo), then returns a *TimeoutError.
func (s *Socket) RecvBytes(flags Flag) ([]byte, error) {
	lim := s.recvLimit()
	b, _, err := s.recvFrame(&lim, flags)
	if err != nil {
		return []byte{}, err
	}
	return b, nil
}

// RecvMessage receives all frames of a message as strings.
func (s *Socket) RecvMessage(flags Flag) ([]string, error) {
	lim := s.recvLimit()
	return framesToStrings(s.recvMessage(&lim, flags))
}

// RecvMessageBytes receives all frames of a message.
func (s *Socket) RecvMessageBytes(flags Flag) ([][]byte, error) {
	lim := s.recvLimit()
	msg, err := s.recvMessage(&lim, flags)
	if err != nil {
		return [][]byte{}, err
	}
	return msg, nil
}

// RecvContext is RecvBytesContext returning a string.
func (s *Socket) RecvContext(ctx context.Context, flags Flag) (string, error) {
	b, err := s.RecvBytesContext(ctx, flags)
	return string(b), err
}

// RecvBytesContext receives a frame, bounded by ctx: a done ctx returns at
// once without touching libzmq; cancelling ctx wakes the call at once. The
// receive timeout (SetRcvtimeo) applies only when ctx has no deadline.
func (s *Socket) RecvBytesContext(ctx context.Context, flags Flag) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &TimeoutError{Op: "recv", Cause: err}
	}
	lim := ctxLimit(ctx, s.ctxTimeout(ctx, s.rcvtimeo))
	b, _, err := s.recvFrame(&lim, flags)
	return b, err
}

// RecvMessageContext is RecvMessageBytesContext returning strings.
func (s *Socket) RecvMessageContext(ctx context.Context, flags Flag) ([]string, error) {
	return framesToStrings(s.RecvMessageBytesContext(ctx, flags))
}

// RecvMessageBytesContext receives a whole message, bounded by ctx like
// RecvBytesContext. A message is received whole or not at all.
func (s *Socket) RecvMessageBytesContext(ctx context.Context, flags Flag) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &TimeoutError{Op: "recv", Cause: err}
	}
	lim := ctxLimit(ctx, s.ctxTimeout(ctx, s.rcvtimeo))
	return s.recvMessage(&lim, flags)
}

// RecvMessageBytesUntil is RecvMessageBytesContext with an additional
// absolute deadline (zero: none), as in WaitUntil: the call ends at the
// deadline or when ctx ends, whichever comes first, and the receive
// timeout (SetRcvtimeo) does not apply. It bounds a receive by a deadline
// without allocating a context for it. A message already queued is
// received even when the deadline has passed.
func (s *Socket) RecvMessageBytesUntil(ctx context.Context, deadline time.Time, flags Flag) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &TimeoutError{Op: "recv", Cause: err}
	}
	lim := limit{ctx: ctx, deadline: deadline, timeout: -1}
	return s.recvMessage(&lim, flags)
}

// ctxTimeout returns the socket's default timeout unless ctx has a
// deadline, in which case the deadline alone bounds the call.
func (s *Socket) ctxTimeout(ctx context.Context, def time.Duration) time.Duration {
	if _, ok := ctx.Deadline(); ok {
		return -1
	}
	return def
}

func framesToStrings(msg [][]byte, err error) ([]string, error) {
	if err != nil {
		return []string{}, err
	}
	out := make([]string, len(msg))
	for i, b := range msg {
		out[i] = string(b)
	}
	return out, nil
}
