package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/zmqguard/zmqguard/discovery"
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
	f := newFlags("req", "zmqguard req [flags] ENDPOINT|TARGET MESSAGE...\n\n"+
		"Sends MESSAGE (one frame per argument) as one request and prints the\n"+
		"reply, one frame per line. Each attempt waits --timeout from the\n"+
		"moment it is sent; a failed attempt is retried --retries times, on the\n"+
		"next endpoint if several are given. The request's budget is\n"+
		"(--retries + 1) × --timeout plus the backoff pauses: while no server is\n"+
		"connected it waits for one within it, spending no attempt. Exit codes:\n"+
		"0 reply, 2 no reply (every attempt failed, for example with a reply\n"+
		"over --max-reply-size), 3 error reply, 1 other failures (a request over\n"+
		"--max-request-size), 64 usage. It never exits 0 without a reply.\n\n"+
		"TARGET names a set of servers (docs/SCALE-OUT.md), balanced round-robin:\n"+
		"dns:///NAME:PORT (A/AAAA; dns://SERVER:PORT/NAME:PORT asks that DNS\n"+
		"server), dns+srv:///_SERVICE._tcp.NAME (SRV) or\n"+
		"etcd://HOST:PORT/PREFIX (the endpoints registered under PREFIX).", stdout)
	r := newReqFlags(f, reliable.DefaultAttemptTimeout, reliable.DefaultMaxAttempts, "another endpoint to fail over to (repeatable)")
	plain := f.Bool("plain", false, "use a plain REQ envelope, for servers that pop [identity, \"\", body] themselves")
	maxReply := f.Int64("max-reply-size", reliable.DefaultMaxReplySize, "largest reply accepted, in bytes of all frames (-1: no limit)")
	maxRequest := f.Int64("max-request-size", reliable.DefaultMaxRequestSize, "largest request sent, in bytes of all frames (-1: no limit)")
	endpoints, parts, code := r.parse(args, stderr, nil)
	if code >= 0 {
		return code
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
	opts := []reliable.ClientOption{reliable.WithMode(mode),
		reliable.WithAttemptTimeout(*r.timeout), reliable.WithMaxAttempts(*r.retries + 1),
		reliable.WithMaxReplySize(*maxReply), reliable.WithMaxRequestSize(*maxRequest)}
	var c *reliable.Client
	if isTarget(endpoints[0]) {
		res, release, rerr := resolverFor(endpoints[0], discovery.DefaultResolveInterval)
		if rerr != nil {
			return f.usageError(stderr, "%v", rerr)
		}
		defer release()
		c, err = reliable.NewClientFor(zctx, res, append(opts, reliable.WithBalancer(reliable.RoundRobin))...)
	} else {
		c, err = reliable.NewClient(zctx, endpoints, opts...)
	}
	if err != nil {
		return f.usageError(stderr, "%v", err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	reply, err := c.Request(ctx, parts...)
	return printReply(stdout, stderr, reply, err, c.Stats().Attempts, start, *r.asJSON)
}

// reqFlags are the flags and arguments of req, with or without --service.
type reqFlags struct {
	f       *cmdFlags
	timeout *time.Duration
	retries *int
	extra   stringList
	asJSON  *bool
}

// newReqFlags defines req's common flags on f, with the client's default
// attempt timeout and attempts.
func newReqFlags(f *cmdFlags, timeout time.Duration, attempts int, endpointUsage string) *reqFlags {
	r := &reqFlags{f: f}
	r.timeout = f.Duration("timeout", timeout, "how long each attempt waits for the reply")
	r.retries = f.Int("retries", attempts-1, "retries after the first attempt")
	f.Var(&r.extra, "endpoint", endpointUsage)
	r.asJSON = f.Bool("json", false, "print the result as JSON")
	return r
}

// parse parses args into the endpoints (ENDPOINT, then --endpoint's) and
// the request's frames (MESSAGE...). check, if not nil, says what else is
// wrong with the flags (empty: nothing). It returns a non-negative exit
// code when the command must stop.
func (r *reqFlags) parse(args []string, stderr io.Writer, check func() string) (endpoints []string, parts [][]byte, code int) {
	f := r.f
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return nil, nil, code
	}
	problem := ""
	switch {
	case len(pos) < 2:
		problem = "want ENDPOINT and at least one MESSAGE frame"
	case *r.timeout <= 0:
		problem = "--timeout must be positive"
	case *r.retries < 0:
		problem = "--retries must not be negative"
	case check != nil:
		problem = check()
	}
	if problem != "" {
		return nil, nil, f.usageError(stderr, "%s", problem)
	}
	endpoints = append([]string{pos[0]}, r.extra...)
	if isTarget(pos[0]) {
		if len(endpoints) > 1 {
			return nil, nil, f.usageError(stderr, "a %s target names all the endpoints: no --endpoint with it", pos[0])
		}
		return endpoints, msgParts(pos[1:]), -1
	}
	for _, ep := range endpoints {
		if err := checkEndpoint("connect", ep); err != nil {
			return nil, nil, f.usageError(stderr, "%v", err)
		}
	}
	return endpoints, msgParts(pos[1:]), -1
}

func msgParts(args []string) [][]byte {
	var parts [][]byte
	for _, m := range args {
		parts = append(parts, []byte(m))
	}
	return parts
}

// printReply prints a request's outcome, as text or --json, and returns
// the exit code: 0 for a reply, 3 for an error reply, 2 for no reply.
func printReply(stdout, stderr io.Writer, reply [][]byte, err error, attempts uint64, start time.Time, asJSON bool) int {
	res := reqResult{Reply: strs(reply), Attempts: attempts, ElapsedMs: ms(time.Since(start))}
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
	if asJSON {
		printJSON(stdout, res)
	}
	switch {
	case exit == exitRemote:
		fmt.Fprintf(stderr, "zmqguard req: error reply: %s: %s\n", re.Code, re.Message)
	case exit != exitOK:
		fmt.Fprintf(stderr, "zmqguard req: %v\n", err)
	case !asJSON:
		for _, frame := range res.Reply {
			fmt.Fprintln(stdout, frame)
		}
	}
	return exit
}
