package reliable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// A Client and a Server: the server always replies (here with an error
// reply for one request), and the client never hangs (each attempt is
// bounded, failed attempts are retried).
func Example() {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		panic(err)
	}
	defer zctx.Term()

	srv, err := reliable.Listen(zctx, "inproc://example-overview", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		name := string(req[0])
		if name == "" {
			return nil, &reliable.RemoteError{Code: "bad_request", Message: "empty name"}
		}
		return [][]byte{[]byte("hello, " + strings.ToUpper(name))}, nil
	})
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()

	c, err := reliable.NewClient(zctx, []string{srv.Addr()},
		reliable.WithAttemptTimeout(time.Second), reliable.WithMaxAttempts(3))
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"world", ""} {
		reply, err := c.Request(context.Background(), []byte(name))
		var re *reliable.RemoteError
		switch {
		case errors.As(err, &re):
			fmt.Println("error reply:", re.Code, re.Message)
		case err != nil:
			fmt.Println("no reply:", err)
		default:
			fmt.Printf("reply: %s\n", reply[0])
		}
	}
	if err := c.Close(); err != nil {
		panic(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(<-served)
	// Output:
	// reply: hello, WORLD
	// error reply: bad_request empty name
	// reliable: server closed
}
