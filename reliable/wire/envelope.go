package wire

import (
	"bytes"
	"fmt"
)

// MaxEnvelopeFrames bounds the routing frames before the delimiter that
// ParseRouterMessage accepts. A longer envelope is malformed, and is
// answered to its first frame only.
const MaxEnvelopeFrames = 32

// Request is a request message received on a ROUTER socket, taken apart
// by ParseRouterMessage.
type Request struct {
	// Envelope is the frames before the empty delimiter: the peer's
	// routing id, any proxy hops and, for a correlated request, the ID
	// frame. A reply goes back with it (see Reply). It is nil for a
	// request received on a REP socket, which hides the envelope.
	Envelope [][]byte
	// Body is the frames after the delimiter.
	Body [][]byte
	// ID is the request's id when Correlated is set.
	ID RequestID
	// Correlated is set for a well-formed request whose envelope ends
	// with an ID frame of kind KindRequest: a server deduplicates it by
	// ID.Key().
	Correlated bool
	// IDForm is set when the envelope ends with an ID frame of a layout
	// this version knows, valid or not: replies to it, error replies
	// included, carry their kind in that frame (Reply's idForm).
	// Otherwise an error reply takes the plain form.
	IDForm bool
	// Malformed, when not empty, says why the request does not follow
	// the protocol. A server answers it with CodeMalformed and this text,
	// and does not run it.
	Malformed string
}

// idPrefix is how every ID frame of this protocol version begins.
var idPrefix = []byte{idMagic0, idMagic1, idVersion}

// ParseRouterMessage takes apart a message received on a ROUTER socket:
//
//	[routing id, hops..., (ID frame,) "", body...]
//
// The ID frame is looked for only in the last position before the
// delimiter, never in the routing id. ok is false when the message cannot
// be answered at all (it has no routing id and frame after it).
func ParseRouterMessage(msg [][]byte) (r Request, ok bool) {
	if len(msg) < 2 {
		// A ROUTER always prepends the routing id; a message of the id
		// alone (or nothing) cannot happen, and could not be answered.
		return Request{Malformed: "empty message"}, false
	}
	delim := -1
	for i := 1; i < len(msg); i++ {
		if len(msg[i]) == 0 {
			delim = i
			break
		}
	}
	if delim < 0 {
		return Request{Envelope: msg[:1], Malformed: "no empty delimiter frame"}, true
	}
	if delim > MaxEnvelopeFrames {
		return Request{Envelope: msg[:1], Malformed: fmt.Sprintf("envelope of %d frames", delim)}, true
	}
	r.Envelope, r.Body = msg[:delim], msg[delim+1:]
	if delim >= 2 {
		last := r.Envelope[delim-1]
		isID, err := classifyIDFrame(last)
		if isID {
			if err != nil {
				r.Malformed = err.Error()
				r.IDForm = IsIDFrame(last)
				return r, true
			}
			r.ID, _, _ = ParseIDFrame(last)
			r.Correlated, r.IDForm = true, true
		}
	}
	if len(r.Body) == 0 {
		// Answered as malformed (in ID form when it has an ID frame), so
		// not a correlated request to execute or deduplicate.
		r.Malformed = "request has no body frames"
		r.Correlated = false
	}
	return r, true
}

// classifyIDFrame says whether b is meant as an ID frame (it carries the
// magic and this version's byte, or the magic and an ID frame's length),
// and if so whether it is a valid request ID. Anything else in the last
// envelope position is an ordinary routing frame (a plain REQ peer, a
// proxy hop, REQ_CORRELATE's request id).
func classifyIDFrame(b []byte) (isID bool, err error) {
	switch {
	case bytes.HasPrefix(b, idPrefix):
	case len(b) == IDFrameLen && b[0] == idMagic0 && b[1] == idMagic1:
	default:
		return false, nil
	}
	_, kind, err := ParseIDFrame(b)
	if err != nil {
		return true, err
	}
	if kind != KindRequest {
		return true, malformed("ID frame kind %q in a request", byte(kind))
	}
	return true, nil
}

// SplitEnvelope splits a routed message [envelope..., "", body...] at its
// first empty frame: env is the frames before it, body the frames after
// it. ok is false when there is no empty frame.
func SplitEnvelope(msg [][]byte) (env, body [][]byte, ok bool) {
	for i, f := range msg {
		if len(f) == 0 {
			return msg[:i], msg[i+1:], true
		}
	}
	return nil, nil, false
}

// EndsWithIDFrame reports whether env's last frame is an ID frame (see
// IsIDFrame): the request came from a protocol-aware client, and an error
// reply to it carries KindError in that frame instead of taking the plain
// form.
func EndsWithIDFrame(env [][]byte) bool {
	return len(env) > 0 && IsIDFrame(env[len(env)-1])
}
