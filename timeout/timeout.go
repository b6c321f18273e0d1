package timeout

import (
	"context"
	"time"

	"github.com/zmqguard/zmqguard/internal/engine"
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
// ctx's deadline caused it, by the time the call returns); after a
// cancellation it matches ctx.Err(). When s is closed from another
// goroutine, the call returns an error matching net.ErrClosed.
//
// RecvBytes reads one frame; a frame that is part of a multipart message
// leaves the rest of the message queued. Use RecvMessageBytes to receive
// whole messages.
func RecvBytes(ctx context.Context, s *zmq.Socket) ([]byte, error) {
	lim, err := recvLimit(ctx, s)
	if err != nil {
		return nil, err
	}
	b, _, err := engine.Of(s).RecvFrame(&lim, 0)
	return b, err
}

// RecvMessage receives a whole multipart message from s as strings. See
// RecvMessageBytes.
func RecvMessage(ctx context.Context, s *zmq.Socket) ([]string, error) {
	msg, err := RecvMessageBytes(ctx, s)
	if err != nil {
		return nil, err
	}
	return engine.Strings(msg, nil)
}

// RecvMessageBytes receives a whole multipart message from s, bounded by ctx
// as RecvBytes is. The message is received whole or not at all: libzmq
// delivers the frames of a message together, so the wait can only end
// before the first frame, and a message that is not received stays queued
// for the next call.
func RecvMessageBytes(ctx context.Context, s *zmq.Socket) ([][]byte, error) {
	lim, err := recvLimit(ctx, s)
	if err != nil {
		return nil, err
	}
	return engine.Of(s).RecvMessage(&lim, 0)
}

// RecvMessageBytesUntil is RecvMessageBytes bounded by deadline (zero:
// none) as well as ctx, whichever ends first; the socket's receive timeout
// does not apply. It bounds a receive by a deadline without allocating a
// context for it. A message already queued is received even when the
// deadline has passed.
func RecvMessageBytesUntil(ctx context.Context, s *zmq.Socket, deadline time.Time) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &zmq.TimeoutError{Op: "recv", Cause: err}
	}
	lim := engine.Limit{Ctx: ctx, Deadline: deadline, Timeout: -1}
	return engine.Of(s).RecvMessage(&lim, 0)
}

// Send sends data as a one-frame message on s. See SendBytes.
func Send(ctx context.Context, s *zmq.Socket, data string) error {
	lim, err := sendLimit(ctx, s)
	if err != nil {
		return err
	}
	return engine.Of(s).SendFrame(&lim, data, nil, true, 0)
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
	lim, err := sendLimit(ctx, s)
	if err != nil {
		return err
	}
	return engine.Of(s).SendFrame(&lim, "", data, false, 0)
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
	lim, err := sendLimit(ctx, s)
	if err != nil {
		return err
	}
	var buf [partsOnStack]any
	frames, one, err := prepare(buf[:], parts)
	if err != nil {
		return err
	}
	return send(engine.Of(s), &lim, frames, &one)
}

// SendMessageUntil is SendMessage bounded by deadline (zero: none) as well
// as ctx, whichever ends first; the socket's send timeout does not apply.
func SendMessageUntil(ctx context.Context, s *zmq.Socket, deadline time.Time, parts ...any) error {
	if err := ctx.Err(); err != nil {
		return &zmq.TimeoutError{Op: "send", Cause: err}
	}
	var buf [partsOnStack]any
	frames, one, err := prepare(buf[:], parts)
	if err != nil {
		return err
	}
	lim := engine.Limit{Ctx: ctx, Deadline: deadline, Timeout: -1}
	return send(engine.Of(s), &lim, frames, &one)
}

// Wait blocks until s is ready for any of events (zmq.POLLIN,
// zmq.POLLOUT), ctx is done, or s is closed, and returns the events that
// are ready. It parks the goroutine in Go's netpoller on the socket's
// ZMQ_FD; no OS thread is blocked in libzmq. The socket's timeouts do not
// apply.
//
// After it returns, operate with zmq.DONTWAIT: readiness is a hint (a REP
// socket can report POLLIN for a request it then discards as malformed).
func Wait(ctx context.Context, s *zmq.Socket, events zmq.State) (zmq.State, error) {
	return WaitUntil(ctx, s, time.Time{}, events)
}

