package main

// The Majordomo commands (docs/MAJORDOMO.md): `broker`, `req --service`
// and `worker --service`. `req` and `worker` reach this file only with a
// --service flag (see main.go), so that a `worker` without one is free
// for another kind of worker.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/reliable/mdp"
	"github.com/zmqguard/zmqguard/zmq"
)

// hasFlag reports whether args (a command's arguments) set the flag name,
// as -name, --name, -name=v or --name=v, before any "--".
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// brokerEvent is one line of broker's --json output.
type brokerEvent struct {
	Event    string           `json:"event"` // "listening", "worker", "request" or "stopped" (and pairEvent's "pair")
	Endpoint string           `json:"endpoint,omitempty"`
	Kind     string           `json:"kind,omitempty"`
	Worker   string           `json:"worker,omitempty"`
	Service  string           `json:"service,omitempty"`
	Code     string           `json:"code,omitempty"`
	Stats    *mdp.BrokerStats `json:"stats,omitempty"`
}

func runBroker(args []string, stdout, stderr io.Writer) int {
	f := newFlags("broker", "zmqguard broker [flags] ENDPOINT\n\n"+
		"Runs a Majordomo broker (MDP/0.1, with mmi.service) on ENDPOINT\n"+
		"(tcp://127.0.0.1:* picks a free port): clients and workers connect\n"+
		"there. With --peer it is one server of a Binary Star pair: it\n"+
		"publishes its state on --state and follows the peer's at --peer;\n"+
		"the passive server refuses clients, who go to the active one. It\n"+
		"prints \"broker on ENDPOINT\" and runs until SIGINT or SIGTERM.", stdout)
	heartbeat := f.Duration("heartbeat", mdp.DefaultInterval, "heartbeat interval with workers (they must use the same)")
	liveness := f.Int("liveness", mdp.DefaultLiveness, "silent intervals after which a worker is dead")
	serviceWait := f.Duration("service-wait", mdp.DefaultServiceWait, "how long a request waits for its service to have a worker")
	retries := f.Int("retries", mdp.DefaultBrokerRetries, "times a dead worker's request is given to another worker")
	pf := addPairFlags(f)
	verbose := f.Bool("verbose", false, "log workers, failed requests and state changes")
	asJSON := f.Bool("json", false, "print events as JSON lines")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		return f.usageError(stderr, "want exactly one ENDPOINT")
	}
	if err := checkEndpoint("bind", pos[0]); err != nil {
		return f.usageError(stderr, "%v", err)
	}
	if code := pf.check(f, stderr); code >= 0 {
		return code
	}

	emit := (&emitter{w: stdout, asJSON: *asJSON}).emit
	opts := []mdp.BrokerOption{mdp.WithBrokerHeartbeat(*heartbeat, *liveness), mdp.WithServiceWait(*serviceWait),
		mdp.WithBrokerRetries(*retries)}
	if *verbose {
		opts = append(opts, mdp.WithBrokerEventHook(func(ev mdp.BrokerEvent) {
			name, text := "worker", fmt.Sprintf("%v: worker %x, service %q", ev.Kind, ev.Worker, ev.Service)
			if ev.Kind == mdp.BrokerRequestFailed || ev.Kind == mdp.BrokerRequestRetried {
				name, text = "request", fmt.Sprintf("%v: service %q %s", ev.Kind, ev.Service, ev.Code)
			}
			emit(brokerEvent{Event: name, Kind: ev.Kind.String(), Worker: fmt.Sprintf("%x", ev.Worker),
				Service: ev.Service, Code: ev.Code}, text)
		}))
	}
	zctx, err := zmq.NewContext(zmq.WithLinger(time.Second))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard broker:", err)
		return exitFail
	}
	defer zctx.Term()
	role := "broker on "
	if pf.enabled() {
		role = "broker (" + pf.describe() + ") on "
		p, err := pf.newPair(zctx, *verbose, emit)
		if err != nil {
			fmt.Fprintln(stderr, "zmqguard broker:", err)
			return exitFail
		}
		opts = append(opts, mdp.WithBinaryStar(p))
	}
	b, err := mdp.NewBroker(zctx, pos[0], opts...)
	if err != nil {
		var oe *zmq.OptionError
		if errors.As(err, &oe) {
			return f.usageError(stderr, "%v", err)
		}
		fmt.Fprintln(stderr, "zmqguard broker:", err)
		return exitFail
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	emit(brokerEvent{Event: "listening", Endpoint: b.Endpoint()}, role+b.Endpoint())
	err = b.Run(ctx)
	exit := exitOK
	if !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "zmqguard broker:", err)
		exit = exitFail
	}
	st := b.Stats()
	emit(brokerEvent{Event: "stopped", Stats: &st}, fmt.Sprintf(
		"stopped: %d requests, %d replies, %d retried, %d worker-lost, %d no-service, %d refused, %d workers expired",
		st.Requests, st.Replies, st.Retried, st.WorkerLost, st.NoService, st.Refused, st.Expired))
	return exit
}

