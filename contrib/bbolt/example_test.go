package bbolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// A server that keeps its replies in a bbolt file, and a client whose
// requests wait in another until their replies are delivered.
func Example() {
	dir, _ := os.MkdirTemp("", "zgbolt-example-")
	defer os.RemoveAll(dir)
	zctx, _ := zmq.NewContext()
	defer zctx.Term()

	replies, err := zgbolt.OpenReplyStore(filepath.Join(dir, "replies.db"), zgbolt.WithSync(zgbolt.SyncAlways))
	if err != nil {
		panic(err)
	}
	defer replies.Close()
	echo := func(_ context.Context, req [][]byte) ([][]byte, error) { return req, nil }
	srv, err := reliable.Listen(zctx, "inproc://durable-example", echo,
		reliable.WithReplyStore(replies), reliable.WithOutcomeUnknownReplies())
	if err != nil {
		panic(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(context.Background()) }()
	defer func() { srv.Close(); <-served }()

	outbox, err := zgbolt.OpenOutboxStore(filepath.Join(dir, "outbox.db"))
	if err != nil {
		panic(err)
	}
	defer outbox.Close()
	delivered := make(chan reliable.Delivery, 1)
	ob, err := reliable.NewOutbox(zctx, []string{"inproc://durable-example"}, outbox,
		func(d reliable.Delivery) { delivered <- d })
	if err != nil {
		panic(err)
	}
	defer ob.Close()
	seq, _ := ob.Submit(context.Background(), []byte("hello"))
	d := <-delivered
	fmt.Printf("request %d: %s, err %v\n", seq, d.Reply[0], d.Err)
	// Output: request 1: hello, err <nil>
}
