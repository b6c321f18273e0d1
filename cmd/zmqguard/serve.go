package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	zgbolt "github.com/zmqguard/zmqguard/contrib/bbolt"
	"github.com/zmqguard/zmqguard/discovery"
	"github.com/zmqguard/zmqguard/reliable"
	"github.com/zmqguard/zmqguard/zmq"
)

// serveEvent is one line of serve's --json output.
type serveEvent struct {
	Event    string                `json:"event"` // "listening", "request" or "stopped"
	Endpoint string                `json:"endpoint,omitempty"`
	Request  []string              `json:"request,omitempty"`
	Error    string                `json:"error,omitempty"`
	Stats    *reliable.ServerStats `json:"stats,omitempty"`
	// Budget is the server's worst case, stated at start ("listening").
	Budget *reliable.MemoryBudget `json:"budget,omitempty"`
	// Metrics is the URL of the Prometheus metrics (--metrics).
	Metrics string `json:"metrics,omitempty"`
}

func runServe(args []string, stdout, stderr io.Writer) int {
	f := newFlags("serve", "zmqguard serve [flags] ENDPOINT\n\n"+
		"Binds a ROUTER socket to ENDPOINT (tcp://127.0.0.1:* picks a free port)\n"+
		"and answers every request with reliable.Server: by default it echoes\n"+
		"the request; with --exec it runs CMD with sh -c, the request's frames on\n"+
		"its stdin (one per line), and replies with its stdout. A failing\n"+
		"command is answered with an error reply (code \"exec\"). It prints\n"+
		"\"serving on ENDPOINT\", then its memory budget (the worst case its limits\n"+
		"allow, see reliable.MemoryBudget), and runs until SIGINT or SIGTERM, then\n"+
		"shuts down gracefully and prints its counters. With --register\n"+
		"etcd://HOST:PORT/PREFIX it registers its endpoint (or --advertise's)\n"+
		"under PREFIX with a lease of --register-ttl, kept alive while it runs;\n"+
		"at SIGTERM it deregisters, waits --drain-grace for clients to notice,\n"+
		"then shuts down (docs/SCALE-OUT.md).", stdout)
	hf := addHandlerFlags(f, reliable.DefaultHandlerTimeout, "deadline of each request (0: none)")
	verbose := f.Bool("verbose", false, "log every request to stderr (--json: to stdout)")
	asJSON := f.Bool("json", false, "print events as JSON lines")
	budget := f.String("memory-budget", "", "the most memory the server may need, e.g. 256MiB: limits not set by flags are lowered to fit, and a server whose flags exceed it does not start")
	maxConns := f.Int("max-connections", reliable.DefaultMaxConnections, "most connections at once (lowered to what the file limit leaves)")
	maxRequest := f.Int64("max-request-size", reliable.DefaultMaxMessageSize, "largest request, in bytes of all its body frames")
	maxReply := f.Int64("max-reply-size", reliable.DefaultServerMaxReplySize, "largest reply, in bytes of all its frames")
	of := addObserveFlags(f)
	storePath := f.String("store", "", "keep the replies in this bbolt file too, so that a restarted server answers retries from it (docs/DURABILITY.md)")
	unknown := f.Bool("outcome-unknown", false, "with --store: answer a retry of a request that was running when the server died with the error outcome-unknown instead of running it again")
	rf := addRegisterFlags(f)
	endpoint, code := hf.parse(f, "bind", args, stderr)
	if code >= 0 {
		return code
	}
	if msg := of.check(); msg != "" {
		return f.usageError(stderr, "%s", msg)
	}
	opts := []reliable.ServerOption{reliable.WithHandlerTimeout(*hf.timeout),
		reliable.WithMaxMessageSize(*maxRequest), reliable.WithServerMaxReplySize(*maxReply)}
	if set(f, "max-connections") {
		opts = append(opts, reliable.WithMaxConnections(*maxConns))
	}
	if *budget != "" {
		n, err := parseSize(*budget)
		if err != nil {
			return f.usageError(stderr, "--memory-budget: %v", err)
		}
		opts = append(opts, reliable.WithMemoryBudget(n))
	}
	if *unknown && *storePath == "" {
		return f.usageError(stderr, "--outcome-unknown needs --store")
	}
	if *storePath != "" {
		st, err := zgbolt.OpenReplyStore(*storePath)
		if err != nil {
			fmt.Fprintln(stderr, "zmqguard serve:", err)
			return exitFail
		}
		defer st.Close() // after the server has stopped
		opts = append(opts, reliable.WithReplyStore(st))
		if *unknown {
			opts = append(opts, reliable.WithOutcomeUnknownReplies())
		}
	}

	out := &emitter{w: stdout, asJSON: *asJSON}
	emit := out.emit
	handler := hf.handler()
	logged := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		rep, err := handler(ctx, req)
		if *verbose {
			ev := serveEvent{Event: "request", Request: strs(req)}
			text := fmt.Sprintf("request %q", strs(req))
			if err != nil {
				ev.Error = err.Error()
				text += ": " + err.Error()
			}
			if *asJSON {
				emit(ev, "")
			} else {
				out.mu.Lock()
				fmt.Fprintln(stderr, text)
				out.mu.Unlock()
			}
		}
		return rep, err
	}

	observing, err := of.start(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	defer observing.stop()
	opts = append(opts, reliable.WithServerObserver(observing.observer))

	zctx, err := zmq.NewContext(zmq.WithLinger(time.Second))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	defer zctx.Term()
	srv, err := reliable.Listen(zctx, endpoint, logged, opts...)
	var oe *zmq.OptionError
	if errors.As(err, &oe) {
		return f.usageError(stderr, "%v", err)
	}
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	reg, release, err := rf.register(srv.Addr())
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		_ = srv.Close()
		<-served
		return exitFail
	}
	defer release()
	b := srv.Budget()
	text := "serving on " + srv.Addr() + "\n" + b.String()
	if observing.url != "" {
		text += "\nmetrics on " + observing.url
	}
	emit(serveEvent{Event: "listening", Endpoint: srv.Addr(), Budget: &b, Metrics: observing.url}, text)

	exit := exitOK
	var lost <-chan struct{}
	if reg != nil {
		lost = reg.Lost()
	}
