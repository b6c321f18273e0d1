package observe_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/zmqguard/zmqguard/observe"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// An Observer that counts what a client and a server did, by component,
// kind and outcome. The adapters in contrib/ do the same into log/slog,
// Prometheus and OpenTelemetry.
func Example() {
	var mu sync.Mutex
	counts := map[string]int{}
	count := observe.Func(func(_ context.Context, ev observe.Event) {
		mu.Lock()
		defer mu.Unlock()
		counts[ev.Component.String()+" "+ev.Kind.String()+" "+ev.Outcome]++
	})

	zctx, _ := zmq.NewContext()
	defer zctx.Term()
	srv, _ := reliable.Listen(zctx, "inproc://observe-example", func(_ context.Context, req [][]byte) ([][]byte, error) {
		return req, nil
	}, reliable.WithServerObserver(count))
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(context.Background()) }()
	c, _ := reliable.NewClient(zctx, []string{"inproc://observe-example"}, reliable.WithObserver(count))
	for range 3 {
		c.Request(context.Background(), []byte("hello"))
	}
	c.Close()
	srv.Close()
	<-done

	mu.Lock()
	defer mu.Unlock()
	fmt.Println("attempts:", counts["client attempt "])
	fmt.Println("requests done:", counts["client done ok"])
	fmt.Println("handled:", counts["server handled ok"])
	// Output:
	// attempts: 3
	// requests done: 3
	// handled: 3
}
