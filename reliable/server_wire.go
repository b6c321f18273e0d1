package reliable

import (
	"bytes"
	"fmt"
)

// This file is the server's side of the wire protocol (docs/PROTOCOL.md):
// taking a ROUTER message apart into envelope, request id and body, and
// framing replies and error replies.

// inbound is a request message taken apart.
type inbound struct {
	env   [][]byte  // envelope: routing frames up to the delimiter; nil on REP
	body  [][]byte  // frames after the delimiter
	id    RequestID // valid when proto
	proto bool      // the envelope ends with an ID frame
	// When bad is set the request is malformed: reply with CodeMalformed
	// and this text. idForm says whether the envelope ends with an ID
	// frame of a layout we know, so the error can be flagged in its kind
	// byte; otherwise the error reply is in the plain form.
	bad    string
	idForm bool
}

// idPrefix is how every ID frame of this protocol version begins.
var idPrefix = []byte{idMagic0, idMagic1, idVersion}

// parseRouterMessage takes apart a message received on a ROUTER socket:
//
//	[routing id, hops..., (ID frame,) "", body...]
//
// ok is false when the message cannot be answered at all (no routing id).
func parseRouterMessage(msg [][]byte) (in inbound, ok bool) {
	if len(msg) < 2 {
		// A ROUTER always prepends the routing id; a message of the id
		// alone (or nothing) cannot happen, and could not be answered.
		return inbound{bad: "empty message"}, false
	}
	delim := -1
	for i := 1; i < len(msg); i++ {
		if len(msg[i]) == 0 {
			delim = i
			break
		}
	}
	if delim < 0 {
		return inbound{env: msg[:1], bad: "no empty delimiter frame"}, true
	}
	if delim > maxEnvelopeFrames {
		return inbound{env: msg[:1], bad: fmt.Sprintf("envelope of %d frames", delim)}, true
	}
	in.env, in.body = msg[:delim], msg[delim+1:]
	if delim >= 2 {
		last := in.env[delim-1]
		isID, err := classifyIDFrame(last)
		if isID {
			if err != nil {
				in.bad = err.Error()
				in.idForm = IsIDFrame(last)
				return in, true
			}
			in.id, _, _ = ParseIDFrame(last)
			in.proto, in.idForm = true, true
		}
	}
	if len(in.body) == 0 {
		// Answered as malformed (in ID form when it has an ID frame), so
		// not a protocol request to execute or deduplicate.
		in.bad = "request has no body frames"
		in.proto = false
	}
	return in, true
}

// classifyIDFrame says whether b is meant as an ID frame (it carries the
// magic and this version's byte, or the magic and an ID frame's length),
// and if so whether it is a valid request ID. Anything else in the last
// envelope position is an ordinary routing frame (a plain REQ peer, a
// proxy hop, REQ_CORRELATE's request id).
func classifyIDFrame(b []byte) (isID bool, err error) {
	switch {
	case bytes.HasPrefix(b, idPrefix):
	case len(b) == idFrameLen && b[0] == idMagic0 && b[1] == idMagic1:
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

// replyFrames frames a reply to in's envelope. kind is KindReply or
// KindError; for KindError body is [code, message].
//
//   - protocol-aware: [envelope with the ID's kind byte set, "", body...]
//   - plain:          [envelope, "", body...], and an error as
//     [envelope, "", PlainErrorMarker, code, message]
//   - REP (no envelope): body, or [PlainErrorMarker, code, message]
//
// The envelope is copied where it changes; body frames are shared.
func replyFrames(env [][]byte, idForm bool, kind Kind, body [][]byte) [][]byte {
	plainErr := kind == KindError && !idForm
	n := len(env) + len(body)
	if env != nil {
		n++
	}
	if plainErr {
		n++
	}
	out := make([][]byte, 0, n)
	if idForm && len(env) > 0 {
		out = append(out, env[:len(env)-1]...)
		id := bytes.Clone(env[len(env)-1])
		id[offKind] = byte(kind)
		out = append(out, id)
	} else {
		out = append(out, env...)
	}
	if env != nil {
		out = append(out, []byte{})
	}
	if plainErr {
		out = append(out, []byte(PlainErrorMarker))
	}
	return append(out, body...)
}

// errorBody is EncodeErrorBody with the texts clipped to what clients
// accept.
func errorBody(code, message string) [][]byte {
	if len(code) > maxErrorText {
		code = code[:maxErrorText]
	}
	if len(message) > maxErrorText {
		message = message[:maxErrorText]
	}
	return EncodeErrorBody(code, message)
}

// nonEmpty returns body, or one empty frame when body has none: a message
// needs at least one frame after the delimiter (a REQ peer could not
// receive it otherwise).
func nonEmpty(body [][]byte) [][]byte {
	if len(body) == 0 {
		return [][]byte{{}}
	}
	return body
}
