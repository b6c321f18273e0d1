package handler

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

// Func is a request handler (reliable.Handler): req is the request's body
// frames, the result the reply's body frames or an error.
type Func = func(ctx context.Context, req [][]byte) ([][]byte, error)

// ReplyError is implemented by an error that chooses its own error reply,
// as grpc-go's status errors do with GRPCStatus: Run answers a handler
// error that has this method in its chain (errors.As) with the code and
// message it returns, CodeHandler when the code is empty.
// reliable.RemoteError implements it.
type ReplyError interface {
	ReplyError() (code, message string)
}

// Ending says how a handler run ended.
type Ending int

const (
	// Replied: the handler returned a reply.
	Replied Ending = iota
	// Failed: the handler returned an error.
	Failed
	// TimedOut: the handler returned an error matching
	// context.DeadlineExceeded once its context's deadline had passed: it
	// gave up at its deadline.
	TimedOut
	// Panicked: the handler panicked.
	Panicked
	// Exited: the handler called runtime.Goexit.
	Exited
)

var endingNames = [...]string{
	Replied: "replied", Failed: "failed", TimedOut: "timed-out", Panicked: "panicked", Exited: "exited",
}

// String names the ending, e.g. "panicked".
func (e Ending) String() string {
	if e >= 0 && int(e) < len(endingNames) {
		return endingNames[e]
	}
	return fmt.Sprintf("Ending(%d)", int(e))
}

// Messages of the error replies that Run makes itself. The panic value
// and stack stay on the server (Outcome); they are not sent.
const (
	PanicMessage   = "handler panicked"
	ExitMessage    = "handler exited without returning"
	TimeoutMessage = "handler overran its deadline"
)

// Outcome is how a handler run ended, and the reply that answers it.
type Outcome struct {
	Ending Ending // how the run ended
	// Reply is the reply's body when Ending is Replied: the handler's
	// frames, or one empty frame for an empty reply.
	Reply [][]byte
	// Code and Message are the error reply's code and message for every
	// other Ending.
	Code, Message string
	// Err is the handler's error, for Failed and TimedOut.
	Err error
	// Panic is the value the handler panicked with, and Stack the
	// panicking goroutine's stack, for Panicked.
	Panic any
	Stack []byte // the panicking goroutine's stack (runtime/debug.Stack)
}

// Run calls h(ctx, req) once, on the calling goroutine, and stores in
// *out how it ended:
//
//   - a reply: Replied, an empty one as one empty frame;
//   - an error with a ReplyError method in its chain: Failed, with the
//     code and message it chose (CodeHandler for an empty code);
//   - an error matching context.DeadlineExceeded returned once ctx's
//     deadline had passed: TimedOut, CodeTimeout;
//   - any other error: Failed, CodeHandler and the error's text;
//   - a panic: Panicked, CodePanic, with the value and stack; Run
//     recovers it and returns normally;
//   - runtime.Goexit: Exited, CodePanic. Run stores the outcome from a
//     deferred call and the goroutine then goes on exiting, so Run does
//     not return: a caller hands *out on from a deferred call of its own,
//     which runs next.
func Run(ctx context.Context, h Func, req [][]byte, out *Outcome) {
	returned := false
	defer func() {
		if returned {
			return
		}
		if r := recover(); r != nil {
			*out = Outcome{Ending: Panicked, Code: wire.CodePanic, Message: PanicMessage, Panic: r, Stack: debug.Stack()}
			return
		}
		// No panic and no return: runtime.Goexit.
		*out = Outcome{Ending: Exited, Code: wire.CodePanic, Message: ExitMessage}
	}()
	reply, err := h(ctx, req)
	returned = true
	*out = outcome(ctx, reply, err)
}

// outcome classifies what a handler returned.
func outcome(ctx context.Context, reply [][]byte, err error) Outcome {
	if err == nil {
		if len(reply) == 0 {
			reply = [][]byte{{}}
		}
		return Outcome{Ending: Replied, Reply: reply}
	}
	var re ReplyError
	if errors.As(err, &re) {
		code, message := re.ReplyError()
		if code == "" {
			code = wire.CodeHandler
		}
		return Outcome{Ending: Failed, Code: code, Message: message, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return Outcome{Ending: TimedOut, Code: wire.CodeTimeout, Message: TimeoutMessage, Err: err}
		}
	}
	return Outcome{Ending: Failed, Code: wire.CodeHandler, Message: err.Error(), Err: err}
}
