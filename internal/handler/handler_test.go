package handler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zmqguard/zmqguard/reliable/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// run runs h the way a server does: on a goroutine of its own, handing the
// outcome on from a deferred call.
func run(ctx context.Context, h Func, req [][]byte) Outcome {
	done := make(chan Outcome, 1)
	go func() {
		var o Outcome
		defer func() { done <- o }()
		Run(ctx, h, req, &o)
	}()
	return <-done
}

// chosen is an error that picks its own reply, like reliable.RemoteError.
type chosen struct{ code, msg string }

func (e *chosen) Error() string                      { return "chosen: " + e.msg }
func (e *chosen) ReplyError() (code, message string) { return e.code, e.msg }

func TestRunOutcomes(t *testing.T) {
	bg := context.Background()
	expired, cancel := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel()
	far, cancelFar := context.WithTimeout(bg, time.Hour)
	defer cancelFar()

	tests := []struct {
		name   string
		ctx    context.Context
		h      Func
		ending Ending
		code   string
		msg    string
		reply  [][]byte
	}{
		{"reply", bg, func(context.Context, [][]byte) ([][]byte, error) { return [][]byte{[]byte("ok")}, nil },
			Replied, "", "", [][]byte{[]byte("ok")}},
		{"empty reply is one empty frame", bg, func(context.Context, [][]byte) ([][]byte, error) { return nil, nil },
			Replied, "", "", [][]byte{{}}},
		{"error", bg, func(context.Context, [][]byte) ([][]byte, error) { return nil, errors.New("boom") },
			Failed, wire.CodeHandler, "boom", nil},
		{"reply error", bg, func(context.Context, [][]byte) ([][]byte, error) {
			return nil, fmt.Errorf("wrapped: %w", &chosen{code: "mine", msg: "why"})
		}, Failed, "mine", "why", nil},
		{"reply error without code", bg, func(context.Context, [][]byte) ([][]byte, error) { return nil, &chosen{msg: "why"} },
			Failed, wire.CodeHandler, "why", nil},
		{"reply error wins over the deadline", expired, func(context.Context, [][]byte) ([][]byte, error) {
			return nil, errors.Join(context.DeadlineExceeded, &chosen{code: "mine", msg: "why"})
		}, Failed, "mine", "why", nil},
		{"gave up at the deadline", expired, func(ctx context.Context, _ [][]byte) ([][]byte, error) { return nil, ctx.Err() },
			TimedOut, wire.CodeTimeout, TimeoutMessage, nil},
		{"deadline error before the deadline", far, func(context.Context, [][]byte) ([][]byte, error) {
			return nil, context.DeadlineExceeded // a shorter deadline of its own
		}, Failed, wire.CodeHandler, context.DeadlineExceeded.Error(), nil},
		{"deadline error without a deadline", bg, func(context.Context, [][]byte) ([][]byte, error) { return nil, context.DeadlineExceeded },
			Failed, wire.CodeHandler, context.DeadlineExceeded.Error(), nil},
		{"panic", bg, func(context.Context, [][]byte) ([][]byte, error) { panic("oops") },
			Panicked, wire.CodePanic, PanicMessage, nil},
		{"panic with nil", bg, func(context.Context, [][]byte) ([][]byte, error) { panic(nil) },
			Panicked, wire.CodePanic, PanicMessage, nil},
		{"goexit", bg, func(context.Context, [][]byte) ([][]byte, error) { runtime.Goexit(); return nil, nil },
			Exited, wire.CodePanic, ExitMessage, nil},
		{"goexit after a recovered panic", bg, func(context.Context, [][]byte) ([][]byte, error) {
			func() {
				defer func() { _ = recover() }()
				panic("handled")
			}()
			runtime.Goexit()
			return nil, nil
		}, Exited, wire.CodePanic, ExitMessage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := run(tt.ctx, tt.h, [][]byte{[]byte("req")})
			assert.Equal(t, tt.ending, o.Ending, "ending %v", o.Ending)
			assert.Equal(t, tt.code, o.Code)
			assert.Equal(t, tt.msg, o.Message)
			assert.Equal(t, tt.reply, o.Reply)
			if tt.ending == Failed || tt.ending == TimedOut {
				assert.Error(t, o.Err)
			} else {
				assert.NoError(t, o.Err)
			}
		})
	}
}

func TestRunPanicValueAndStack(t *testing.T) {
	o := run(context.Background(), func(context.Context, [][]byte) ([][]byte, error) {
		panic(fmt.Sprintf("value %d", 42))
	}, nil)
	require.Equal(t, Panicked, o.Ending)
	assert.Equal(t, "value 42", o.Panic)
	assert.True(t, strings.Contains(string(o.Stack), "TestRunPanicValueAndStack"), "stack of the panicking goroutine:\n%s", o.Stack)
}

func TestRunPassesContextAndRequest(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	o := run(ctx, func(ctx context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(ctx.Value(key{}).(string)), req[0]}, nil
	}, [][]byte{[]byte("r")})
	assert.Equal(t, [][]byte{[]byte("v"), []byte("r")}, o.Reply)
}

func TestEndingString(t *testing.T) {
	assert.Equal(t, "replied", Replied.String())
	assert.Equal(t, "exited", Exited.String())
	assert.Equal(t, "Ending(9)", Ending(9).String())
}
