package timeout

import (
	"context"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// Socket is a *zmq.Socket with default send and receive timeouts. It keeps
// the whole method set of a pebbe/zmq4 socket, so code written against
// pebbe/zmq4 compiles against it unchanged, and its blocking methods honour
// the defaults: Recv, RecvBytes, RecvMessage and RecvMessageBytes wait at
// most the receive timeout, Send, SendBytes and SendMessage at most the
// send timeout, then return a *zmq.TimeoutError matching
// os.ErrDeadlineExceeded. The ...Context methods and Request take a ctx
// first; a default applies to them only when ctx has no deadline.
//
// Socket embeds *zmq.Socket: every method not listed here (Bind, Connect,
// the option setters, Reset, StartMonitor, ...) is the zmq.Socket's, and
// the socket can be handed to any function of this package or of package
// zmq as s.Socket. The defaults are the socket's own receive and send
// timeouts (SetRcvtimeo, SetSndtimeo): one setting, not two, so changing
// them through the embedded setters changes the defaults, and Reset keeps
// them.
//
// Concurrency: like a zmq.Socket, a Socket must be used by one goroutine at
// a time, except Close, which may be called from any goroutine at any time;
// calls blocked on the socket then return an error matching net.ErrClosed.
type Socket struct {
	*zmq.Socket
}

// Option configures a Socket made by New.
type Option func(*config) error

type config struct {
	rcvtimeo, sndtimeo time.Duration
	setRcv, setSnd     bool
}

// WithRecvTimeout sets the default receive timeout: the longest a receive
// waits for a message when its ctx has no deadline (and always, for Recv,
// RecvBytes, RecvMessage and RecvMessageBytes). A positive d bounds the
// wait; zero, or -1 as pebbe/zmq4 spells it, means no default: a receive
// waits until a message arrives or its ctx is done. Other negative values
// are refused. Without this option the socket keeps its receive timeout
// (SetRcvtimeo; none unless set).
func WithRecvTimeout(d time.Duration) Option {
	return func(c *config) error {
		v, err := defaultTimeout("WithRecvTimeout", d)
		c.rcvtimeo, c.setRcv = v, true
		return err
	}
}

// WithSendTimeout sets the default send timeout: the longest a send waits
// for a peer or for room below the high-water mark when its ctx has no
// deadline. A positive d bounds the wait; zero, or -1, means no default.
// Other negative values are refused. Without this option the socket keeps
// its send timeout (SetSndtimeo; none unless set).
func WithSendTimeout(d time.Duration) Option {
	return func(c *config) error {
		v, err := defaultTimeout("WithSendTimeout", d)
		c.sndtimeo, c.setSnd = v, true
		return err
	}
}

// defaultTimeout maps an option's duration to the socket's timeout, where
// -1 means none (and 0 would mean "never wait").
func defaultTimeout(option string, d time.Duration) (time.Duration, error) {
	switch {
	case d > 0:
		return d, nil
	case d == 0 || d == -1:
		return -1, nil
	}
	return 0, &zmq.OptionError{Option: option, Reason: "must not be negative (use 0 for no timeout)"}
}

// New wraps s with the given defaults, which it sets as s's receive and
// send timeouts. It fails with a *zmq.OptionError for an invalid option,
// and with an error matching net.ErrClosed for a closed socket. s stays
// owned by the caller: closing either the Socket or s closes both.
func New(s *zmq.Socket, opts ...Option) (*Socket, error) {
	if s == nil {
		return nil, &zmq.OptionError{Option: "New", Reason: "nil socket"}
	}
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if _, err := s.GetRcvtimeo(); err != nil {
		return nil, err
	}
	if c.setRcv {
		if err := s.SetRcvtimeo(c.rcvtimeo); err != nil {
			return nil, err
		}
	}
	if c.setSnd {
		if err := s.SetSndtimeo(c.sndtimeo); err != nil {
			return nil, err
		}
	}
	return &Socket{Socket: s}, nil
}

// The methods below are the embedded zmq.Socket's, repeated to document
// how they use the defaults. Each is a direct call: the defaults cost no
// allocation and no context per call.

// Recv receives a frame as a string, waiting at most the receive timeout
// (none with DONTWAIT).
func (s *Socket) Recv(flags zmq.Flag) (string, error) { return s.Socket.Recv(flags) }

// RecvBytes receives a frame, waiting at most the receive timeout.
func (s *Socket) RecvBytes(flags zmq.Flag) ([]byte, error) { return s.Socket.RecvBytes(flags) }

// RecvMessage receives a whole message as strings, waiting at most the
// receive timeout. The message is received whole or not at all.
func (s *Socket) RecvMessage(flags zmq.Flag) ([]string, error) { return s.Socket.RecvMessage(flags) }

// RecvMessageBytes receives a whole message, waiting at most the receive
// timeout. The message is received whole or not at all.
func (s *Socket) RecvMessageBytes(flags zmq.Flag) ([][]byte, error) {
	return s.Socket.RecvMessageBytes(flags)
}

// Send sends a frame from a string, waiting at most the send timeout, and
// returns the number of bytes sent.
func (s *Socket) Send(data string, flags zmq.Flag) (int, error) { return s.Socket.Send(data, flags) }

// SendBytes sends a frame, waiting at most the send timeout, and returns
// the number of bytes sent.
func (s *Socket) SendBytes(data []byte, flags zmq.Flag) (int, error) {
	return s.Socket.SendBytes(data, flags)
}

// SendMessage sends a multipart message, waiting at most the send timeout,
// whole or not at all. Parts are as for zmq.Socket.SendMessage (any value,
// as in pebbe/zmq4). It returns the number of bytes sent.
func (s *Socket) SendMessage(parts ...any) (int, error) { return s.Socket.SendMessage(parts...) }

// SendMessageDontwait sends a multipart message only if it can be queued at
// once; otherwise it fails with EAGAIN, sending nothing.
func (s *Socket) SendMessageDontwait(parts ...any) (int, error) {
	return s.Socket.SendMessageDontwait(parts...)
}

// Close closes the socket. It is idempotent and may be called from any
// goroutine: calls blocked on the socket return an error matching
// net.ErrClosed.
func (s *Socket) Close() error { return s.Socket.Close() }

// RecvContext is RecvBytesContext returning a string.
func (s *Socket) RecvContext(ctx context.Context, flags zmq.Flag) (string, error) {
	b, err := s.RecvBytesContext(ctx, flags)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// RecvBytesContext receives a frame, bounded by ctx as RecvBytes (the
// package function) is: the receive timeout applies only when ctx has no
// deadline.
func (s *Socket) RecvBytesContext(ctx context.Context, flags zmq.Flag) ([]byte, error) {
	b, err := s.Socket.RecvBytesContext(ctx, flags)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return b, nil
}

// RecvMessageContext is RecvMessageBytesContext returning strings.
func (s *Socket) RecvMessageContext(ctx context.Context, flags zmq.Flag) ([]string, error) {
	msg, err := s.Socket.RecvMessageContext(ctx, flags)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return msg, nil
}

// RecvMessageBytesContext receives a whole message, bounded by ctx as
// RecvMessageBytes (the package function) is.
func (s *Socket) RecvMessageBytesContext(ctx context.Context, flags zmq.Flag) ([][]byte, error) {
	msg, err := s.Socket.RecvMessageBytesContext(ctx, flags)
	if err != nil {
		return nil, fixErr(ctx, err)
	}
	return msg, nil
}

// SendContext is SendBytesContext for a string.
func (s *Socket) SendContext(ctx context.Context, data string, flags zmq.Flag) (int, error) {
	n, err := s.Socket.SendContext(ctx, data, flags)
	if err != nil {
		return n, fixErr(ctx, err)
	}
	return n, nil
}

// SendBytesContext sends a frame, bounded by ctx as SendBytes (the package
// function) is: the send timeout applies only when ctx has no deadline.
func (s *Socket) SendBytesContext(ctx context.Context, data []byte, flags zmq.Flag) (int, error) {
	n, err := s.Socket.SendBytesContext(ctx, data, flags)
	if err != nil {
		return n, fixErr(ctx, err)
	}
	return n, nil
}

// SendMessageContext sends a multipart message, bounded by ctx, whole or
// not at all. Parts are as for zmq.Socket.SendMessage (any value).
func (s *Socket) SendMessageContext(ctx context.Context, parts ...any) (int, error) {
	n, err := s.Socket.SendMessageContext(ctx, parts...)
	if err != nil {
		return n, fixErr(ctx, err)
	}
	return n, nil
}

// Request sends a message and receives the reply under one deadline: ctx's,
// or, when ctx has none, the receive timeout counted from the start of the
// call. See the package function Request.
func (s *Socket) Request(ctx context.Context, parts ...any) ([][]byte, error) {
	return Request(ctx, s.Socket, parts...)
}
