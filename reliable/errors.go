package reliable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

var (
	// ErrNoReply is matched by the error a request returns when it gives
	// up: every attempt failed, or the context ended the call. The error is
	// a *NoReplyError carrying the attempts and the last cause.
	ErrNoReply = errors.New("reliable: no reply")
	// ErrClientClosed is returned by requests on a closed Client. It
	// matches net.ErrClosed.
	ErrClientClosed error = &closedError{"reliable: client closed"}
	// ErrPeerGone ends an attempt early when the library knows the peer
	// is gone (a disconnect, or a WithLiveness tracker reporting it Dead),
	// instead of waiting out the attempt timeout.
	ErrPeerGone = errors.New("reliable: peer disconnected")
	// ErrNotConnected is the last cause of a request that gave up waiting
	// for a connected peer: none of its endpoints was connected before its
	// deadline (see Client), so its last attempt was never sent.
	ErrNotConnected = errors.New("reliable: no connected peer")
	// ErrOutcomeUnknown is matched by a *RemoteError with code
	// wire.CodeOutcomeUnknown: the request was running when its server
	// stopped, and the server, restarted on its persistent reply store,
	// cannot tell whether it completed (docs/DURABILITY.md).
	ErrOutcomeUnknown = errors.New("reliable: outcome unknown")
)

// closedError is the error of a closed Client or Server: it matches
// net.ErrClosed, as a closed socket's error does.
type closedError struct{ msg string }

func (e *closedError) Error() string { return e.msg }

// Is makes the error match net.ErrClosed.
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

// NoReplyError is returned when a request gives up. It matches ErrNoReply,
// its last cause (for example os.ErrDeadlineExceeded after a timeout, or
// ErrPeerGone), and, when the context ended the call, the context's error;
// when that is the context's deadline, it also matches
// os.ErrDeadlineExceeded, like every timeout in zmqguard.
type NoReplyError struct {
	Attempts int   // attempts sent to a peer
	Last     error // the last failure: an attempt's, or ErrNotConnected; nil if none
	Ctx      error // the context's error when the context ended the call
}

// Error says how many attempts were made and what ended the last one.
func (e *NoReplyError) Error() string {
	msg := fmt.Sprintf("reliable: no reply after %d attempt(s)", e.Attempts)
	if e.Ctx != nil {
		msg += ": " + e.Ctx.Error()
	}
	if e.Last != nil {
		msg += ": last: " + e.Last.Error()
	}
	return msg
}

// Unwrap returns ErrNoReply, the context's error and the last cause.
func (e *NoReplyError) Unwrap() []error {
	errs := []error{ErrNoReply}
	if e.Ctx != nil {
		errs = append(errs, e.Ctx)
	}
	if e.Last != nil {
		errs = append(errs, e.Last)
	}
	return errs
}

// Is makes the error match os.ErrDeadlineExceeded when the context's
// deadline ended the call.
func (e *NoReplyError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded && errors.Is(e.Ctx, context.DeadlineExceeded)
}

// RemoteError is an error reply from a zmqguard server: the handler
// failed, panicked or overran, or the server refused the request. Match it
// with errors.As; Code is one of the wire.Code constants (or a server's
// own).
//
// A Handler may return a *RemoteError to choose the error reply its client
// gets: see ReplyError.
type RemoteError struct {
	Code    string // the error code, e.g. wire.CodeHandler
	Message string // the server's description, at most wire.MaxErrorText bytes
}

// Error renders the code and message.
func (e *RemoteError) Error() string {
	return "reliable: remote " + e.Code + " error: " + e.Message
}

// Is makes a RemoteError with code wire.CodeTooLarge match ErrTooLarge,
// like the client's own *TooLargeError, and one with code
// wire.CodeOutcomeUnknown match ErrOutcomeUnknown.
func (e *RemoteError) Is(target error) bool {
	return target == ErrTooLarge && e.Code == wire.CodeTooLarge ||
		target == ErrOutcomeUnknown && e.Code == wire.CodeOutcomeUnknown
}

// ReplyError returns the error reply's code and message. A server that
// gets a handler error with this method answers with them (see Handler):
// a *RemoteError received from one server and returned by a handler of
// another is passed on as it is.
func (e *RemoteError) ReplyError() (code, message string) { return e.Code, e.Message }
