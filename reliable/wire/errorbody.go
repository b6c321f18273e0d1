package wire

// Error codes carried by error replies (docs/PROTOCOL.md section 5.1). A
// server may send codes of its own; clients return them as they are.
const (
	CodeHandler    = "handler"    // the handler returned an error
	CodePanic      = "panic"      // the handler panicked or exited its goroutine
	CodeTimeout    = "timeout"    // the handler overran its deadline
	CodeMalformed  = "malformed"  // the request did not follow the protocol
	CodeOverloaded = "overloaded" // the server refused the request for load
	CodeShutdown   = "shutdown"   // the server is shutting down
	// CodeWorkerLost is sent by a Paranoid Pirate queue when every worker
	// it gave the request to died before replying (docs/PPP.md). The
	// request may or may not have been executed.
	CodeWorkerLost = "worker-lost"
	// CodeNoService is sent by a Majordomo broker (docs/MAJORDOMO.md) for
	// a request whose service had no worker for the broker's service wait.
	// The request was not executed.
	CodeNoService = "no-service"
	// CodePassive is sent by the passive server of a Binary Star pair
	// (docs/BINARY-STAR.md): it takes no requests while its peer is
	// active. The request was not executed; a client retries it on the
	// peer.
	CodePassive = "passive"
	// CodeTooLarge is sent by a server for a request over its limits: more
	// bytes in all its frames together, or more frames, than it takes.
	// The request was not executed; sending it again gets the same answer.
	CodeTooLarge = "too-large"
	// CodeOutcomeUnknown is sent by a server with a persistent reply store
	// (docs/DURABILITY.md) for a retry of a request whose handler was
	// running when an earlier run of the server stopped, when the
	// application asked for it instead of running the handler again. The
	// request may or may not have been executed; sending it again gets the
	// same answer.
	CodeOutcomeUnknown = "outcome-unknown"
)

// PlainErrorMarker is the first frame of an error reply to a client that
// did not send an ID frame (a plain REQ client): [marker, code, message].
const PlainErrorMarker = "ZGERR"

// MaxErrorText bounds the code and the message of an error reply, in
// bytes. Longer texts are clipped, not refused, by EncodeErrorBody on the
// way out and by ParseErrorBody on the way in.
const MaxErrorText = 4096

// EncodeErrorBody returns the body of an error reply, [code, message],
// each clipped to MaxErrorText bytes.
func EncodeErrorBody(code, message string) [][]byte {
	return [][]byte{[]byte(clip(code)), []byte(clip(message))}
}

// ParseErrorBody decodes the body of an error reply, [code, message],
// each clipped to MaxErrorText bytes. Any other number of frames is an
// error matching ErrMalformed.
func ParseErrorBody(body [][]byte) (code, message string, err error) {
	if len(body) != 2 {
		return "", "", malformed("error reply has %d frames, want 2", len(body))
	}
	// Clip before converting: a peer's overlong text costs no more than
	// MaxErrorText bytes here.
	return string(clip(body[0])), string(clip(body[1])), nil
}

// ParsePlainError reports whether body is an error reply in the plain
// form, [PlainErrorMarker, code, message], and returns its code and
// message, each clipped to MaxErrorText bytes. A successful reply that is
// exactly three frames starting with PlainErrorMarker looks the same
// (docs/PROTOCOL.md section 6).
func ParsePlainError(body [][]byte) (code, message string, ok bool) {
	if len(body) != 3 || string(body[0]) != PlainErrorMarker {
		return "", "", false
	}
	code, message, _ = ParseErrorBody(body[1:])
	return code, message, true
}

// clip is the one place error texts are bounded, in both directions.
func clip[T string | []byte](s T) T {
	if len(s) > MaxErrorText {
		return s[:MaxErrorText]
	}
	return s
}
