package heartbeat_test

import (
	"context"
	"fmt"

	"github.com/zmqguard/zmqguard/heartbeat"
)

func Example() {
	tr, err := heartbeat.New(heartbeat.WithPolicy(heartbeat.Policy{Liveness: 3}))
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	// The receive loop reports every inbound message, heartbeat or not.
	fmt.Println("before:", tr.State("worker-1"))
	tr.Observe("worker-1")
	fmt.Println("after:", tr.State("worker-1"))

	// A monitor source learns that the connection is gone.
	tr.MarkDead("worker-1")
	s, err := tr.WaitForStateChange(context.Background(), "worker-1", heartbeat.Alive)
	fmt.Println("now:", s, err)

	// Output:
	// before: unknown
	// after: alive
	// now: dead <nil>
}

func ExampleTracker_Events() {
	tr, err := heartbeat.New()
	if err != nil {
		panic(err)
	}
	events := tr.Events()
	tr.Observe("queue")
	tr.MarkDead("queue")
	tr.Close() // delivers the queued events, then closes the channel
	for ev := range events {
		fmt.Println(ev)
	}
	// Output:
	// queue: unknown -> alive
	// queue: alive -> dead
}
