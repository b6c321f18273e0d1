package zmq

import (
	"context"
	"time"
)

// recvFrame receives one frame within lim: try without blocking first and
// park on ZMQ_FD only when nothing is queued.
func (s *Socket) recvFrame(lim *limit, flags Flag) ([]byte, bool, error) {
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
			return b, more, nil
		}
		if isIntr(err) && s.ctx.retryEINTR.Load() {
			continue
		}
		if !isAgain(err) || flags&DONTWAIT != 0 || lim.timeout == 0 {
			return nil, false, s.closedOr(err)
		}
		if err := s.await(lim, POLLIN, "recv"); err != nil {
			return nil, false, err
		}
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
