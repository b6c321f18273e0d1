package reliable

import (
	"fmt"
	"strconv"

	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// received is one request message as the serve loop read it.
type received struct {
	msg [][]byte // the frames kept: all of them, unless the message is over a limit
	// over says why the message exceeds the server's limits ("" when it
	// does not). Its frames beyond the limits were received and dropped:
	// msg holds at most the frames that fitted, enough to answer it.
	over string
	// fd is the descriptor of the connection it came from (libzmq's
	// "__fd" message property), -1 when unknown (inproc).
	fd int
	// wire is the bytes the message took on its connection, framing
	// included (connWatch's accounting).
	wire int64
}

// MaxEnvelopeBytes bounds the envelope of a request, the frames between
// the routing id and the delimiter (proxy hops, the ID frame), in bytes: a
// routing id is at most 255 bytes, and wire.MaxEnvelopeFrames hops are
// allowed. A request with a larger envelope is answered with
// wire.CodeTooLarge. WithMaxMessageSize bounds the body.
const MaxEnvelopeBytes = wire.MaxEnvelopeFrames * 256

// fdProperty is the message property in which libzmq 4.3 keeps the
// descriptor a message came from (the deprecated ZMQ_SRCFD reads it).
const fdProperty = "__fd"

// recvRequest receives one message without blocking, frame by frame. It
// keeps frames while the message stays within the server's limits (bytes
// in all body frames together, WithMaxMessageSize; body frames,
// WithMaxRequestFrames; the envelope, MaxEnvelopeBytes); past them it
// receives the rest and drops it, so
// the server never holds more than the limit of one message. libzmq has
// the whole message by then: it hands out none of a message before its
// last frame has arrived, and frees each frame as it is received.
func (l *serverLoop) recvRequest() (received, error) {
	r := received{fd: -1, msg: make([][]byte, 0, 4)}
	maxBytes, maxBody := l.s.cfg.maxMsgSize, l.s.cfg.maxFrames
	var size, envSize int64 // bytes of the body frames, of the envelope
	body := -1              // body frames seen; -1 until the delimiter (ROUTER)
	if l.s.rep {
		body = 0
	}
	keep := true
	for i := 0; ; i++ {
		var b []byte
		var err error
		// The descriptor is needed once per connection: a ROUTER
		// message's routing id names the connection, and the connection
		// watch knows the ones it has seen. The routing id frame does not
		// always carry the message's properties; the next frame does.
		wantFD := i == 0 && l.s.rep || i == 1 && !l.s.rep && l.conns != nil && (len(r.msg) == 0 || !l.conns.known(r.msg[0]))
		if wantFD {
			var md map[string]string
			b, md, err = l.sock.RecvBytesWithMetadata(zmq.DONTWAIT, fdProperty)
			if fd, perr := strconv.Atoi(md[fdProperty]); perr == nil {
				r.fd = fd
			}
		} else {
			b, err = l.sock.RecvBytes(zmq.DONTWAIT)
		}
		if err != nil {
			return r, err
		}
		more, err := l.sock.GetRcvmore()
		if err != nil {
			return r, err
		}
		if i > 0 || l.s.rep {
			// A ROUTER makes the routing id up; the other frames came
			// over the wire.
			r.wire += l.frameWire(len(b))
		}
		if i == 0 && l.s.rep {
			r.wire += l.frameWire(0) // the delimiter, which REP keeps to itself
		}
		switch {
		case body >= 0:
			body++
			size += int64(len(b))
		case i > 0 && len(b) == 0:
			body = 0 // the delimiter
		case i > 0:
			envSize += int64(len(b))
		}
		if keep {
			switch {
			case maxBytes > 0 && size > maxBytes:
				r.over = fmt.Sprintf("request of more than %d bytes", maxBytes)
			case envSize > MaxEnvelopeBytes:
				r.over = fmt.Sprintf("envelope of more than %d bytes", MaxEnvelopeBytes)
			case maxBody > 0 && body > maxBody:
				r.over = fmt.Sprintf("request of more than %d body frames", maxBody)
			default:
				r.msg = append(r.msg, b)
			}
			keep = r.over == ""
		}
		if !more {
			l.observeReceived(size + envSize)
			return r, nil
		}
	}
}

// frameWire returns the bytes a frame of n bytes takes on the wire: ZMTP
// 3's flags byte and a 1- or 8-byte size, and, under CURVE, the MESSAGE
// command that carries it (name, nonce, MAC and flags: 33 bytes more).
func (l *serverLoop) frameWire(n int) int64 {
	if l.curve {
		n += 33
	}
	if n > 255 {
		return int64(n) + 9
	}
	return int64(n) + 2
}

// tooLarge answers a request over the server's limits with
// wire.CodeTooLarge, in the request's form when its envelope was kept
// (it always is but for a request whose envelope alone is over the
// limits), and otherwise in the plain form to its routing id, which only
// a client that takes plain error replies gets (the rest are withheld and
// counted, wire.Reply). It never reaches the handler,
// and is not cached: it was not executed.
func (l *serverLoop) tooLarge(r received) {
	ctr := &l.s.ctr
	ctr.requests.Add(1)
	ctr.tooLarge.Add(1)
	var env [][]byte
	idForm := false
	if !l.s.rep {
		if len(r.msg) == 0 {
			ctr.malformedDropped.Add(1)
			return
		}
		env = r.msg[:1]
		if e, _, ok := wire.SplitEnvelope(r.msg); ok && len(e) > 0 {
			env = e
			idForm = wire.EndsWithIDFrame(e)
		}
	}
	var id wire.RequestID
	if idForm {
		id, _, _ = wire.ParseIDFrame(env[len(env)-1])
	}
	l.emit(ServerEvent{Kind: ServerEventTooLarge, ID: id, Code: wire.CodeTooLarge, Message: r.over})
	l.send(env, idForm, wire.KindError, wire.EncodeErrorBody(wire.CodeTooLarge, r.over))
}

// admit hands a received message to the connection accounting, then
// answers it: too large, or as any request.
func (l *serverLoop) admit(r received) {
	if l.conns != nil {
		l.conns.delivered(r)
	}
	if r.over != "" {
		l.tooLarge(r)
		return
	}
	l.handle(r.msg)
}

// boundReply replaces a handler's reply over WithServerMaxReplySize with
// an error reply (wire.CodeTooLarge): the handler ran, so it is cached
// like any outcome, and a retry gets the same answer.
func (l *serverLoop) boundReply(c *serverCall, kind wire.Kind, body [][]byte) (wire.Kind, [][]byte) {
	if msg, over := l.s.replyOverLimit(kind, body); over {
		l.s.ctr.tooLarge.Add(1)
		l.emit(ServerEvent{Kind: ServerEventTooLarge, ID: c.in.ID, Code: wire.CodeTooLarge, Message: msg})
		return wire.KindError, wire.EncodeErrorBody(wire.CodeTooLarge, msg)
	}
	return kind, body
}
