// Command zmqguard is a command-line tool for people who run ZeroMQ
// services, built on the zmqguard library:
//
//	zmqguard req ENDPOINT MESSAGE...   send one request, print the reply
//	zmqguard serve ENDPOINT            run an always-reply echo (or --exec) server
//	zmqguard ping ENDPOINT             echo requests at an interval, like ping(8)
//	zmqguard bench ENDPOINT            round-trip latency and throughput
//	zmqguard queue FRONTEND BACKEND    run a Paranoid Pirate queue
//	zmqguard worker ENDPOINT           run a Paranoid Pirate echo (or --exec) worker
//	zmqguard broker ENDPOINT           run a Majordomo broker (--peer: one of a Binary Star pair)
//	zmqguard req --service NAME ENDPOINT MESSAGE...   a Majordomo request
//	zmqguard worker --service NAME ENDPOINT...        a Majordomo echo (or --exec) worker
//	zmqguard outbox ls|retry|drop FILE [SEQ...]       a client outbox's pending requests and dead letters
//
// Install it with
//
//	cd cmd/zmqguard && go install .
//
// Every command takes --help, and --json to print one JSON document on
// stdout for scripts (serve prints one JSON object per line). Errors go to
// stderr. Exit codes:
//
//	0   success
//	1   the command failed for another reason (for example, bind failed)
//	2   no reply: every attempt failed, or no server was connected in time
//	3   the server answered with an error reply
//	64  bad argument or usage (EX_USAGE)
//
// Requests use reliable.Client: in the default correlated mode a request
// carries an ID frame that any REP or ROUTER server echoes (docs/PROTOCOL.md);
// --plain uses a REQ socket and the exact REQ envelope instead.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zmqguard/zmqguard/zmq"
)

// Exit codes.
const (
	exitOK      = 0
	exitFail    = 1
	exitNoReply = 2
	exitRemote  = 3
	exitUsage   = 64
)

const usage = `zmqguard: a tool for ZeroMQ request/reply services

Usage:
  zmqguard req    [flags] ENDPOINT MESSAGE...  send one request, print the reply
  zmqguard serve  [flags] ENDPOINT             run an always-reply echo server
  zmqguard ping   [flags] ENDPOINT             echo requests at an interval, like ping(8)
  zmqguard bench  [flags] ENDPOINT             round-trip latency and throughput
  zmqguard queue  [flags] FRONTEND BACKEND     run a Paranoid Pirate queue (--peer: Binary Star)
  zmqguard worker [flags] ENDPOINT...          run a Paranoid Pirate echo worker
  zmqguard outbox ls|retry|drop FILE [SEQ...]  list, retry or drop a client outbox's requests

Majordomo (service-oriented request/reply through a broker):
  zmqguard broker [flags] ENDPOINT                       run a broker (--peer: Binary Star)
  zmqguard req --service NAME [flags] ENDPOINT MESSAGE... send a request for a service
  zmqguard worker --service NAME [flags] ENDPOINT...      run a worker for a service

Run "zmqguard COMMAND --help" for a command's flags.
ENDPOINT is a ZeroMQ endpoint such as tcp://127.0.0.1:5555 or ipc:///tmp/s.

Exit codes: 0 success, 1 failure, 2 no reply, 3 error reply from the server,
64 bad argument.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "req":
		if hasFlag(args[1:], "service") {
			return runMDPReq(args[1:], stdout, stderr)
		}
		return runReq(args[1:], stdout, stderr)
	case "broker":
		return runBroker(args[1:], stdout, stderr)
	case "worker":
		if isMDPWorker(args[1:]) {
			return runMDPWorker(args[1:], stdout, stderr)
		}
		return runWorker(args[1:], stdout, stderr)
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "ping":
		return runPing(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "queue":
		return runQueue(args[1:], stdout, stderr)
	case "outbox":
		return runOutbox(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "zmqguard: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// cmdFlags is a command's flag set with its usage text.
type cmdFlags struct {
	*flag.FlagSet
	synopsis string
	stdout   io.Writer
}

func newFlags(name, synopsis string, stdout io.Writer) *cmdFlags {
	fs := flag.NewFlagSet("zmqguard "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors itself
	return &cmdFlags{FlagSet: fs, synopsis: synopsis, stdout: stdout}
}

// printUsage writes the command's usage and flags to w.
func (f *cmdFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\nFlags:\n", f.synopsis)
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// parse parses args, allowing flags after the positional arguments (until
// "--"), and returns the positional arguments. It returns a non-negative
// exit code when the command must stop: 0 after --help, 64 after a bad
// flag, with the message written.
func (f *cmdFlags) parse(args []string, stderr io.Writer) ([]string, int) {
	var pos []string
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.printUsage(f.stdout)
			return nil, exitOK
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", f.Name(), err)
			f.printUsage(stderr)
			return nil, exitUsage
		}
		rest := f.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" || len(rest) == 0 {
			return append(pos, rest...), -1
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError reports a bad argument and returns exitUsage.
func (f *cmdFlags) usageError(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n", f.Name(), fmt.Sprintf(format, a...))
	f.printUsage(stderr)
	return exitUsage
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// checkEndpoint rejects endpoints that cannot work from a command line,
// and those zmq refuses for op ("bind" or "connect"): a port outside
// 1-65535, a host like 256.1.1.1 (zmq.CheckEndpoint).
func checkEndpoint(op, ep string) error {
	scheme, addr, ok := strings.Cut(ep, "://")
	switch {
	case !ok || scheme == "" || addr == "":
		return fmt.Errorf("bad endpoint %q: want TRANSPORT://ADDRESS, e.g. tcp://127.0.0.1:5555", ep)
	case scheme == "inproc":
		return fmt.Errorf("bad endpoint %q: inproc endpoints only work inside one process", ep)
	}
	return zmq.CheckEndpoint(op, ep)
}

// emitter prints a command's events, as JSON lines or as text, from any
// goroutine.
type emitter struct {
	mu     sync.Mutex // also held by a command writing other lines meanwhile
	w      io.Writer
	asJSON bool
}

// emit prints ev as a JSON line, or text (if not empty) as a line.
func (e *emitter) emit(ev any, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.asJSON {
		printJSON(e.w, ev)
	} else if text != "" {
		fmt.Fprintln(e.w, text)
	}
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled
	}
	fmt.Fprintf(w, "%s\n", b)
}

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMs formats d in milliseconds with three significant decimals.
func fmtMs(d time.Duration) string { return fmt.Sprintf("%.3f", ms(d)) }

// strs converts frames to strings for printing.
func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}
