// Package ctxerr answers one question for every layer: has this context
// ended? It is the single home of one race. The netpoller wakes a waiter at
// a context's deadline, often a moment before the context's own timer
// marks it done, so ctx.Err() can still be nil right after a wait that the
// deadline ended. Code that then reports "deadline exceeded" must not
// return before ctx.Err() says so too, or a caller checking ctx.Err() (or
// errors.Is(err, ctx.Err())) would see nothing.
//
// The package keeps no state and owns no goroutines; its function is safe
// for concurrent use.
package ctxerr

import (
	"context"
	"os"
	"time"
)

// Grace bounds how long Ended waits for a context whose deadline has passed
// to mark itself done. The context's timer is already due, so the wait is
// normally microseconds; the bound only guards against a stalled runtime.
const Grace = 50 * time.Millisecond

// Ended returns ctx.Err(), and also context.DeadlineExceeded once ctx's
// deadline has passed although ctx has not said so yet: it then waits, at
// most Grace, for ctx to mark itself done, so that ctx.Err() is set when
// Ended returns. It returns nil while ctx is live.
func Ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, ok := ctx.Deadline()
	if !ok || time.Now().Before(d) {
		return nil
	}
	t := time.NewTimer(Grace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return context.DeadlineExceeded
	}
}

// Deadline returns err, a context's error, in the form that every zmqguard
// error caused by a deadline takes: context.DeadlineExceeded also matches
// os.ErrDeadlineExceeded and is a net.Error whose Timeout() is true. Any
// other error is returned as it is.
func Deadline(err error) error {
	if err != context.DeadlineExceeded {
		return err
	}
	return deadlineError{}
}

type deadlineError struct{}

func (deadlineError) Error() string   { return context.DeadlineExceeded.Error() }
func (deadlineError) Timeout() bool   { return true }
func (deadlineError) Temporary() bool { return true }

func (deadlineError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}
