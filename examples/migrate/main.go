// Command migrate is examples/migrate's zmqguard program. It is
// pebbe/main.go with two changes: the import path, and one call to Reset
// after the timeout. A REQ client asks a server that answers every request
// except the first. Both programs time out on the first request. The
// pebbe/zmq4 client is then stuck (its next send fails with EFSM); this one
// resets its socket, which keeps its options and endpoints, and its second
// request gets a reply.
//
//	(cd examples && go run ./migrate)        # zmqguard
//	(cd examples && go run ./migrate/pebbe)  # pebbe/zmq4
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	zmq "github.com/zmqguard/zmqguard/zmq"
)

// server answers every request but the first, until done is closed.
func server(router *zmq.Socket, done <-chan struct{}, exited chan<- struct{}) {
	defer close(exited)
	router.SetRcvtimeo(50 * time.Millisecond) // to notice done
	for n := 1; ; {
		select {
		case <-done:
			return
		default:
		}
		msg, err := router.RecvMessage(0) // [peer id, "", request]
		if err != nil {
			continue
		}
		if n++; n == 2 {
			continue // the first request is never answered
		}
		router.SendMessage(msg[0], "", "reply to "+msg[2])
	}
}

func run() error {
	ctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	router, _ := ctx.NewSocket(zmq.ROUTER)
	router.SetLinger(0)
	if err := router.Bind("tcp://127.0.0.1:*"); err != nil {
		return err
	}
	endpoint, _ := router.GetLastEndpoint()
	done, exited := make(chan struct{}), make(chan struct{})
	go server(router, done, exited)
	defer func() {
		close(done)
		<-exited
		router.Close()
		ctx.Term()
	}()

	client, _ := ctx.NewSocket(zmq.REQ)
	defer client.Close()
	client.SetLinger(0)
	client.SetRcvtimeo(300 * time.Millisecond)
	client.Connect(endpoint)

	client.SendMessage("first")
	start := time.Now()
	_, err = client.RecvMessage(0)
	fmt.Printf("request 1: no reply after %v: %v\n", time.Since(start).Round(100*time.Millisecond), err)
	fmt.Println("request 1: timed out (EAGAIN):", zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN))
	fmt.Println("request 1: reset:", client.Reset()) // the only added line

	if _, err := client.SendMessage("second"); err != nil {
		fmt.Println("request 2: send failed:", err)
		if zmq.AsErrno(err) == zmq.EFSM {
			fmt.Println("request 2: the REQ socket is stuck waiting for reply 1 (EFSM)")
		}
		return nil
	}
	reply, err := client.RecvMessage(0)
	if err != nil {
		fmt.Println("request 2: no reply:", err)
		return nil
	}
	fmt.Println("request 2: got", fmt.Sprintf("%q", reply[0]))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
