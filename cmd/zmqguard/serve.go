package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
}

func runServe(args []string, stdout, stderr io.Writer) int {
	f := newFlags("serve", "zmqguard serve [flags] ENDPOINT\n\n"+
		"Binds a ROUTER socket to ENDPOINT (tcp://127.0.0.1:* picks a free port)\n"+
		"and answers every request with reliable.Server: by default it echoes\n"+
		"the request; with --exec it runs CMD with sh -c, the request's frames on\n"+
		"its stdin (one per line), and replies with its stdout. A failing\n"+
		"command is answered with an error reply (code \"exec\"). It prints\n"+
		"\"serving on ENDPOINT\" and runs until SIGINT or SIGTERM, then shuts\n"+
		"down gracefully and prints its counters.", stdout)
	hf := addHandlerFlags(f, reliable.DefaultHandlerTimeout, "deadline of each request (0: none)")
	verbose := f.Bool("verbose", false, "log every request to stderr (--json: to stdout)")
	asJSON := f.Bool("json", false, "print events as JSON lines")
	endpoint, code := hf.parse(f, args, stderr)
	if code >= 0 {
		return code
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

	zctx, err := zmq.NewContext(zmq.WithLinger(time.Second))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	defer zctx.Term()
	srv, err := reliable.Listen(zctx, endpoint, logged, reliable.WithHandlerTimeout(*hf.timeout))
	if err != nil {
		fmt.Fprintln(stderr, "zmqguard serve:", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	emit(serveEvent{Event: "listening", Endpoint: srv.Addr()}, "serving on "+srv.Addr())

	exit := exitOK
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
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
		st.Requests, st.Executed, st.Replies, st.ErrorReplies, st.DuplicatesInFlight+st.DuplicatesCached))
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

// parse parses the arguments of a command that takes exactly one
// ENDPOINT, and checks the handler flags. A code >= 0 means: stop with it.
func (h handlerFlags) parse(f *cmdFlags, args []string, stderr io.Writer) (endpoint string, code int) {
	pos, code := f.parse(args, stderr)
	switch {
	case code >= 0:
		return "", code
	case len(pos) != 1:
		return "", f.usageError(stderr, "want exactly one ENDPOINT")
	case *h.timeout < 0:
		return "", f.usageError(stderr, "--handler-timeout must not be negative")
	}
	if err := checkEndpoint(pos[0]); err != nil {
		return "", f.usageError(stderr, "%v", err)
	}
	return pos[0], -1
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
