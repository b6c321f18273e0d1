package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

// Every blocking call takes a context: its deadline bounds the call, its
// cancellation wakes it, and a Socket adds default timeouts to the method set
// of a pebbe/zmq4 socket.
func Example() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	pull, _ := zctx.NewSocket(zmq.PULL)
	pull.Bind("inproc://example-overview")
	push, _ := zctx.NewSocket(zmq.PUSH)
	push.Connect("inproc://example-overview")

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	timeout.SendMessage(ctx, push, "job", 1)
	msg, err := timeout.RecvMessage(ctx, pull)
	fmt.Println(msg, err)

	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	_, err = timeout.RecvMessage(short, pull) // nothing more comes
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded))

	s, _ := timeout.New(pull, timeout.WithRecvTimeout(10*time.Millisecond))
	_, err = s.RecvMessage(0) // pebbe-style, bounded by the default
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded))
	// Output:
	// [job 1] <nil>
	// true
	// true
}

// Receive with a deadline: the call returns when a message arrives or the
// deadline passes, whichever comes first.
func ExampleRecvBytes() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	pull, _ := zctx.NewSocket(zmq.PULL)
	pull.Bind("inproc://example-recv")
	push, _ := zctx.NewSocket(zmq.PUSH)
	push.Connect("inproc://example-recv")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	timeout.Send(ctx, push, "hello")
	msg, err := timeout.RecvBytes(ctx, pull)
	fmt.Printf("%s %v\n", msg, err)

	_, err = timeout.RecvBytes(ctx, pull) // nothing more comes
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded))
	// Output:
	// hello <nil>
	// true true
}

// Cancelling the context wakes a blocked receive at once.
func ExampleRecvMessage_cancel() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	pull, _ := zctx.NewSocket(zmq.PULL)
	pull.Bind("inproc://example-cancel")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, err := timeout.RecvMessage(ctx, pull)
	fmt.Println(errors.Is(err, context.Canceled))
	// Output:
	// true
}

// A request and its reply under one deadline.
func ExampleRequest() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	rep, _ := zctx.NewSocket(zmq.REP)
	rep.Bind("inproc://example-request")
	req, _ := zctx.NewSocket(zmq.REQ)
	req.Connect("inproc://example-request")

	served := make(chan struct{})
	go func() { // an echo server that answers once
		defer close(served)
		msg, _ := rep.RecvMessageBytes(0)
		rep.SendMessage(msg)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply, err := timeout.Request(ctx, req, "ping", 1)
	fmt.Printf("%q %v\n", reply, err)
	<-served
	// Output:
	// ["ping" "1"] <nil>
}

// A Socket has default timeouts and the method set of a pebbe/zmq4 socket.
func ExampleNew() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	pull, _ := zctx.NewSocket(zmq.PULL)
	pull.Bind("inproc://example-new")

	s, err := timeout.New(pull, timeout.WithRecvTimeout(20*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = s.Recv(0) // pebbe-style: waits at most the default
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded))

	// A ctx deadline replaces the default.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = s.RecvContext(ctx, 0)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))

	_, err = timeout.New(pull, timeout.WithSendTimeout(-time.Second))
	fmt.Println(err)
	// Output:
	// true
	// true
	// zmq: invalid option WithSendTimeout: must not be negative (use 0 for no timeout)
}