wait:
	select {
	case <-lost:
		// Clients no longer find this server; it goes on answering those
		// that still have it (an etcd restart: register again by restarting).
		fmt.Fprintln(stderr, "zmqguard serve: registration lost (etcd unreachable past the lease TTL)")
		lost = nil
		goto wait
	case <-ctx.Done():
		grace := *rf.grace
		if reg == nil && !set(f, "drain-grace") {
			grace = 0 // nothing to leave first
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second+grace)
		// Deregistered first, so that clients stop choosing this server,
		// then drained: no request is lost or run twice.
		if err := discovery.Drain(sctx, reg, grace, srv.Shutdown); err != nil {
			fmt.Fprintln(stderr, "zmqguard serve: shutdown:", err)
			_ = srv.Close()
		}
		cancel()
		<-served
	case err := <-served:
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		exit = exitFail
	}
	st := srv.Stats()
	emit(serveEvent{Event: "stopped", Stats: &st}, fmt.Sprintf(
		"stopped: %d requests, %d executed, %d replies (%d errors), %d duplicates answered without running",
		st.Requests, st.Executed, st.Replies, st.ErrorReplies, st.DuplicatesInFlight+st.DuplicatesCached+st.DuplicatesStored))
	return exit
}

// handlerFlags are the flags of the commands that answer requests (serve,
// worker): --exec and --handler-timeout.
type handlerFlags struct {
	exec    *string
	timeout *time.Duration
}

func addHandlerFlags(f *cmdFlags, timeout time.Duration, timeoutUsage string) handlerFlags {
	return handlerFlags{
		exec:    f.String("exec", "", "run this shell command per request; reply with its stdout"),
		timeout: f.Duration("handler-timeout", timeout, timeoutUsage),
	}
}

// parse parses the arguments of a command that takes exactly one ENDPOINT
// to op ("bind" or "connect"), and checks the handler flags. A code >= 0
// means: stop with it.
func (h handlerFlags) parse(f *cmdFlags, op string, args []string, stderr io.Writer) (endpoint string, code int) {
	eps, code := h.parseMany(f, op, args, stderr)
	switch {
	case code >= 0:
		return "", code
	case len(eps) != 1:
		return "", f.usageError(stderr, "want exactly one ENDPOINT")
	}
	return eps[0], -1
}

// parseMany is parse for a command that takes one or more ENDPOINTs.
func (h handlerFlags) parseMany(f *cmdFlags, op string, args []string, stderr io.Writer) (endpoints []string, code int) {
	pos, code := f.parse(args, stderr)
	switch {
	case code >= 0:
		return nil, code
	case len(pos) == 0:
		return nil, f.usageError(stderr, "want an ENDPOINT")
	case *h.timeout < 0:
		return nil, f.usageError(stderr, "--handler-timeout must not be negative")
	}
	for _, ep := range pos {
		if err := checkEndpoint(op, ep); err != nil {
			return nil, f.usageError(stderr, "%v", err)
		}
	}
	return pos, -1
}

// handler returns the echo handler, or one that runs --exec.
func (h handlerFlags) handler() reliable.Handler {
	if *h.exec != "" {
		return execHandler(*h.exec)
	}
	return func(ctx context.Context, req [][]byte) ([][]byte, error) { return req, nil }
}

// execHandler runs command with sh -c per request.
func execHandler(command string) reliable.Handler {
	return func(ctx context.Context, req [][]byte) ([][]byte, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Stdin = bytes.NewReader(bytes.Join(req, []byte("\n")))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			msg := err.Error()
			if s := strings.TrimSpace(errOut.String()); s != "" {
				if len(s) > 200 {
					s = s[:200] + "..."
				}
				msg += ": " + s
			}
			return nil, &reliable.RemoteError{Code: "exec", Message: msg}
		}
		return [][]byte{out.Bytes()}, nil
	}
}

// set reports whether the flag called name was given.
func set(f *cmdFlags, name string) bool {
	found := false
	f.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}

// parseSize reads a byte count: a number, optionally followed by KiB,
// MiB or GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size such as 512MiB", s)
	}
	return n * mult, nil
}
