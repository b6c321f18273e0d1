package mdp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/zmq"
)

// A broker, a worker for the service "upper", and a client asking for it
// and for a service nobody serves.
func ExampleBroker() {
	zctx, _ := zmq.NewContext(zmq.WithLinger(0))
	defer zctx.Term()
	b, err := mdp.NewBroker(zctx, "tcp://127.0.0.1:*", mdp.WithServiceWait(100*time.Millisecond),
		mdp.WithBrokerHeartbeat(50*time.Millisecond, 3))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { b.Run(ctx); done <- struct{}{} }()

	upper := func(_ context.Context, req [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(strings.ToUpper(string(req[0])))}, nil
	}
	w, err := mdp.NewWorker(zctx, []string{b.Endpoint()}, "upper", upper, mdp.WithWorkerHeartbeat(50*time.Millisecond, 3))
	if err != nil {
		panic(err)
	}
	go func() { w.Run(ctx); done <- struct{}{} }()

	c, err := mdp.NewClient(zctx, []string{b.Endpoint()}, mdp.WithAttemptTimeout(5*time.Second))
	if err != nil {
		panic(err)
	}
	reply, err := c.Request(ctx, "upper", []byte("hello"))
	fmt.Println(string(reply[0]), err)

	_, err = c.Request(ctx, "nobody", []byte("hello"))
	var re *reliable.RemoteError
	fmt.Println(errors.As(err, &re), re.Code)

	c.Close()
	cancel()
	<-done
	<-done
	w.Close()
	b.Close()
	// Output:
	// HELLO <nil>
	// true no-service
}

func ExampleParseWorkerMessage() {
	msg := mdp.WorkerMessage{Command: mdp.CommandReady, Service: "echo"}.Frames()
	fmt.Printf("%q\n", msg)
	m, err := mdp.ParseWorkerMessage(msg)
	fmt.Println(m.Command, m.Service, err)
	_, err = mdp.ParseWorkerMessage([][]byte{{}, []byte(mdp.WorkerHeader), {0x09}})
	fmt.Println(errors.Is(err, mdp.ErrMalformed))
	// Output:
	// ["" "MDPW01" "\x01" "echo"]
	// ready echo <nil>
	// true
}
