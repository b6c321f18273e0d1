// Command server shows reliable.Server, the always-reply server: every
// request gets exactly one answer, whether the handler replies, returns an
// error, panics or overruns its deadline, and a retried request is answered
// from the first execution instead of running the handler twice.
//
// Run it with `(cd examples && go run ./server)`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/reliable/wire"
	"github.com/zmqguard/zmqguard/zmq"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// charges counts how often the "charge" handler really ran.
var charges atomic.Int32

// handle is the server's handler. Its commands: echo, fail, panic, stuck
// (ignores its deadline) and charge (slow, not idempotent: it must run
// once however often the client retries).
func handle(ctx context.Context, req [][]byte) ([][]byte, error) {
	cmd, arg, _ := strings.Cut(string(req[0]), " ")
	switch cmd {
	case "echo":
		return [][]byte{[]byte(arg)}, nil
	case "fail":
		return nil, &reliable.RemoteError{Code: "not_found", Message: "no account " + arg}
	case "panic":
		accounts := map[string]*struct{ balance int }{}
		accounts[arg].balance++ // a bug: no such account, nil pointer
		return nil, nil
	case "stuck":
		<-ctx.Done() // the deadline passes; the client is answered anyway
		return nil, ctx.Err()
	case "charge":
		n := charges.Add(1)
		select {
		case <-time.After(600 * time.Millisecond): // much slower than the client's attempt timeout
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return [][]byte{[]byte(fmt.Sprintf("charged %s (execution #%d)", arg, n))}, nil
	}
	return nil, errors.New("unknown command " + cmd)
}

func main() {
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	check(err)
	defer zctx.Term()

	srv, err := reliable.Listen(zctx, "tcp://127.0.0.1:*", handle,
		reliable.WithHandlerTimeout(time.Second),
		reliable.WithServerEventHook(func(e reliable.ServerEvent) {
			switch e.Kind {
			case reliable.ServerEventPanic:
				fmt.Printf("   [server] handler panicked: %v (recovered; stack of %d bytes)\n", e.Panic, len(e.Stack))
			case reliable.ServerEventDuplicate:
				fmt.Printf("   [server] duplicate of request %d attempt %d: %s\n", e.ID.Seq, e.ID.Attempt, e.Message)
			case reliable.ServerEventLateResult:
				fmt.Printf("   [server] the stuck handler returned after its timeout reply: result discarded\n")
			default:
				fmt.Printf("   [server] %v: code %q: %v\n", e.Kind, e.Code, e.Err)
			}
		}))
	check(err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	fmt.Println("server listening on", srv.Addr())

	// A patient client, and an impatient one whose attempts (100ms) time
	// out long before "charge" (600ms) is done: it retries at 400ms, while
	// the handler runs, and at 800ms, after it finished.
	patient, err := reliable.NewClient(zctx, []string{srv.Addr()}, reliable.WithAttemptTimeout(3*time.Second))
	check(err)
	impatient, err := reliable.NewClient(zctx, []string{srv.Addr()},
		reliable.WithAttemptTimeout(100*time.Millisecond), reliable.WithMaxAttempts(5),
		reliable.WithBackoff(reliable.Backoff{Initial: 300 * time.Millisecond, Max: 300 * time.Millisecond, Multiplier: 1, Jitter: -1}), // no jitter
		reliable.WithEventHook(func(e reliable.ClientEvent) {
			switch e.Kind {
			case reliable.EventAttempt:
				fmt.Printf("   [client] attempt %d at %v\n", e.Attempt, e.Elapsed.Round(50*time.Millisecond))
			case reliable.EventStale:
				fmt.Printf("   [client] late reply to attempt %d dropped\n", e.Attempt)
			}
		}))
	check(err)

	for _, q := range []string{"echo hello", "fail 42", "panic x", "stuck", "nonsense", "charge 10 EUR"} {
		c := patient
		if strings.HasPrefix(q, "charge") {
			c = impatient
		}
		fmt.Printf("request %q\n", q)
		start := time.Now()
		rep, err := c.Request(context.Background(), []byte(q))
		var re *reliable.RemoteError
		switch {
		case errors.As(err, &re):
			fmt.Printf("   -> error reply: code %q, message %q\n", re.Code, re.Message)
		case err != nil:
			check(err)
		default:
			fmt.Printf("   -> reply %q after %v\n", rep[0], time.Since(start).Round(10*time.Millisecond))
		}
	}
	for _, c := range []*reliable.Client{patient, impatient} {
		st := c.Stats()
		check(c.Close())
		fmt.Printf("client: %d requests, %d attempts, %d answered (%d error replies), %d timed-out attempts\n",
			st.Requests, st.Attempts, st.Replies, st.RemoteErrors, st.Timeouts)
	}

	// A plain REQ socket gets error replies in the plain form [ZGERR,
	// code, message] when its routing id names it a zmqguard client
	// (reliable.Client in Plain mode and reliable.ReqSocket do this
	// themselves). A zguide client, whose routing id libzmq makes up, gets
	// no error reply at all: it would take one for its answer.
	req, err := zctx.NewSocket(zmq.REQ)
	check(err)
	check(req.SetIdentity(wire.ClientRoutingIDPrefix + "-example"))
	check(req.Connect(srv.Addr()))
	check(req.SetRcvtimeo(2 * time.Second))
	_, err = req.SendMessage("fail 7")
	check(err)
	msg, err := req.RecvMessage(0)
	check(err)
	fmt.Printf("plain REQ client: request \"fail 7\" -> %q\n", msg)
	check(req.Close())

	check(srv.Shutdown(context.Background()))
	fmt.Println("serve returned:", <-served)

	ss := srv.Stats()
	codes := make([]string, 0, len(ss.ErrorsByCode))
	for code, n := range ss.ErrorsByCode {
		codes = append(codes, fmt.Sprintf("%s=%d", code, n))
	}
	sort.Strings(codes)
	fmt.Println("server stats:")
	fmt.Printf("   requests received  %d (retries included)\n", ss.Requests)
	fmt.Printf("   handlers executed  %d\n", ss.Executed)
	fmt.Printf("   replies sent       %d\n", ss.Replies)
	fmt.Printf("   error replies      %d (%s)\n", ss.ErrorReplies, strings.Join(codes, " "))
	fmt.Printf("   panics             %d\n", ss.Panics)
	fmt.Printf("   handler timeouts   %d\n", ss.Timeouts)
	fmt.Printf("   duplicates         %d joined to the running request, %d answered from the cache\n",
		ss.DuplicatesInFlight, ss.DuplicatesCached)
	fmt.Printf("charge handler ran %d time(s) for one request sent %d time(s)\n", charges.Load(), 1+ss.DuplicatesInFlight+ss.DuplicatesCached)
}
