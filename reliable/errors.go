package reliable

import (
	"errors"
	"fmt"
)

var (
	// ErrNoReply is matched by the error a request returns when it gives
	// up: every attempt failed, or the context ended the call. The error is
	// a *NoReplyError carrying the attempts and the last cause.
	ErrNoReply = errors.New("reliable: no reply")
	// ErrClientClosed is returned by requests on a closed Client.
	ErrClientClosed = errors.New("reliable: client closed")
	// ErrPeerGone ends an attempt early when the library knows the peer
	// is gone (a disconnect, or a WithLiveness tracker reporting it Dead),
	// instead of waiting out the attempt timeout.
	ErrPeerGone = errors.New("reliable: peer disconnected")
	// ErrNotConnected ends an attempt that could not be sent because no
	// peer was connected for the whole attempt timeout.
	ErrNotConnected = errors.New("reliable: no connected peer")
)

// NoReplyError is returned when a request gives up. It matches ErrNoReply,
// its last cause (for example os.ErrDeadlineExceeded after a timeout, or
// ErrPeerGone), and, when the context ended the call, the context's error.
type NoReplyError struct {
	Attempts int   // attempts made
	Last     error // the last attempt's failure, nil if none was made
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
