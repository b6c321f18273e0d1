package discovery_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// Two servers register themselves, a client balances over them, and one
// leaves gracefully (deregistered, then drained) while the client goes
// on. With etcd, the registrar is contrib/etcd's and the resolver watches
// its prefix; the code is the same.
func Example() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	names := discovery.NewManual() // registrar and resolver of one process

	var servers []*reliable.Server
	var regs []discovery.Registration
	for _, name := range []string{"a", "b"} {
		srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", func(ctx context.Context, req [][]byte) ([][]byte, error) {
			return [][]byte{[]byte(name)}, nil
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		go srv.Serve(context.Background())
		reg, _ := names.Register(context.Background(), srv.Addr())
		servers, regs = append(servers, srv), append(regs, reg)
	}

	c, _ := reliable.NewClientFor(zctx, names, reliable.WithBalancer(reliable.RoundRobin))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for len(seen) < 2 {
		rep, err := c.Request(ctx, []byte("hi"))
		if err != nil {
			fmt.Println(err)
			return
		}
		seen[string(rep[0])] = true
	}
	fmt.Println("served by a and b")

	// a leaves: out of the set first, then drained and shut down.
	_ = discovery.Drain(ctx, regs[0], 100*time.Millisecond, servers[0].Shutdown)
	for range 10 {
		rep, err := c.Request(ctx, []byte("hi"))
		if err != nil || string(rep[0]) != "b" {
			fmt.Println("unexpected:", rep, err)
			return
		}
	}
	fmt.Println("after a left, served by b:", c.Endpoints()[0] == servers[1].Addr())
	servers[1].Close()
	// Output:
	// served by a and b
	// after a left, served by b: true
}
