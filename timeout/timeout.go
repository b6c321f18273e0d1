package timeout

import (
	"context"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// Recv receives one frame from s as a string. See RecvBytes.
func Recv(ctx context.Context, s *zmq.Socket) (string, error) {
	b, err := RecvBytes(ctx, s)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// RecvBytes receives one frame from s, bounded by ctx.
//
// A ctx that is already done returns at once, without touching libzmq. The
// wait ends at ctx's deadline, or, when ctx has none, after the socket's
// receive timeout (SetRcvtimeo; -1, the default, waits until ctx is done).
// Cancelling ctx wakes the call at once. On a timeout the error is a
// *zmq.TimeoutError that matches os.ErrDeadlineExceeded (and ctx.Err() when
// ctx's deadline caused it); after a cancellation it matches ctx.Err().
// When s is closed from another goroutine, the call returns an error
// matching net.ErrClosed.
//
// RecvBytes reads one frame; a frame that is part of a multipart message
// leaves the rest of the message queued. Use RecvMessageBytes to receive
// whole messages.
func RecvBytes(ctx context.Context, s *zmq.Socket) ([]byte, error) {
	b, err := s.RecvBytesContext(ctx, 0)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return b, nil
}

// RecvMessage receives a whole multipart message from s as strings. See
// RecvMessageBytes.
func RecvMessage(ctx context.Context, s *zmq.Socket) ([]string, error) {
	msg, err := s.RecvMessageContext(ctx, 0)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return msg, nil
}

// RecvMessageBytes receives a whole multipart message from s, bounded by ctx
// as RecvBytes is. The message is received whole or not at all: libzmq
// delivers the frames of a message together, so the wait can only end
// before the first frame, and a message that is not received stays queued
// for the next call.
func RecvMessageBytes(ctx context.Context, s *zmq.Socket) ([][]byte, error) {
	msg, err := s.RecvMessageBytesContext(ctx, 0)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return msg, nil
}

// Send sends data as a one-frame message on s. See SendBytes.
func Send(ctx context.Context, s *zmq.Socket, data string) error {
	if _, err := s.SendContext(ctx, data, 0); err != nil {
		return fixErr(ctx, err)
	}
	return nil
}

// SendBytes sends data as a one-frame message on s, bounded by ctx.
//
// A ctx that is already done returns at once, without touching libzmq. The
// wait (for a peer, or for room below the high-water mark) ends at ctx's
// deadline, or, when ctx has none, after the socket's send timeout
// (SetSndtimeo; -1, the default, waits until ctx is done). Cancelling ctx
// wakes the call at once. Errors are as for RecvBytes. Nothing is sent when
// an error is returned.
func SendBytes(ctx context.Context, s *zmq.Socket, data []byte) error {
	if _, err := s.SendBytesContext(ctx, data, 0); err != nil {
		return fixErr(ctx, err)
	}
	return nil
}

// SendMessage sends a multipart message on s, bounded by ctx as SendBytes
// is. Each part is a string or a []byte (one frame), a []string or a
// [][]byte (one frame per element, as in pebbe/zmq4), or a bool, integer or
// float of a predeclared type, sent as fmt.Sprint prints it. Any other part
// (nil, a struct, a named type with a String method, ...) is refused with
// an error matching zmq.ErrInvalidMessage before anything is sent: format
// it first. Accepting any value, as pebbe/zmq4 and zmq.Socket.SendMessage
// do, would move every caller's parts to the heap, costing two allocations
// per message even for a single []byte.
//
// The message is sent whole or not at all: every part is checked before the
// first frame is queued, and libzmq refuses only the first frame of a
// message for lack of room, so a timeout or a cancellation leaves nothing
// queued. (Should a later frame fail anyway, the socket refuses further
// sends with zmq.ErrPartialMessage until Reset, rather than glue the next
// message onto the broken one.)
func SendMessage(ctx context.Context, s *zmq.Socket, parts ...any) error {
	var buf [partsOnStack]any
	frames, one, err := prepare(buf[:], parts)
	if err == nil {
		err = send(ctx, s, frames, &one)
	}
	if err != nil {
		return fixErr(ctx, err)
	}
	return nil
}

// Request sends a message on s and receives the reply, the whole round trip
// bounded by one deadline: ctx's, when it has one. When ctx has none, the
// deadline is the socket's receive timeout (SetRcvtimeo) counted from the
// start of the call, and the send also ends after the socket's send timeout
// (SetSndtimeo), whichever comes first; with neither timeout set the call
// waits until ctx is done. A ctx that is already done returns at once,
// without touching libzmq, and cancelling ctx wakes the call at once. Parts
// are as for SendMessage; the message is sent whole or not at all, and the
// reply is received whole or not at all. Errors are as for RecvBytes; a
// *zmq.TimeoutError's Op says which half timed out.
//
// Request is meant for REQ and DEALER sockets. It sends the parts as given
// and returns the reply's frames as received: a DEALER talking to a REP
// socket must send the empty delimiter frame itself, and receives it back.
//
// After a timeout or cancellation on a REQ socket whose request was sent,
// the socket still expects the reply: the next send fails with EFSM unless
// the socket has REQ_RELAXED set, or is Reset. A DEALER may later receive
// the late reply; correlate replies with a request id in the envelope.
// Package reliable builds both on this.
func Request(ctx context.Context, s *zmq.Socket, parts ...any) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &zmq.TimeoutError{Op: "send", Cause: err}
	}
	var buf [partsOnStack]any
	frames, one, err := prepare(buf[:], parts)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		rcv, err := s.GetRcvtimeo()
		if err != nil {
			return nil, err
		}
		if rcv >= 0 {
			// One deadline from the socket's receive timeout, without
			// allocating a context for it.
			return requestUntil(ctx, s, rcv, frames, &one)
		}
		// No round-trip bound: the send timeout (if any) bounds the send,
		// and the receive waits until ctx is done.
	}
	if err := send(ctx, s, frames, &one); err != nil {
		return nil, fixErr(ctx, err)
	}
	msg, err := s.RecvMessageBytesContext(ctx, 0)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return msg, nil
}

