package reliable_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

// A server answers a plain REQ client: replies, and an error reply in the
// plain form when the handler fails. The REQ socket identifies itself as a
// zmqguard client by its routing id (reliable.Client in Plain mode and
// ReqSocket do that themselves); a zguide client, which would take an error
// reply for its answer, gets no error reply (docs/PROTOCOL.md section 6).
func ExampleListen() {
	zctx, err := zmq.NewContext()
	if err != nil {
		panic(err)
	}
	defer zctx.Term()

	srv, err := reliable.Listen(zctx, "inproc://example-listen", func(ctx context.Context, req [][]byte) ([][]byte, error) {
		if string(req[0]) == "fail" {
			return nil, errors.New("no such thing")
		}
		return [][]byte{[]byte("hello, " + string(req[0]))}, nil
	})
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()

	req, err := zctx.NewSocket(zmq.REQ)
	if err != nil {
		panic(err)
	}
	defer req.Close()
	if err := req.SetIdentity(wire.ClientRoutingIDPrefix + "-example"); err != nil {
		panic(err)
	}
	if err := req.Connect(srv.Addr()); err != nil {
		panic(err)
	}
	for _, q := range []string{"world", "fail"} {
		if _, err := req.SendMessage(q); err != nil {
			panic(err)
		}
		msg, err := req.RecvMessage(0)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%q\n", msg)
	}

	if err := srv.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(<-served)
	// Output:
	// ["hello, world"]
	// ["ZGERR" "handler" "no such thing"]
	// reliable: server closed
}
