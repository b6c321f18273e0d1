package wire

import "bytes"

// Reply returns the message that answers a request whose envelope is env
// (the frames before the delimiter, as in Request.Envelope; nil for a
// request received on REP). kind is KindReply or KindError; for KindError
// body is an error body (EncodeErrorBody). idForm asks for env's last frame,
// an ID frame, to carry kind in its kind byte (Request.IDForm; it is
// ignored when that frame is not an ID frame); without it env is echoed
// as it is. The message is:
//
//   - idForm:    [env with the ID frame's kind set, "", body...]
//   - otherwise: [env..., "", body...], and an error as
//     [env..., "", PlainErrorMarker, code, message] when the client takes
//     plain error replies (TakesPlainErrors), else nil: no reply at all
//     (docs/PROTOCOL.md section 6)
//   - REP (env nil): [body...], or [PlainErrorMarker, code, message] (a
//     REP socket hides who the client is, and must answer every request)
//
// A nil result means that nothing must be sent: the caller counts the
// error reply as withheld.
//
// An empty body is sent as one empty frame: a message needs a frame after
// the delimiter (a REQ peer could not receive it otherwise). The ID frame
// is copied before its kind is set; the other frames, env's and body's,
// are shared with the arguments, which are not modified.
func Reply(env [][]byte, idForm bool, kind Kind, body [][]byte) [][]byte {
	if len(body) == 0 {
		body = [][]byte{{}}
	}
	idForm = idForm && len(env) > 0 && IsIDFrame(env[len(env)-1])
	plainErr := kind == KindError && !idForm
	if plainErr && env != nil && !TakesPlainErrors(env) {
		return nil
	}
	n := len(env) + len(body)
	if env != nil {
		n++
	}
	if plainErr {
		n++
	}
	out := make([][]byte, 0, n)
	if idForm {
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
