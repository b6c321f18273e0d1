// Package wire is zmqguard's request/reply wire protocol, ZGRR/1
// (docs/PROTOCOL.md), as pure functions over frames: the 24-byte request-id
// frame (RequestID, Kind, AppendFrame, ParseIDFrame), the error codes and
// error bodies, the envelope of a routed message, and the one reply framer,
// Reply, that every zmqguard server uses: reliable.Server and, in package
// reliable/ppp, the Paranoid Pirate worker and queue.
//
// A protocol-aware client sends
//
//	[ID frame (kind 'Q'), "", body frames...]
//
// The ID frame is an envelope frame, so any REP or ROUTER server echoes it
// in front of its reply. A zmqguard server rewrites the echoed ID frame's
// kind byte to KindReply or KindError; an ordinary echoing server returns
// it unchanged (KindRequest). A plain client (REQ) sends no ID frame, and
// gets error replies as [PlainErrorMarker, code, message].
//
// # Contract
//
// The package keeps no state, owns no goroutines, touches no socket and
// imports nothing from the rest of zmqguard. Every function is safe for
// concurrent use. No function modifies the frames it is given: parsers
// return sub-slices of their input (the caller must not modify the input
// while it uses them), and Reply copies the one frame it changes. Error
// texts are clipped to MaxErrorText bytes by EncodeErrorBody and
// ParseErrorBody alike, so neither side holds more than that of a peer's
// text. Every error about bytes that do not follow the protocol matches
// ErrMalformed.
package wire
