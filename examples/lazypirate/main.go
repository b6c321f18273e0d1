// Command lazypirate is zmqguard's main demonstration: a client keeps
// sending requests to a server that sometimes hangs and sometimes answers
// late. A raw pebbe/zmq4 REQ client gets stuck on the first hang and is
// cut off by a watchdog; zmqguard's reliable.Client retries, drops stale
// replies and finishes. Run it with `make demo` or `go run ./examples/lazypirate`.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	zmq4 "github.com/pebbe/zmq4"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

const requests = 12

// serve answers echo requests on a ROUTER; every fourth request is
// "hung" (never answered) and every third is answered late.
func serve(ctx context.Context, s *zmq.Socket) {
	n := 0
	for {
		msg, err := s.RecvMessageBytesContext(ctx, 0)
		if err != nil {
			return
		}
		n++
		switch {
		case n%4 == 0:
			continue // hang: this request is never answered
		case n%3 == 0:
			time.Sleep(400 * time.Millisecond) // late
		}
		s.SendMessageContext(ctx, msg)
	}
}

func startServer(zctx *zmq.Context) (string, func()) {
	s, err := zctx.NewSocket(zmq.ROUTER)
	check(err)
	check(s.Bind("tcp://127.0.0.1:*"))
	ep, err := s.GetLastEndpoint()
	check(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); serve(ctx, s) }()
	return ep, func() { cancel(); <-done; s.Close() }
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "lazypirate:", err)
		os.Exit(1)
	}
}

func main() {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	fmt.Println("== raw pebbe/zmq4 REQ client (no timeout, as most programs are written)")
	ep, stop := startServer(zctx)
	rawDone := make(chan int, 1)
	// A context of its own, never terminated: its socket stays blocked in
	// libzmq until the process exits, which is the point of the demo.
	pebbeCtx, err := zmq4.NewContext()
	check(err)
	req, err := pebbeCtx.NewSocket(zmq4.REQ)
	check(err)
	req.SetLinger(0)
	check(req.Connect(ep))
	go func() {
		for i := 1; i <= requests; i++ {
			if _, err := req.SendMessage(fmt.Sprint(i)); err != nil {
				break
			}
			if _, err := req.RecvMessage(0); err != nil {
				break
			}
			fmt.Printf("  pebbe    request %2d: answered\n", i)
			rawDone <- i
		}
	}()
	answered := 0
	watchdog := time.After(2 * time.Second)
wait:
	for {
		select {
		case answered = <-rawDone:
		case <-watchdog:
			break wait
		}
	}
	fmt.Printf("  pebbe    STUCK after %d answers: cut off by a 2s watchdog\n", answered)
	stop()

	fmt.Println("== zmqguard reliable.Client against the same server")
	ep, stop = startServer(zctx)
	defer stop()
	c, err := reliable.NewClient(zctx, []string{ep},
		reliable.WithAttemptTimeout(250*time.Millisecond), reliable.WithMaxAttempts(4),
		reliable.WithEventHook(func(e reliable.ClientEvent) {
			if e.Kind == reliable.EventAttemptFailed {
				fmt.Printf("  zmqguard request %2d: attempt %d failed (%v), retrying\n", e.Seq, e.Attempt, e.Err)
			}
		}))
	check(err)
	defer c.Close()
	var lat []time.Duration
	gaveUp := 0
	for i := 1; i <= requests; i++ {
		start := time.Now()
		body := fmt.Sprint(i, "-", rand.IntN(1000))
		rep, err := c.Request(context.Background(), []byte(body))
		if err != nil {
			gaveUp++
			fmt.Printf("  zmqguard request %2d: gave up: %v\n", i, err)
			continue
		}
		if string(rep[0]) != body {
			fmt.Printf("  zmqguard request %2d: WRONG REPLY %q\n", i, rep[0])
			os.Exit(1)
		}
		lat = append(lat, time.Since(start))
		fmt.Printf("  zmqguard request %2d: answered in %v\n", i, time.Since(start).Round(time.Millisecond))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	st := c.Stats()
	fmt.Println("== summary")
	fmt.Printf("  pebbe/zmq4: sent %d, answered %d, then stuck forever\n", answered+1, answered)
	fmt.Printf("  zmqguard:   sent %d, answered %d, gave up %d, attempts %d, timeouts %d, stale replies dropped %d\n",
		requests, len(lat), gaveUp, st.Attempts, st.Timeouts, st.StaleDropped)
	if len(lat) > 0 {
		fmt.Printf("  zmqguard latency p50 %v, max %v\n", lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}
}
