package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// reqResult is req's --json output.
type reqResult struct {
	Reply     []string `json:"reply,omitempty"`
	Error     string   `json:"error,omitempty"` // "no_reply" or "remote"
	Code      string   `json:"code,omitempty"`  // the remote error's code
	Message   string   `json:"message,omitempty"`
	Attempts  uint64   `json:"attempts"`
	ElapsedMs float64  `json:"elapsed_ms"`
}

func runReq(args []string, stdout, stderr io.Writer) int {
	f := newFlags("req", "zmqguard req [flags] ENDPOINT MESSAGE...\n\n"+
		"Sends MESSAGE (one frame per argument) as one request and prints the\n"+
		"reply, one frame per line. Each attempt waits --timeout; a failed\n"+
		"attempt is retried --retries times, on the next endpoint if several\n"+
		"are given. Exit codes: 0 reply, 2 no reply (every attempt failed, for\n"+
		"example with a reply over --max-reply-size), 3 error reply, 1 other\n"+
		"failures (a request over --max-request-size), 64 usage. It never exits\n"+
		"0 without a reply.", stdout)
	timeout := f.Duration("timeout", reliable.DefaultAttemptTimeout, "how long each attempt waits for the reply")
	retries := f.Int("retries", reliable.DefaultMaxAttempts-1, "retries after the first attempt")
	var extra stringList
	f.Var(&extra, "endpoint", "another endpoint to fail over to (repeatable)")
	plain := f.Bool("plain", false, "use a plain REQ envelope, for servers that pop [identity, \"\", body] themselves")
	asJSON := f.Bool("json", false, "print the result as JSON")
	maxReply := f.Int64("max-reply-size", reliable.DefaultMaxReplySize, "largest reply accepted, in bytes of all frames (-1: no limit)")
	maxRequest := f.Int64("max-request-size", reliable.DefaultMaxRequestSize, "largest request sent, in bytes of all frames (-1: no limit)")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	switch {
	case len(pos) < 2:
		return f.usageError(stderr, "want ENDPOINT and at least one MESSAGE frame")
	case *timeout <= 0:
		return f.usageError(stderr, "--timeout must be positive")
	case *retries < 0:
		return f.usageError(stderr, "--retries must not be negative")
	}
	endpoints := append([]string{pos[0]}, extra...)
	for _, ep := range endpoints {
		if err := checkEndpoint("connect", ep); err != nil {
			return f.usageError(stderr, "%v", err)
		}
	}
	parts := make([][]byte, 0, len(pos)-1)
	for _, m := range pos[1:] {
		parts = append(parts, []byte(m))
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard req:", err)
		return exitFail
	}
	defer zctx.Term()
	mode := reliable.Correlated
	if *plain {
		mode = reliable.Plain
	}
	c, err := reliable.NewClient(zctx, endpoints, reliable.WithMode(mode),
		reliable.WithAttemptTimeout(*timeout), reliable.WithMaxAttempts(*retries+1),
		reliable.WithMaxReplySize(*maxReply), reliable.WithMaxRequestSize(*maxRequest))
	if err != nil {
		return f.usageError(stderr, "%v", err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	reply, err := c.Request(ctx, parts...)
	res := reqResult{Reply: strs(reply), Attempts: c.Stats().Attempts, ElapsedMs: ms(time.Since(start))}
	exit := exitOK
	var re *reliable.RemoteError
	switch {
	case errors.As(err, &re):
		res.Error, res.Code, res.Message = "remote", re.Code, re.Message
		exit = exitRemote
	case errors.Is(err, reliable.ErrNoReply):
		res.Error, res.Message = "no_reply", err.Error()
		exit = exitNoReply
	case err != nil:
		res.Error, res.Message = "failed", err.Error()
		exit = exitFail
	case len(reply) == 0:
		// The client never returns a reply without frames; should one
		// come through, it is not a reply to report as success.
		err = errors.New("reply without frames")
		res.Error, res.Message = "failed", err.Error()
		exit = exitFail
	}
	if *asJSON {
		printJSON(stdout, res)
	}
	switch {
	case exit == exitRemote:
		fmt.Fprintf(stderr, "zmqguard req: error reply: %s: %s\n", re.Code, re.Message)
	case exit != exitOK:
		fmt.Fprintf(stderr, "zmqguard req: %v\n", err)
	case !*asJSON:
		for _, frame := range res.Reply {
			fmt.Fprintln(stdout, frame)
		}
	}
	return exit
}
