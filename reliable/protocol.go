package reliable

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire protocol is specified in docs/PROTOCOL.md. In short, a
// protocol-aware client sends
//
//	[ID frame, "", body frames...]
//
// where the ID frame is an envelope frame, so that any REP or ROUTER
// server echoes it back in front of its reply. A zmqguard server rewrites
// the kind byte of the echoed ID to say whether the body is a reply or an
// error; an ordinary echoing server returns it unchanged.

// idFrameLen is the length of an ID frame.
const idFrameLen = 24

// ID frame layout.
const (
	idMagic0   = 'Z'
	idMagic1   = 'G'
	idVersion  = 1
	offKind    = 3
	offClient  = 4
	offSeq     = 12
	offAttempt = 20
)

// Kind is the kind byte of an ID frame.
type Kind byte

const (
	// KindRequest marks a request, and a reply from a server that echoed
	// the envelope without understanding it (any REP or ROUTER echo).
	KindRequest Kind = 'Q'
	// KindReply marks a successful reply from a zmqguard server.
	KindReply Kind = 'R'
	// KindError marks an error reply from a zmqguard server; the body is
	// [code, message].
	KindError Kind = 'E'
)

// RequestID identifies one attempt of one request. Client is random per
// client; Seq numbers the client's requests; Attempt numbers the tries of
// one request from 1. Servers suppress duplicates by (Client, Seq);
// clients accept a reply only for the (Seq, Attempt) they wait for.
type RequestID struct {
	Client  uint64
	Seq     uint64
	Attempt uint32
}

// String renders the id for logs: client/seq#attempt in hex/decimal.
func (id RequestID) String() string {
	return fmt.Sprintf("%016x/%d#%d", id.Client, id.Seq, id.Attempt)
}

// Key returns the part of the id that names the request, not the attempt.
func (id RequestID) Key() RequestKey { return RequestKey{id.Client, id.Seq} }

// RequestKey names a request across its attempts.
type RequestKey struct {
	Client uint64
	Seq    uint64
}

// AppendFrame appends the ID frame for id with the given kind to dst.
func (id RequestID) AppendFrame(dst []byte, kind Kind) []byte {
	dst = append(dst, idMagic0, idMagic1, idVersion, byte(kind))
	dst = binary.BigEndian.AppendUint64(dst, id.Client)
	dst = binary.BigEndian.AppendUint64(dst, id.Seq)
	dst = binary.BigEndian.AppendUint32(dst, id.Attempt)
	return dst
}

// ErrMalformed is matched by every error about bytes that do not follow
// the protocol (see *MalformedError).
var ErrMalformed = errors.New("reliable: malformed message")

// MalformedError describes a message that does not follow the protocol.
type MalformedError struct {
	What string // what was wrong, e.g. "ID frame length 7"
}

// Error describes what was malformed.
func (e *MalformedError) Error() string { return "reliable: malformed message: " + e.What }

// Is makes every MalformedError match ErrMalformed.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, a ...any) error {
	return &MalformedError{What: fmt.Sprintf(format, a...)}
}

// IsIDFrame reports whether b looks like an ID frame (magic and version),
// without validating the kind.
func IsIDFrame(b []byte) bool {
	return len(b) == idFrameLen && b[0] == idMagic0 && b[1] == idMagic1 && b[2] == idVersion
}

// ParseIDFrame decodes an ID frame.
func ParseIDFrame(b []byte) (RequestID, Kind, error) {
	if len(b) != idFrameLen {
		return RequestID{}, 0, malformed("ID frame length %d, want %d", len(b), idFrameLen)
	}
	if b[0] != idMagic0 || b[1] != idMagic1 {
		return RequestID{}, 0, malformed("ID frame magic %q", b[:2])
	}
	if b[2] != idVersion {
		return RequestID{}, 0, malformed("ID frame version %d", b[2])
	}
	k := Kind(b[offKind])
	switch k {
	case KindRequest, KindReply, KindError:
	default:
		return RequestID{}, 0, malformed("ID frame kind %q", byte(k))
	}
	return RequestID{
		Client:  binary.BigEndian.Uint64(b[offClient:]),
		Seq:     binary.BigEndian.Uint64(b[offSeq:]),
		Attempt: binary.BigEndian.Uint32(b[offAttempt:]),
	}, k, nil
}

// Error codes carried by error replies.
const (
	CodeHandler    = "handler"    // the handler returned an error
	CodePanic      = "panic"      // the handler panicked
	CodeTimeout    = "timeout"    // the handler overran its deadline
	CodeMalformed  = "malformed"  // the request did not follow the protocol
	CodeOverloaded = "overloaded" // the server refused the request for load
	CodeShutdown   = "shutdown"   // the server is shutting down
)

// PlainErrorMarker is the first frame of an error reply to a client that
// did not send an ID frame (a plain REQ client): [marker, code, message].
const PlainErrorMarker = "ZGERR"

// maxErrorText bounds the code and message taken from an error reply.
const maxErrorText = 4096

// RemoteError is an error reply from a zmqguard server: the handler
// failed, panicked or overran, or the server refused the request. Match it
// with errors.As; Code is one of the Code constants (or a server's own).
type RemoteError struct {
	Code    string
	Message string
}

// Error renders the code and message.
func (e *RemoteError) Error() string {
	return "reliable: remote " + e.Code + " error: " + e.Message
}

// EncodeErrorBody returns the body of an error reply.
func EncodeErrorBody(code, message string) [][]byte {
	return [][]byte{[]byte(code), []byte(message)}
}

// ParseErrorBody decodes the body of an error reply ([code, message]).
// Overlong texts are truncated, not refused.
func ParseErrorBody(body [][]byte) (*RemoteError, error) {
	if len(body) != 2 {
		return nil, malformed("error reply has %d frames, want 2", len(body))
	}
	return &RemoteError{Code: clip(body[0]), Message: clip(body[1])}, nil
}

func clip(b []byte) string {
	if len(b) > maxErrorText {
		b = b[:maxErrorText]
	}
	return string(b)
}
