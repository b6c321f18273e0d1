package reliable

import (
	"errors"
	"net"
	"syscall"

	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// DefaultReqTimeout is the send and receive timeout of a ReqSocket until
// SetRcvtimeo or SetSndtimeo change it: a plain REQ socket waits forever,
// which is how programs hang.
const DefaultReqTimeout = DefaultAttemptTimeout

// ReqSocket is a REQ socket that cannot get stuck: the drop-in fix for the
// stuck REQ. It has the method set of a pebbe/zmq4 (and zmq) socket. When
// a receive fails (a timeout, typically), it returns the error and repairs
// itself: the libzmq socket is replaced with LINGER 0, so the abandoned
// request is never delivered later and its late reply can never be
// received, and the next Send works (no EFSM). It keeps its options and
// endpoints across the repair. A send while a reply is still awaited
// repairs the socket first instead of failing with EFSM.
//
// Differences from a plain REQ: sends and receives time out after
// DefaultReqTimeout unless set otherwise, ZMQ_IMMEDIATE is on (a request
// is never queued for a peer that is not connected), LINGER is 0, its
// routing id (ZMQ_ROUTING_ID) is a zmqguard client's
// (wire.ClientRoutingID, a new one after every repair), so zmqguard
// servers send it error replies as [wire.PlainErrorMarker, code,
// message] (docs/PROTOCOL.md section 6) — a routing id set with
// SetIdentity replaces it and is kept across repairs — and replies are
// bounded: ZMQ_MAXMSGSIZE is DefaultMaxReplySize (libzmq drops the
// connection of a server that announces a larger frame, and the receive
// times out), and RecvMessage and RecvMessageBytes refuse a reply whose
// frames together exceed it with a *TooLargeError (the reply is consumed;
// the next Send works). SetMaxmsgsize changes both; -1 removes the bound.
//
// A ReqSocket is not safe for concurrent use, like any socket; Close may
// be called from any goroutine.
type ReqSocket struct {
	*zmq.Socket
	awaiting bool // a request was sent and its reply not fully received
	resets   int
	client   uint64 // the random id in the socket's own routing ids
	rid      string // the routing id it set last
	maxReply int64  // ZMQ_MAXMSGSIZE, and the bound of a whole reply; -1: none
}

// NewReqSocket creates a self-healing REQ socket in zctx. Replace
// `zctx.NewSocket(zmq.REQ)` with `reliable.NewReqSocket(zctx)` and a
// program stops hanging. Its send and receive timeouts start at
// DefaultReqTimeout; change them with SetSndtimeo and SetRcvtimeo (-1 waits
// forever, which brings the hang back).
func NewReqSocket(zctx *zmq.Context) (*ReqSocket, error) {
	if zctx == nil {
		return nil, &zmq.OptionError{Option: "NewReqSocket", Reason: "nil context"}
	}
	s, err := zctx.NewSocket(zmq.REQ)
	if err != nil {
		return nil, err
	}
	r := &ReqSocket{Socket: s, client: randomID(), maxReply: DefaultMaxReplySize}
	r.rid = string(wire.ClientRoutingID(r.client, 0))
	for _, f := range []func() error{
		func() error { return s.SetIdentity(r.rid) },
		func() error { return s.SetLinger(0) },
		func() error { return s.SetImmediate(true) },
		func() error { return s.SetRcvtimeo(DefaultReqTimeout) },
		func() error { return s.SetSndtimeo(DefaultReqTimeout) },
		func() error { return s.SetMaxmsgsize(DefaultMaxReplySize) },
	} {
		if err := f(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return r, nil
}

// SetMaxmsgsize sets ZMQ_MAXMSGSIZE, which bounds each frame of a reply,
// and the bound RecvMessage and RecvMessageBytes apply to a whole reply;
// -1 removes both.
func (r *ReqSocket) SetMaxmsgsize(n int64) error {
	if err := r.Socket.SetMaxmsgsize(n); err != nil {
		return err
	}
	r.maxReply = n
	return nil
}

// checkSize refuses a whole reply over limit (none when 0 or less).
func checkSize[T string | []byte](limit int64, msg []T) error {
	if limit <= 0 {
		return nil
	}
	if n := messageSize(msg); n > limit {
		return &TooLargeError{What: "reply", Size: n, Frames: len(msg), Limit: limit}
	}
	return nil
}

// Resets returns how many times the socket repaired itself.
func (r *ReqSocket) Resets() int { return r.resets }

// heal replaces the libzmq socket, keeping options and endpoints. The
// new socket gets a routing id of its own unless the caller chose one: a
// ROUTER ignores a connection whose id it still knows from the old one.
func (r *ReqSocket) heal() error {
	r.awaiting = false
	r.resets++
	if id, err := r.Socket.GetIdentity(); err == nil && id == r.rid {
		r.rid = string(wire.ClientRoutingID(r.client, uint32(r.resets)))
		if err := r.Socket.SetIdentity(r.rid); err != nil {
			return err
		}
	}
	return r.Socket.Reset()
}

// beforeSend repairs a socket that still awaits a reply.
func (r *ReqSocket) beforeSend() error {
	if r.awaiting {
		return r.heal()
	}
	return nil
}

// afterSend records a sent request. A frame sent with SNDMORE is not the
// end of the request yet.
func (r *ReqSocket) afterSend(flags zmq.Flag, err error) {
	if err == nil && flags&zmq.SNDMORE == 0 {
		r.awaiting = true
	}
}

// afterRecv repairs the socket after a failed receive. A DONTWAIT receive
// that found nothing (EAGAIN without a timeout) is not a failure.
func (r *ReqSocket) afterRecv(flags zmq.Flag, last bool, err error) error {
	if err == nil {
		if last {
			r.awaiting = false
		}
		return nil
	}
	var te *zmq.TimeoutError
	if flags&zmq.DONTWAIT != 0 && errors.Is(err, syscall.EAGAIN) && !errors.As(err, &te) {
		return err
	}
	if errors.Is(err, net.ErrClosed) {
		return err // closed: nothing to repair
	}
	if herr := r.heal(); herr != nil {
		return errors.Join(err, herr)
	}
	return err
}

// Send sends a frame, repairing the socket first if it still awaits a reply.
func (r *ReqSocket) Send(data string, flags zmq.Flag) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.Send(data, flags)
	r.afterSend(flags, err)
	return n, err
}

// SendBytes sends a frame, repairing the socket first if needed.
func (r *ReqSocket) SendBytes(data []byte, flags zmq.Flag) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.SendBytes(data, flags)
	r.afterSend(flags, err)
	return n, err
}

// SendMessage sends a request, repairing the socket first if needed.
func (r *ReqSocket) SendMessage(parts ...interface{}) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.SendMessage(parts...)
	r.afterSend(0, err)
	return n, err
}