func runMDPReq(args []string, stdout, stderr io.Writer) int {
	f := newFlags("req", "zmqguard req --service NAME [flags] ENDPOINT MESSAGE...\n\n"+
		"Sends MESSAGE (one frame per argument) as a Majordomo request for the\n"+
		"service NAME to the broker at ENDPOINT and prints the reply, one frame\n"+
		"per line (--service mmi.service ENDPOINT NAME asks whether NAME has a\n"+
		"worker: 200 or 404). A failed or refused attempt is retried --retries\n"+
		"times, on the next broker if several are given (a Binary Star pair).\n"+
		"Exit codes: 0 reply, 2 no reply, 3 error reply, 64 usage.", stdout)
	service := f.String("service", "", "the service to ask")
	r := newReqFlags(f, mdp.DefaultAttemptTimeout, mdp.DefaultMaxAttempts, "another broker to fail over to (repeatable)")
	brokers, parts, code := r.parse(args, stderr, func() string {
		if len(*service) == 0 || len(*service) > mdp.MaxServiceName {
			return fmt.Sprintf("--service must name a service (1 to %d bytes)", mdp.MaxServiceName)
		}
		return ""
	})
	if code >= 0 {
		return code
	}
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard req:", err)
		return exitFail
	}
	defer zctx.Term()
	c, err := mdp.NewClient(zctx, brokers, mdp.WithAttemptTimeout(*r.timeout), mdp.WithMaxAttempts(*r.retries+1))
	if err != nil {
		return f.usageError(stderr, "%v", err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	reply, err := c.Request(ctx, *service, parts...)
	return printReply(stdout, stderr, reply, err, c.Stats().Attempts, start, *r.asJSON)
}

// isMDPWorker reports whether worker's arguments are for the Majordomo
// worker: they name a --service.
func isMDPWorker(args []string) bool { return hasFlag(args, "service") }

func runMDPWorker(args []string, stdout, stderr io.Writer) int {
	f := newFlags("worker", "zmqguard worker --service NAME [flags] ENDPOINT...\n\n"+
		"Runs a Majordomo worker for the service NAME, registered with the\n"+
		"broker at each ENDPOINT (both servers of a Binary Star pair): it\n"+
		"echoes each request, or with --exec runs CMD with sh -c, the\n"+
		"request's frames on its stdin (one per line), and replies with its\n"+
		"stdout. It prints \"worker for NAME on ENDPOINT...\" and runs until\n"+
		"SIGINT or SIGTERM.", stdout)
	service := f.String("service", "", "the service to serve")
	heartbeat := f.Duration("heartbeat", mdp.DefaultInterval, "heartbeat interval (the broker's)")
	liveness := f.Int("liveness", mdp.DefaultLiveness, "silent intervals after which a broker is dead")
	execCmd := f.String("exec", "", "run this shell command per request; reply with its stdout")
	verbose := f.Bool("verbose", false, "log every request and connection to stderr")
	asJSON := f.Bool("json", false, "print the start and the final counters as JSON lines")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) == 0 {
		return f.usageError(stderr, "want at least one broker ENDPOINT")
	}
	for _, ep := range pos {
		if err := checkEndpoint("connect", ep); err != nil {
			return f.usageError(stderr, "%v", err)
		}
	}
	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		if *verbose {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}
	handler := func(ctx context.Context, req [][]byte) ([][]byte, error) { return req, nil }
	if *execCmd != "" {
		handler = execHandler(*execCmd)
	}
	logged := func(ctx context.Context, req [][]byte) ([][]byte, error) {
		rep, err := handler(ctx, req)
		logf("request %q: err %v", strs(req), err)
		return rep, err
	}
	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard worker:", err)
		return exitFail
	}
	defer zctx.Term()
	w, err := mdp.NewWorker(zctx, pos, *service, logged, mdp.WithWorkerHeartbeat(*heartbeat, *liveness),
		mdp.WithWorkerEventHook(func(ev mdp.WorkerEvent) { logf("%v: %s %v", ev.Kind, ev.Broker, ev.Delay) }))
	if err != nil {
		return f.usageError(stderr, "%v", err)
	}
	defer w.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	type workerLine struct {
		Event   string           `json:"event"` // "started" or "stopped"
		Service string           `json:"service,omitempty"`
		Brokers []string         `json:"brokers,omitempty"`
		Stats   *mdp.WorkerStats `json:"stats,omitempty"`
	}
	if *asJSON {
		printJSON(stdout, workerLine{Event: "started", Service: *service, Brokers: pos})
	} else {
		fmt.Fprintf(stdout, "worker for %s on %s\n", *service, strings.Join(pos, " "))
	}
	err = w.Run(ctx)
	exit := exitOK
	if !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "zmqguard worker:", err)
		exit = exitFail
	}
	st := w.Stats()
	if *asJSON {
		printJSON(stdout, workerLine{Event: "stopped", Stats: &st})
	} else {
		fmt.Fprintf(stdout, "stopped: %d served, %d reconnects, %d disconnects\n", st.Served, st.Reconnects, st.Disconnects)
	}
	return exit
}