// WaitUntil is Wait bounded by deadline (zero: none) as well as ctx. A
// socket that is ready when the deadline has already passed still reports
// its events.
func WaitUntil(ctx context.Context, s *zmq.Socket, deadline time.Time, events zmq.State) (zmq.State, error) {
	if err := ctx.Err(); err != nil {
		return 0, &zmq.TimeoutError{Op: "wait", Cause: err}
	}
	lim := engine.Limit{Ctx: ctx, Deadline: deadline, Timeout: -1}
	return engine.Of(s).WaitUntil(&lim, events)
}

// Request sends a message on s and receives the reply: one round trip,
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
// Request is the lower-level building block: it makes one attempt on a
// socket the caller owns, and neither retries nor repairs. For requests
// that must get an answer, use reliable.Client; to migrate a pebbe/zmq4 REQ
// program that gets stuck, use reliable.ReqSocket.
//
// Request is meant for REQ and DEALER sockets. It sends the parts as given
// and returns the reply's frames as received: a DEALER talking to a REP
// socket must send the empty delimiter frame itself, and receives it back.
// After a timeout or cancellation on a REQ socket whose request was sent,
// the socket still expects the reply: the next send fails with EFSM unless
// the socket has REQ_RELAXED set, or is Reset. A DEALER may later receive
// the late reply; correlate replies with a request id in the envelope.
func Request(ctx context.Context, s *zmq.Socket, parts ...any) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &zmq.TimeoutError{Op: "send", Cause: err}
	}
	var buf [partsOnStack]any
	frames, one, err := prepare(buf[:], parts)
	if err != nil {
		return nil, err
	}
	core := engine.Of(s)
	if _, ok := ctx.Deadline(); ok {
		lim := engine.Limit{Ctx: ctx, Timeout: -1}
		if err := send(core, &lim, frames, &one); err != nil {
			return nil, err
		}
		lim = engine.Limit{Ctx: ctx, Timeout: -1}
		return core.RecvMessage(&lim, 0)
	}
	rcv, err := s.GetRcvtimeo()
	if err != nil {
		return nil, err
	}
	snd, err := s.GetSndtimeo()
	if err != nil {
		return nil, err
	}
	// One deadline from the socket's receive timeout, without allocating a
	// context for it; the send ends at the earlier of it and the send
	// timeout.
	var deadline, sendDeadline time.Time
	if start := time.Now(); rcv >= 0 {
		deadline = start.Add(rcv)
		sendDeadline = deadline
		if snd >= 0 && snd < rcv {
			sendDeadline = start.Add(snd)
		}
	} else if snd >= 0 {
		sendDeadline = start.Add(snd)
	}
	lim := engine.Limit{Ctx: ctx, Deadline: sendDeadline, Timeout: -1}
	if err := send(core, &lim, frames, &one); err != nil {
		return nil, err
	}
	lim = engine.Limit{Ctx: ctx, Deadline: deadline, Timeout: -1}
	return core.RecvMessage(&lim, 0)
}

// recvLimit is the limit of a receive bounded by ctx: the socket's receive
// timeout applies only when ctx has no deadline.
func recvLimit(ctx context.Context, s *zmq.Socket) (engine.Limit, error) {
	if err := ctx.Err(); err != nil {
		return engine.Limit{}, &zmq.TimeoutError{Op: "recv", Cause: err}
	}
	if _, ok := ctx.Deadline(); ok {
		return engine.Limit{Ctx: ctx, Timeout: -1}, nil
	}
	d, err := s.GetRcvtimeo()
	return engine.Limit{Ctx: ctx, Timeout: d}, err
}

// sendLimit is recvLimit for a send and the socket's send timeout.
func sendLimit(ctx context.Context, s *zmq.Socket) (engine.Limit, error) {
	if err := ctx.Err(); err != nil {
		return engine.Limit{}, &zmq.TimeoutError{Op: "send", Cause: err}
	}
	if _, ok := ctx.Deadline(); ok {
		return engine.Limit{Ctx: ctx, Timeout: -1}, nil
	}
	d, err := s.GetSndtimeo()
	return engine.Limit{Ctx: ctx, Timeout: d}, err
}

// partsOnStack is how many parts SendMessage and Request copy without
// allocating.
const partsOnStack = 8

// single is a one-frame message, the common case, sent without the
// multipart checks.
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

// send sends the message prepared as frames or one within lim.
func send(core *engine.Socket, lim *engine.Limit, frames []any, one *single) error {
	if frames != nil {
		_, err := core.SendMessage(lim, 0, frames)
		return err
	}
	return core.SendFrame(lim, one.str, one.bytes, one.isStr, 0)
}