// partsOnStack is how many parts SendMessage and Request copy without
// allocating.
const partsOnStack = 8

// single is a one-frame message, the common case, sent without
// zmq.Socket.SendMessage's part checks.
type single struct {
	bytes []byte
	str   string
	isStr bool
}

// prepare checks a message: it returns either its frames, in buf when they
// fit, or (for one string or []byte) the frame alone. The frames travel
// apart from the single frame, whose bytes libzmq's calls retain: escape
// analysis would otherwise move buf to the heap with them.
func prepare(buf []any, parts []any) (frames []any, one single, err error) {
	if len(parts) == 1 {
		switch p := parts[0].(type) {
		case []byte:
			return nil, single{bytes: p}, nil
		case string:
			return nil, single{str: p, isStr: true}, nil
		}
	}
	frames, err = framesOf(buf, parts)
	return frames, single{}, err
}

// send sends the message prepared as frames or one on s, bounded by ctx.
func send(ctx context.Context, s *zmq.Socket, frames []any, one *single) error {
	var err error
	switch {
	case frames != nil:
		_, err = s.SendMessageContext(ctx, frames...)
	case one.isStr:
		_, err = s.SendContext(ctx, one.str, 0)
	default:
		_, err = s.SendBytesContext(ctx, one.bytes, 0)
	}
	return err
}

// sendNow sends the message prepared as frames or one on s only if it can
// be queued at once.
func sendNow(s *zmq.Socket, frames []any, one *single) error {
	var err error
	switch {
	case frames != nil:
		_, err = s.SendMessageDontwait(frames...)
	case one.isStr:
		_, err = s.Send(one.str, zmq.DONTWAIT)
	default:
		_, err = s.SendBytes(one.bytes, zmq.DONTWAIT)
	}
	return err
}

// requestUntil is Request under a deadline that ctx does not carry: it
// tries each step without blocking and waits for readiness with
// zmq.Socket.WaitUntil, which parks in the netpoller.
func requestUntil(ctx context.Context, s *zmq.Socket, rcvtimeo time.Duration, frames []any, one *single) ([][]byte, error) {
	start := time.Now()
	deadline := start.Add(rcvtimeo)
	sendDeadline := deadline
	if snd, err := s.GetSndtimeo(); err != nil {
		return nil, err
	} else if snd >= 0 && snd < rcvtimeo {
		sendDeadline = start.Add(snd)
	}
	for {
		err := sendNow(s, frames, one)
		if err == nil {
			break
		}
		if !isAgain(err) {
			return nil, err
		}
		if err := waitUntil(ctx, s, sendDeadline, zmq.POLLOUT, "send"); err != nil {
			return nil, err
		}
	}
	return s.RecvMessageBytesUntil(ctx, deadline, 0)
}

// waitUntil waits for events on s and reports a timeout as op's.
func waitUntil(ctx context.Context, s *zmq.Socket, deadline time.Time, events zmq.State, op string) error {
	_, err := s.WaitUntil(ctx, deadline, events)
	if te, ok := err.(*zmq.TimeoutError); ok {
		te.Op = op
	}
	return err
}

// isAgain reports a non-blocking call that found the socket not ready.
// A *zmq.TimeoutError also matches EAGAIN, but a DONTWAIT call never
// returns one.
func isAgain(err error) bool {
	e, ok := err.(zmq.Errno)
	return ok && e == zmq.Errno(syscall.EAGAIN)
}

// fixErr makes a timeout caused by ctx's deadline match ctx.Err() by the
// time the call returns. The netpoller wakes a waiter at the deadline, often
// a moment before ctx's own timer has marked ctx done, so ctx.Err() may
// still be nil then: errors.Is(err, ctx.Err()) would fail, and code that
// checks ctx.Err() after an error would not see the deadline. When ctx has
// a deadline the socket's default timeouts do not apply, so a timeout can
// only come from that deadline. This runs on the timeout path only.
func fixErr(ctx context.Context, err error) error {
	te, ok := err.(*zmq.TimeoutError)
	if !ok || (te.Cause != nil && te.Cause != context.DeadlineExceeded) {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		return err
	}
	te.Cause = context.DeadlineExceeded
	if ctx.Err() == nil {
		t := time.NewTimer(ctxLag)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if e := ctx.Err(); e != nil {
		te.Cause = e
	}
	return err
}

// ctxLag bounds how long fixErr waits for a ctx to notice its own deadline.
// A context from package context does within microseconds.
const ctxLag = 50 * time.Millisecond
