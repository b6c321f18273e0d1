package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zmqguard/zmqguard/reliable/ppp"
	"github.com/zmqguard/zmqguard/zmq"
)

// pirateEvent is one line of queue's and worker's --json output.
type pirateEvent struct {
	Event    string `json:"event"` // "listening", "connecting", a queue or worker event kind, "stopped"
	Frontend string `json:"frontend,omitempty"`
	Backend  string `json:"backend,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Worker   string `json:"worker,omitempty"`
	DelayMs  int64  `json:"delay_ms,omitempty"`
	Stats    any    `json:"stats,omitempty"`
}

// heartbeatFlags adds the Paranoid Pirate heartbeat flags.
func heartbeatFlags(f *cmdFlags) (interval *time.Duration, liveness *int) {
	interval = f.Duration("interval", ppp.DefaultInterval, "heartbeat interval (both sides must use the same)")
	liveness = f.Int("liveness", ppp.DefaultLiveness, "silent intervals after which the other side is dead (at least 2)")
	return interval, liveness
}

// untilSignal returns a context that ends on SIGINT or SIGTERM.
func untilSignal() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runQueue(args []string, stdout, stderr io.Writer) int {
	f := newFlags("queue", "zmqguard queue [flags] FRONTEND BACKEND\n\n"+
		"Runs a Paranoid Pirate queue (ZeroMQ RFC 6, ppp.Queue): clients (REQ,\n"+
		"zguide's lpclient, zmqguard req) connect to FRONTEND, workers (zguide's\n"+
		"ppworker, zmqguard worker) to BACKEND. Both are bound; tcp://host:*\n"+
		"picks a free port. Each request goes to the least recently used ready\n"+
		"worker as [token, \"\", body]; a worker that dies or holds a request\n"+
		"past --request-timeout has the request retried on another, --retries\n"+
		"times, then failed back. It prints \"queue: frontend F backend B\",\n"+
		"runs until SIGINT or SIGTERM, answers what it holds with \"shutdown\"\n"+
		"and prints its counters. With --peer it is one server of a Binary\n"+
		"Star pair, as broker is: the passive queue refuses clients with\n"+
		"\"passive\" (zmqguard clients move to the other queue); run a worker\n"+
		"for each queue (zmqguard worker BACKEND1 BACKEND2).", stdout)
	interval, liveness := heartbeatFlags(f)
	retries := f.Int("retries", ppp.DefaultQueueRetries, "times a request whose worker died or overran is given to another worker")
	reqTimeout := f.Duration("request-timeout", ppp.DefaultQueueRequestTimeout, "how long a worker may hold a request (0: as long as it lives)")
	pf := addPairFlags(f)
	verbose := f.Bool("verbose", false, "report workers joining, expiring and stuck, requests retried or failed, and pair state changes")
	asJSON := f.Bool("json", false, "print events as JSON lines")
	pos, code := f.parse(args, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) != 2 {
		return f.usageError(stderr, "want FRONTEND and BACKEND")
	}
	for _, ep := range pos {
		if err := checkEndpoint("bind", ep); err != nil {
			return f.usageError(stderr, "%v", err)
		}
	}
	if code := pf.check(f, stderr); code >= 0 {
		return code
	}
	out := &emitter{w: stdout, asJSON: *asJSON}
	opts := []ppp.QueueOption{ppp.WithQueueHeartbeat(*interval, *liveness), ppp.WithQueueRetries(*retries),
		ppp.WithQueueRequestTimeout(*reqTimeout)}
	if *verbose {
		opts = append(opts, ppp.WithQueueEventHook(func(ev ppp.QueueEvent) {
			out.emit(pirateEvent{Event: ev.Kind.String(), Worker: fmt.Sprintf("%q", ev.Worker)},
				fmt.Sprintf("%v: worker %q", ev.Kind, ev.Worker))
		}))
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard queue:", err)
		return exitFail
	}
	defer zctx.Term()
	role := "queue"
	if pf.enabled() {
		role = "queue (" + pf.describe() + ")"
		p, err := pf.newPair(zctx, *verbose, out.emit)
		if err != nil {
			fmt.Fprintln(stderr, "zmqguard queue:", err)
			return exitFail
		}
		opts = append(opts, ppp.WithQueueBinaryStar(p))
	}
	q, err := ppp.NewQueue(zctx, pos[0], pos[1], opts...)
	if err != nil {
		var oe *zmq.OptionError
		if errors.As(err, &oe) {
			return f.usageError(stderr, "%v", err)
		}
		fmt.Fprintln(stderr, "zmqguard queue:", err)
		return exitFail
	}
	ctx, stop := untilSignal()
	defer stop()
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	out.emit(pirateEvent{Event: "listening", Frontend: q.Frontend(), Backend: q.Backend()},
		fmt.Sprintf("%s: frontend %s backend %s", role, q.Frontend(), q.Backend()))
	err = <-done
	q.Close()
	st := q.Stats()
	out.emit(pirateEvent{Event: "stopped", Stats: st}, fmt.Sprintf(
		"stopped: %d requests, %d replies, %d retried, %d merged retries of clients, %d failed back (%d worker-lost, %d timeout, %d shutdown), %d refused as passive, %d workers expired, %d stale replies dropped",
		st.Requests, st.Replies, st.Retried, st.Merged, st.WorkerLost+st.TimedOut+st.Shutdown+st.Overloaded,
		st.WorkerLost, st.TimedOut, st.Shutdown, st.Refused, st.Expired, st.Stale))
	if ctx.Err() == nil {
		fmt.Fprintln(stderr, "zmqguard queue:", err)
		return exitFail
	}
	return exitOK
}

func runWorker(args []string, stdout, stderr io.Writer) int {
	f := newFlags("worker", "zmqguard worker [flags] ENDPOINT...\n\n"+
		"Runs a Paranoid Pirate worker (ZeroMQ RFC 6, ppp.Worker) connected to a\n"+
		"queue's backend at ENDPOINT (zmqguard queue, zguide's ppqueue), one\n"+
		"for each ENDPOINT (the two queues of a Binary Star pair): it\n"+
		"says READY, heartbeats, reconnects with backoff when the queue goes\n"+
		"silent, and answers each request with reliable.Server's rules: by\n"+
		"default it echoes the request; with --exec it runs CMD with sh -c, the\n"+
		"request's frames on its stdin (one per line), and replies with its\n"+
		"stdout. It runs until SIGINT or SIGTERM and prints its counters.", stdout)
	interval, liveness := heartbeatFlags(f)
	hf := addHandlerFlags(f, 0, "deadline of each request (0: none); past it the client gets an error reply with code \"timeout\"")
	verbose := f.Bool("verbose", false, "report connections, losses of the queue and reconnect pauses")
	asJSON := f.Bool("json", false, "print events as JSON lines")
	endpoints, code := hf.parseMany(f, "connect", args, stderr)
	if code >= 0 {
		return code
	}
	out := &emitter{w: stdout, asJSON: *asJSON}
	handler := hf.handler()
	if d := *hf.timeout; d > 0 {
		inner := handler
		handler = func(ctx context.Context, req [][]byte) ([][]byte, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return inner(ctx, req)
		}
	}
	opts := []ppp.WorkerOption{ppp.WithWorkerHeartbeat(*interval, *liveness)}
	if *verbose {
		opts = append(opts, ppp.WithWorkerEventHook(func(ev ppp.WorkerEvent) {
			text := fmt.Sprintf("%v: %s", ev.Kind, ev.Endpoint)
			if ev.Kind == ppp.WorkerReconnectWait {
				text += fmt.Sprintf(" in %v", ev.Delay)
			}
			out.emit(pirateEvent{Event: ev.Kind.String(), Endpoint: ev.Endpoint, DelayMs: ev.Delay.Milliseconds()}, text)
		}))
	}

	zctx, err := zmq.NewContext(zmq.WithLinger(0))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard worker:", err)
		return exitFail
	}
	defer zctx.Term()
	workers := make([]*ppp.Worker, len(endpoints))
	for i, ep := range endpoints {
		if workers[i], err = ppp.NewWorker(zctx, ep, handler, opts...); err != nil {
			return f.usageError(stderr, "%v", err)
		}
	}
	ctx, stop := untilSignal()
	defer stop()
	errs := make(chan error, len(workers))
	for i, w := range workers {
		out.emit(pirateEvent{Event: "connecting", Endpoint: endpoints[i]}, "worker: connecting to "+endpoints[i])
		go func() { errs <- w.Run(ctx) }()
	}
	err = <-errs // the first to stop stops them all
	var st ppp.WorkerStats
	for _, w := range workers {
		w.Close()
		s := w.Stats()
		st.Served += s.Served
		st.Dropped += s.Dropped
		st.Overloaded += s.Overloaded
		st.Malformed += s.Malformed
		st.Reconnects += s.Reconnects
		st.Withheld += s.Withheld
	}
	out.emit(pirateEvent{Event: "stopped", Stats: st}, fmt.Sprintf(
		"stopped: %d requests served, %d replies dropped, %d error replies withheld, %d reconnects",
		st.Served, st.Dropped, st.Withheld, st.Reconnects))
	if ctx.Err() == nil {
		fmt.Fprintln(stderr, "zmqguard worker:", err)
		return exitFail
	}
	return exitOK
}
