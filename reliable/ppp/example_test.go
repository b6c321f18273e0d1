package ppp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// A Paranoid Pirate queue with one worker, and a client asking through it.
func ExampleQueue() {
	zctx, _ := zmq.NewContext(zmq.WithLinger(0))
	defer zctx.Term()
	q, err := ppp.NewQueue(zctx, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { q.Run(ctx); done <- struct{}{} }()

	upper := func(_ context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}
	w, err := ppp.NewWorker(zctx, q.Backend(), upper)
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

func ExampleParse() {
	for _, msg := range [][][]byte{
		ppp.ReadyMessage(),
		ppp.HeartbeatMessage(),
		{[]byte("client"), {}, []byte("body")},
		{{0x07}},
	} {
		cmd, err := ppp.Parse(msg)
		if err != nil {
			fmt.Println(errors.Is(err, ppp.ErrMalformed))
			continue
		}
		fmt.Println(cmd)
	}
	// Output:
	// ready
	// heartbeat
	// request
	// true
}
