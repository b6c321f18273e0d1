package reliable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

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
// is never queued for a peer that is not connected) and LINGER is 0.
//
// A ReqSocket is not safe for concurrent use, like any socket; Close may
// be called from any goroutine.
type ReqSocket struct {
	*zmq.Socket
	awaiting bool // a request was sent and its reply not fully received
	resets   int
}

type reqConfig struct {
	zctx    *zmq.Context
	timeout time.Duration
}

// ReqOption configures a ReqSocket.
type ReqOption func(*reqConfig) error

// WithContext creates the socket in zctx instead of the default context.
func WithContext(zctx *zmq.Context) ReqOption {
	return func(c *reqConfig) error {
		if zctx == nil {
			return optionError("WithContext", "nil context")
		}
		c.zctx = zctx
		return nil
	}
}

// WithReqTimeout sets the initial send and receive timeout
// (DefaultReqTimeout); -1 waits forever, which brings the hang back.
func WithReqTimeout(d time.Duration) ReqOption {
	return func(c *reqConfig) error {
		if d < 0 && d != -1 {
			return optionError("WithReqTimeout", fmt.Sprintf("%v is negative and not -1", d))
		}
		c.timeout = d
		return nil
	}
}

// NewReqSocket creates a self-healing REQ socket, by default in the default
// context like zmq.NewSocket. Replace `zmq.NewSocket(zmq.REQ)` with
// `reliable.NewReqSocket()` and a program stops hanging.
func NewReqSocket(opts ...ReqOption) (*ReqSocket, error) {
	cfg := reqConfig{timeout: DefaultReqTimeout}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	var s *zmq.Socket
	var err error
	if cfg.zctx != nil {
		s, err = cfg.zctx.NewSocket(zmq.REQ)
	} else {
		s, err = zmq.NewSocket(zmq.REQ)
	}
	if err != nil {
		return nil, err
	}
	for _, f := range []func() error{
		func() error { return s.SetLinger(0) },
		func() error { return s.SetImmediate(true) },
		func() error { return s.SetRcvtimeo(cfg.timeout) },
		func() error { return s.SetSndtimeo(cfg.timeout) },
	} {
		if err := f(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return &ReqSocket{Socket: s}, nil
}

// Resets returns how many times the socket repaired itself.
func (r *ReqSocket) Resets() int { return r.resets }

// heal replaces the libzmq socket, keeping options and endpoints.
func (r *ReqSocket) heal() error {
	r.awaiting = false
	r.resets++
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

// SendMessageContext is SendMessage bounded by ctx.
func (r *ReqSocket) SendMessageContext(ctx context.Context, parts ...interface{}) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.SendMessageContext(ctx, parts...)
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

// RecvMessage receives a reply; on failure the socket repairs itself.
func (r *ReqSocket) RecvMessage(flags zmq.Flag) ([]string, error) {
	m, err := r.Socket.RecvMessage(flags)
	return m, r.afterRecv(flags, true, err)
}

// RecvMessageBytes receives a reply; on failure the socket repairs itself.
func (r *ReqSocket) RecvMessageBytes(flags zmq.Flag) ([][]byte, error) {
	m, err := r.Socket.RecvMessageBytes(flags)
	return m, r.afterRecv(flags, true, err)
}

// RecvMessageBytesContext receives a reply bounded by ctx; on failure the
// socket repairs itself.
func (r *ReqSocket) RecvMessageBytesContext(ctx context.Context, flags zmq.Flag) ([][]byte, error) {
	m, err := r.Socket.RecvMessageBytesContext(ctx, flags)
	return m, r.afterRecv(flags, true, err)
}

// RecvContext receives a frame bounded by ctx; on failure the socket
// repairs itself.
func (r *ReqSocket) RecvContext(ctx context.Context, flags zmq.Flag) (string, error) {
	b, err := r.RecvBytesContext(ctx, flags)
	return string(b), err
}

// RecvBytesContext receives a frame bounded by ctx; on failure the socket
// repairs itself.
func (r *ReqSocket) RecvBytesContext(ctx context.Context, flags zmq.Flag) ([]byte, error) {
	b, err := r.Socket.RecvBytesContext(ctx, flags)
	last := true
	if err == nil {
		more, merr := r.Socket.GetRcvmore()
		last = merr != nil || !more
	}
	return b, r.afterRecv(flags, last, err)
}

// RecvMessageContext receives a reply bounded by ctx; on failure the
// socket repairs itself.
func (r *ReqSocket) RecvMessageContext(ctx context.Context, flags zmq.Flag) ([]string, error) {
	m, err := r.Socket.RecvMessageContext(ctx, flags)
	return m, r.afterRecv(flags, true, err)
}

// SendContext sends a frame bounded by ctx, repairing the socket first if
// needed.
func (r *ReqSocket) SendContext(ctx context.Context, data string, flags zmq.Flag) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.SendContext(ctx, data, flags)
	r.afterSend(flags, err)
	return n, err
}

// SendBytesContext sends a frame bounded by ctx, repairing the socket
// first if needed.
func (r *ReqSocket) SendBytesContext(ctx context.Context, data []byte, flags zmq.Flag) (int, error) {
	if err := r.beforeSend(); err != nil {
		return -1, err
	}
	n, err := r.Socket.SendBytesContext(ctx, data, flags)
	r.afterSend(flags, err)
	return n, err
}
