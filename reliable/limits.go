package reliable

import (
	"errors"
	"fmt"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// Size limits of the Client (the Server's are in server_options.go).
const (
	// DefaultMaxReplySize bounds a reply a Client accepts, in bytes of all
	// its body frames together (WithMaxReplySize): 4 MiB, gRPC's default
	// receive limit. It is also the ZMQ_MAXMSGSIZE of the client's
	// sockets, so that libzmq drops a connection whose server announces a
	// larger frame instead of allocating it.
	DefaultMaxReplySize = 4 << 20
	// DefaultMaxRequestSize bounds a request a Client sends, in bytes of
	// all its frames together (WithMaxRequestSize). It equals the Server's
	// DefaultMaxMessageSize, so that a client and a server left at their
	// defaults agree: a larger request is refused at once with a
	// *TooLargeError instead of being sent to a server that would refuse
	// it.
	DefaultMaxRequestSize = DefaultMaxMessageSize
)

// ErrTooLarge is matched by every error about a message over a size
// limit: a *TooLargeError, which the Client returns for a request larger
// than its WithMaxRequestSize (without sending it) and for a reply larger
// than its WithMaxReplySize (the cause of the failed attempt), and a
// *RemoteError with code wire.CodeTooLarge, a server's answer to a
// request over its limits.
var ErrTooLarge = errors.New("reliable: message too large")

// TooLargeError is a request or reply over a size limit. It matches
// ErrTooLarge.
type TooLargeError struct {
	What   string // "request" or "reply"
	Size   int64  // bytes in all frames together
	Frames int    // frames counted
	Limit  int64  // the limit in bytes
}

// Error says what was too large, and the limit.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("reliable: %s too large: %d bytes in %d frames, limit %d bytes", e.What, e.Size, e.Frames, e.Limit)
}

// Is makes every TooLargeError match ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// messageSize returns the bytes in all of frames together.
func messageSize[T string | []byte](frames []T) int64 {
	var n int64
	for _, f := range frames {
		n += int64(len(f))
	}
	return n
}

// checkRequest refuses a request over the client's limit before it is
// sent. A limit of 0 or less means none.
func (c *Client) checkRequest(parts [][]byte) error {
	limit := c.cfg.maxRequest
	if limit <= 0 {
		return nil
	}
	if n := messageSize(parts); n > limit {
		c.counters.tooLarge.Add(1)
		return &TooLargeError{What: "request", Size: n, Frames: len(parts), Limit: limit}
	}
	return nil
}

// checkReply validates a reply's body frames (those after the delimiter):
// a reply has at least one body frame (docs/PROTOCOL.md section 5; an
// empty reply is one empty frame), and its frames together stay within
// the client's limit. A reply that fails is never returned as a success:
// the attempt fails with the error (counted as malformed or too large),
// and the request is retried like any failed attempt.
func (c *Client) checkReply(body [][]byte) error {
	if len(body) == 0 {
		c.counters.malformed.Add(1)
		return &wire.MalformedError{What: "reply has no body frame"}
	}
	err := checkSize(c.cfg.maxReply, body)
	if err != nil {
		c.counters.tooLarge.Add(1)
	}
	return err
}

// frameLimit is the ZMQ_MAXMSGSIZE for a limit on a whole message: one
// frame cannot be larger than the message; -1 (libzmq's "no limit") for
// none.
func frameLimit(limit int64) int64 {
	if limit <= 0 {
		return -1
	}
	return limit
}

// WithMaxReplySize bounds the replies the client accepts, in bytes of all
// their body frames together (default DefaultMaxReplySize; -1 for no
// limit). A larger reply fails its attempt with a *TooLargeError (matching
// ErrTooLarge), and the request is retried like any failed attempt; after
// the last attempt the *NoReplyError matches ErrTooLarge too. It also sets
// ZMQ_MAXMSGSIZE on the client's sockets: libzmq drops the connection of
// a server that announces a single frame over the limit, without
// allocating it, and the attempt fails as ErrPeerGone (libzmq does not
// say why it dropped a connection). libzmq buffers a reply of many frames
// whole before the client sees any of it, so a server that sends one
// without end still costs the client memory; the client trusts its
// servers that far.
func WithMaxReplySize(n int64) ClientOption {
	return func(c *clientConfig) error {
		if n < -1 || n == 0 {
			return optionError("WithMaxReplySize", "must be positive, or -1 for no limit")
		}
		c.maxReply = n
		return nil
	}
}

// WithMaxRequestSize bounds the requests the client sends, in bytes of
// all their frames together (default DefaultMaxRequestSize, the Server's
// default limit; -1 for no limit). Request refuses a larger request at
// once with a *TooLargeError (matching ErrTooLarge), without sending it:
// a server would answer it with wire.CodeTooLarge, or drop the connection
// when one frame exceeds its ZMQ_MAXMSGSIZE. Set it to the limit of the
// servers the client talks to.
func WithMaxRequestSize(n int64) ClientOption {
	return func(c *clientConfig) error {
		if n < -1 || n == 0 {
			return optionError("WithMaxRequestSize", "must be positive, or -1 for no limit")
		}
		c.maxRequest = n
		return nil
	}
}
