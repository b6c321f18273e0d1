// Command timeout shows how zmqguard bounds a blocked receive: by a
// context deadline, by cancelling the context from another goroutine, by a
// socket's default timeout, by closing the socket, and with a deadline
// shorter than a millisecond (which pebbe/zmq4 turns into "don't wait").
// Nobody ever sends on the socket, so every receive below would block
// forever on a plain pebbe/zmq4 socket without RCVTIMEO.
//
// Run it with `(cd examples && go run ./timeout)`.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/zmqguard/zmqguard/timeout"
	"github.com/zmqguard/zmqguard/zmq"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "timeout:", err)
		os.Exit(1)
	}
}

// silent returns a PULL socket that nobody sends to.
func silent(zctx *zmq.Context, name string) *zmq.Socket {
	s, err := zctx.NewSocket(zmq.PULL)
	check(err)
	check(s.Bind("inproc://" + name))
	return s
}

// within reports whether d lies in [lo, hi].
func within(d, lo, hi time.Duration) string {
	if d >= lo && d <= hi {
		return fmt.Sprintf("yes (%v..%v)", lo, hi)
	}
	return fmt.Sprintf("NO: %v not in %v..%v", d, lo, hi)
}

func main() {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	// 1. A context deadline bounds a blocked receive.
	fmt.Println("1. receive with a 200ms context deadline")
	s := silent(zctx, "deadline")
	start := time.Now() // before the deadline is set: it counts from here
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = timeout.RecvBytes(ctx, s)
	took := time.Since(start)
	cancel()
	var ne net.Error
	fmt.Printf("   error: %v\n", err)
	fmt.Printf("   errors.Is(err, context.DeadlineExceeded): %v\n", errors.Is(err, context.DeadlineExceeded))
	fmt.Printf("   errors.Is(err, os.ErrDeadlineExceeded): %v\n", errors.Is(err, os.ErrDeadlineExceeded))
	fmt.Printf("   net.Error with Timeout(): %v\n", errors.As(err, &ne) && ne.Timeout())
	fmt.Printf("   returned after about 200ms: %s\n", within(took, 200*time.Millisecond, 400*time.Millisecond))

	// 2. Cancelling the context from another goroutine wakes the receive.
	fmt.Println("2. receive cancelled from another goroutine after 100ms (think Ctrl-C)")
	s = silent(zctx, "cancel")
	ctx, cancel = context.WithCancel(context.Background())
	start = time.Now()
	stop := time.AfterFunc(100*time.Millisecond, cancel)
	_, err = timeout.RecvMessage(ctx, s)
	took = time.Since(start)
	stop.Stop()
	cancel()
	fmt.Printf("   errors.Is(err, context.Canceled): %v\n", errors.Is(err, context.Canceled))
	fmt.Printf("   woken at once: %s\n", within(took, 100*time.Millisecond, 300*time.Millisecond))

	// 3. The socket's own receive timeout is exact, with pebbe/zmq4's calls.
	fmt.Println("3. socket with a 150ms receive timeout (SetRcvtimeo), pebbe-style Recv(0)")
	ts := silent(zctx, "default")
	check(ts.SetRcvtimeo(150 * time.Millisecond))
	start = time.Now()
	_, err = ts.Recv(0)
	took = time.Since(start)
	fmt.Printf("   errors.Is(err, os.ErrDeadlineExceeded): %v\n", errors.Is(err, os.ErrDeadlineExceeded))
	fmt.Printf("   returned after about 150ms: %s\n", within(took, 150*time.Millisecond, 350*time.Millisecond))
	// A context deadline replaces the default, longer or shorter.
	start = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = timeout.Recv(ctx, ts)
	took = time.Since(start)
	cancel()
	fmt.Printf("   with a 50ms ctx deadline instead: %s, %v\n",
		within(took, 50*time.Millisecond, 250*time.Millisecond), errors.Is(err, context.DeadlineExceeded))

	// 4. Closing the socket from another goroutine wakes the receive.
	fmt.Println("4. socket closed by another goroutine after 100ms")
	s = silent(zctx, "close")
	start = time.Now()
	stop = time.AfterFunc(100*time.Millisecond, func() { _ = s.Close() })
	_, err = timeout.RecvBytes(context.Background(), s)
	took = time.Since(start)
	stop.Stop()
	fmt.Printf("   errors.Is(err, net.ErrClosed): %v\n", errors.Is(err, net.ErrClosed))
	fmt.Printf("   woken at once: %s\n", within(took, 100*time.Millisecond, 300*time.Millisecond))

	// 5. Sub-millisecond deadlines are honoured, not truncated to zero.
	fmt.Println("5. receive with a 700µs deadline (pebbe/zmq4 truncates it to 0ms: no wait at all)")
	s = silent(zctx, "short")
	start = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 700*time.Microsecond)
	_, err = timeout.RecvBytes(ctx, s)
	took = time.Since(start)
	cancel()
	fmt.Printf("   waited at least 700µs: %v, timed out: %v\n", took >= 700*time.Microsecond, errors.Is(err, os.ErrDeadlineExceeded))
	fmt.Println("done: no receive blocked longer than asked")
}
