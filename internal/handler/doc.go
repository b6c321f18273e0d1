// Package handler runs a request handler once and says how it ended, the
// same way for every zmqguard server (reliable.Server, ppp.Worker): a
// reply, an error (with the code the error chose, or CodeHandler), giving
// up at the deadline (CodeTimeout), a panic (CodePanic, with its value and
// stack) or runtime.Goexit (CodePanic). Every ending is an Outcome that
// the server turns into exactly one reply (wire.Reply), so no request goes
// unanswered because its handler misbehaved.
//
// # Concurrency
//
// Run calls the handler on the calling goroutine and keeps no state: it is
// safe for concurrent use. Because a handler may end its goroutine with
// runtime.Goexit, run it on a goroutine of its own that hands the Outcome
// on from a deferred call (see Run).
package handler
