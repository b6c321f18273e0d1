package reliable_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// A Paranoid Pirate queue with one worker, and a client asking through it.
func ExamplePPQueue() {
	zctx, _ := zmq.NewContext(zmq.WithLinger(0))
	defer zctx.Term()
	q, err := reliable.NewPPQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { q.Run(ctx); done <- struct{}{} }()

	upper := func(_ context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}
	w, err := reliable.NewPPWorker(zctx, q.Backend(), upper)
	if err != nil {
		panic(err)
	}
	go func() { w.Run(ctx); done <- struct{}{} }()

	c, err := reliable.NewClient(zctx, []string{q.Frontend()}, reliable.WithAttemptTimeout(5*time.Second))
	if err != nil {
		panic(err)
	}
	reply, err := c.Request(ctx, []byte("hello"))
	fmt.Println(string(reply[0]), err)

	c.Close()
	cancel()
	<-done
	<-done
	w.Close()
	q.Close()
	// Output: HELLO <nil>
}
