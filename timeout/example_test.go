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

// Every blocking call takes a context: its deadline bounds the call, and
// its cancellation wakes it. When ctx has no deadline, the socket's own
// timeout (SetRcvtimeo, SetSndtimeo) bounds the call.
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

	pull.SetRcvtimeo(10 * time.Millisecond)
	_, err = timeout.RecvMessage(context.Background(), pull) // no deadline: the socket's timeout
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

// The socket's receive timeout is the default: it bounds a receive whose
// ctx has no deadline. A ctx deadline replaces it.
func ExampleRecv_socketTimeout() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	pull, _ := zctx.NewSocket(zmq.PULL)
	pull.Bind("inproc://example-socket-timeout")
	pull.SetRcvtimeo(20 * time.Millisecond)

	_, err := timeout.Recv(context.Background(), pull) // waits at most 20ms
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = timeout.Recv(ctx, pull) // waits until ctx's deadline
	fmt.Println(errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true false
	// true true
}

// Wait parks the goroutine until the socket is readable (or writable),
// without holding an OS thread, bounded by a context. Afterwards, receive
// with DONTWAIT.
func ExampleWait() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()

	pull, _ := zctx.NewSocket(zmq.PULL)
	defer pull.Close()
	pull.Bind("inproc://example-wait")
	push, _ := zctx.NewSocket(zmq.PUSH)
	defer push.Close()
	push.Connect("inproc://example-wait")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := timeout.Wait(ctx, pull, zmq.POLLIN)
	fmt.Println("nothing yet:", err, errors.Is(err, context.DeadlineExceeded))

	push.Send("ready", 0)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	ev, err := timeout.Wait(ctx2, pull, zmq.POLLIN)
	fmt.Println(ev, err)
	msg, _ := pull.Recv(zmq.DONTWAIT)
	fmt.Println(msg)
	// Output:
	// nothing yet: zmq: wait: context deadline exceeded true
	// POLLIN <nil>
	// ready
}
