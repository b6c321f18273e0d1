package reliable

import (
	"context"
	"errors"
)

// CodeWorkerLost is the code of the error reply a Paranoid Pirate queue
// sends when every worker it gave a request to died before replying
// (docs/PPP.md). The request may or may not have been executed.
const CodeWorkerLost = "worker-lost"

// splitEnvelope splits a routed message [envelope..., "", body...] after
// its first empty frame. ok is false when there is no empty frame.
func splitEnvelope(msg [][]byte) (envelope, body [][]byte, ok bool) {
	for i, f := range msg {
		if len(f) == 0 {
			return msg[:i+1], msg[i+1:], true
		}
	}
	return nil, nil, false
}

// replyMessage builds [envelope..., body...] as send parts; an empty body
// is sent as one empty frame, as the Server does.
func replyMessage(envelope, body [][]byte) []interface{} {
	parts := make([]interface{}, 0, len(envelope)+max(len(body), 1))
	for _, f := range envelope {
		parts = append(parts, f)
	}
	if len(body) == 0 {
		return append(parts, []byte{})
	}
	for _, f := range body {
		parts = append(parts, f)
	}
	return parts
}

// errorReplyMessage builds the error reply to a request with the given
// envelope (ending in its empty delimiter), following docs/PROTOCOL.md: if
// the frame before the delimiter is an ID frame, the reply carries that ID
// with KindError and the body [code, message]; otherwise (a plain REQ
// client) the body is [PlainErrorMarker, code, message].
func errorReplyMessage(envelope [][]byte, code, message string) []interface{} {
	env := make([][]byte, len(envelope))
	copy(env, envelope)
	if n := len(env); n >= 2 && IsIDFrame(env[n-2]) {
		id := append([]byte(nil), env[n-2]...)
		id[offKind] = byte(KindError)
		env[n-2] = id
		return replyMessage(env, EncodeErrorBody(code, message))
	}
	return replyMessage(env, [][]byte{[]byte(PlainErrorMarker), []byte(code), []byte(message)})
}

// runHandler calls h, turning an error or a panic into an error code and
// message.
func runHandler(ctx context.Context, h Handler, req [][]byte) (body [][]byte, code, message string) {
	defer func() {
		if recover() != nil {
			body, code, message = nil, CodePanic, "handler panicked"
		}
	}()
	body, err := h(ctx, req)
	if err == nil {
		return body, "", ""
	}
	var re *RemoteError
	if errors.As(err, &re) {
		code = re.Code
		if code == "" {
			code = CodeHandler
		}
		return nil, code, re.Message
	}
	return nil, CodeHandler, err.Error()
}