// SendMessageDontwait is SendMessage with DONTWAIT.
func (r *ReqSocket) SendMessageDontwait(parts ...interface{}) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.SendMessageDontwait(parts...)
	r.afterSend(0, err)
	return n, err
}

// Recv receives a frame; on failure the socket repairs itself.
func (r *ReqSocket) Recv(flags zmq.Flag) (string, error) {
	b, err := r.RecvBytes(flags)
	return string(b), err
}

// RecvBytes receives a frame; on failure the socket repairs itself.
func (r *ReqSocket) RecvBytes(flags zmq.Flag) ([]byte, error) {
	b, err := r.Socket.RecvBytes(flags)
	last := true
	if err == nil {
		more, merr := r.Socket.GetRcvmore()
		last = merr != nil || !more
	}
	return b, r.afterRecv(flags, last, err)
}

// RecvMessage receives a reply; on failure the socket repairs itself. A
// reply over the size bound is consumed and refused with a
// *TooLargeError.
func (r *ReqSocket) RecvMessage(flags zmq.Flag) ([]string, error) {
	m, err := r.Socket.RecvMessage(flags)
	if err := r.afterRecv(flags, true, err); err != nil {
		return m, err
	}
	if err := checkSize(r.maxReply, m); err != nil {
		return []string{}, err
	}
	return m, nil
}

// RecvMessageBytes receives a reply; on failure the socket repairs itself.
// A reply over the size bound is consumed and refused with a
// *TooLargeError.
func (r *ReqSocket) RecvMessageBytes(flags zmq.Flag) ([][]byte, error) {
	m, err := r.Socket.RecvMessageBytes(flags)
	if err := r.afterRecv(flags, true, err); err != nil {
		return m, err
	}
	if err := checkSize(r.maxReply, m); err != nil {
		return [][]byte{}, err
	}
	return m, nil
}
