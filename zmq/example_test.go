package zmq_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// A request and its reply over inproc. Code written for pebbe/zmq4 looks
// the same; only the import path differs.
func Example() {
	zctx, err := zmq.NewContext()
	if err != nil {
		panic(err)
	}
	defer zctx.Term()

	server, _ := zctx.NewSocket(zmq.REP)
	defer server.Close()
	server.Bind("inproc://example")

	client, _ := zctx.NewSocket(zmq.REQ)
	defer client.Close()
	client.Connect("inproc://example")

	go func() {
		msg, _ := server.RecvMessage(0)
		server.SendMessage("hello,", msg[0])
	}()

	client.SendMessage("world")
	reply, _ := client.RecvMessage(0)
	fmt.Println(reply)
	// Output: [hello, world]
}

// A receive timeout returns a timeout error instead of hanging. The error
// is a net.Error, matches os.ErrDeadlineExceeded, and still matches EAGAIN
// for code written against pebbe/zmq4.
func ExampleSocket_SetRcvtimeo() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()

	client, _ := zctx.NewSocket(zmq.REQ)
	defer client.Close()
	client.Connect("inproc://nobody-answers")
	client.SetRcvtimeo(100 * time.Millisecond)

	client.Send("anyone?", 0)
	start := time.Now()
	_, err := client.Recv(0)
	fmt.Println(err)
	fmt.Println("deadline exceeded:", errors.Is(err, os.ErrDeadlineExceeded))
	fmt.Println("EAGAIN, as pebbe/zmq4 reports it:", zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN))
	fmt.Println("waited about 100ms:", time.Since(start) >= 100*time.Millisecond)
	// Output:
	// zmq: recv: i/o timeout
	// deadline exceeded: true
	// EAGAIN, as pebbe/zmq4 reports it: true
	// waited about 100ms: true
}

// StartMonitor delivers the socket's events on a channel. Closing the
// monitor (or the socket) closes the channel.
func ExampleSocket_StartMonitor() {
	zctx, _ := zmq.NewContext()
	defer zctx.Term()

	server, _ := zctx.NewSocket(zmq.REP)
	defer server.Close()
	server.Bind("tcp://127.0.0.1:*")
	endpoint, _ := server.GetLastEndpoint()

	client, _ := zctx.NewSocket(zmq.REQ)
	defer client.Close()
	mon, _ := client.StartMonitor(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
	client.Connect(endpoint)

	ev := <-mon.Events()
	fmt.Println(ev.Event, ev.Addr == endpoint)
	server.Close()
	ev = <-mon.Events()
	fmt.Println(ev.Event)

	mon.Close()
	_, open := <-mon.Events()
	fmt.Println("channel open:", open)
	// Output:
	// EVENT_CONNECTED true
	// EVENT_DISCONNECTED
	// channel open: false
}
