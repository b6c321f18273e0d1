package wire

import "bytes"

// MaxTraceFrame bounds a trace frame, prefix included: a client sends
// none longer, and a server ignores a longer one.
const MaxTraceFrame = 512

// tracePrefix begins every trace frame: the ID frame's magic and version
// and the kind 'T' (docs/PROTOCOL.md section 4.1).
var tracePrefix = []byte{idMagic0, idMagic1, idVersion, 'T'}

// AppendTraceFrame appends a trace frame carrying carried (opaque to the
// protocol: the W3C trace context, for the otel adapter) to dst. It returns
// dst unchanged when the frame would be longer than MaxTraceFrame.
func AppendTraceFrame(dst, carried []byte) []byte {
	if len(tracePrefix)+len(carried) > MaxTraceFrame {
		return dst
	}
	dst = append(dst, tracePrefix...)
	return append(dst, carried...)
}

// TraceOf returns what the trace frame of a correlated request's
// envelope carries: the frame right before the ID frame, when it is a
// trace frame no longer than MaxTraceFrame. ok is false when there is
// none. A server that predates trace frames takes the frame for one more
// routing frame and echoes it with the reply, which is harmless.
func TraceOf(env [][]byte) (carried []byte, ok bool) {
	if len(env) < 3 || !IsIDFrame(env[len(env)-1]) {
		return nil, false // the routing id comes first: [rid, trace, ID]
	}
	f := env[len(env)-2]
	if !isTraceFrame(f) {
		return nil, false
	}
	return f[len(tracePrefix):], true
}

// StripTrace returns a reply as a client's DEALER receives it without a
// leading trace frame that the server echoed: [trace, ID, "", body...]
// becomes [ID, "", body...]. Any other message is returned as it is.
func StripTrace(msg [][]byte) [][]byte {
	if len(msg) >= 3 {
		_, msg = CutTrace(msg)
	}
	return msg
}

// CutTrace takes a leading trace frame off frames that begin
// [trace, ID frame, ...]: a DEALER's view of a request whose envelope
// carries one (a ppp.Worker's, behind a ppp.Queue). It returns what the
// trace frame carries and the rest, or nil and frames unchanged.
func CutTrace(frames [][]byte) (carried []byte, rest [][]byte) {
	if len(frames) >= 2 && isTraceFrame(frames[0]) && IsIDFrame(frames[1]) {
		return frames[0][len(tracePrefix):], frames[1:]
	}
	return nil, frames
}

func isTraceFrame(b []byte) bool {
	return len(b) <= MaxTraceFrame && bytes.HasPrefix(b, tracePrefix)
}
